import Foundation
import Testing
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshTesting

@testable import TrustMeshAudit

/// The strict reader of export lines: RFC 8259 exactly, one reading of every byte.
@Suite struct StrictReaderTests {
    typealias F = Fixtures
    typealias J = StrictJSON

    func parse(_ text: String) throws(J.Failure) -> J.Value { try J.parse(Array(text.utf8)) }

    func reason(_ text: String) -> String? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            return error.reason
        }
    }

    @Test func theGrammarOfRFC8259IsRead() throws {
        #expect(
            try parse(#" {"a" : [1, -0.5e+3, true, false, null, "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"], "b":{}}\#t"#)
                == .object([
                    (
                        "a",
                        .array([
                            .number("1"), .number("-0.5e+3"), .bool(true), .bool(false), .null,
                            .string("x\"\\/\u{8}\u{c}\n\r\té😀"),
                        ])
                    ), ("b", .object([])),
                ]))
        #expect(try parse("[]") == .array([]))
        #expect(try parse("\"\\u0000\"") == .string("\u{0}"))
    }

    @Test func everythingOutsideTheGrammarIsRefusedWithAReason() {
        let cases: [(String, String)] = [
            (#"{"a":1,"a":2}"#, "duplicate key \"a\""),
            (#"{"s":{"k":"1","\u006b":"2"}}"#, "duplicate key \"k\""),
            ("{\"a\":01}", "leading zero"),
            ("{\"a\":1.}", "fraction needs a digit"),
            ("{\"a\":1e}", "exponent needs a digit"),
            ("{\"a\":-}", "needs a digit"),
            ("{\"a\":+1}", "cannot start a JSON value"),
            ("{\"a\":NaN}", "cannot start a JSON value"),
            ("{\"a\":tru}", "expected true"),
            ("{'a':1}", "quoted name"),
            ("{\"a\":1,}", "quoted name"),
            ("[1,]", "cannot start a JSON value"),
            ("{\"a\":1} {}", "after the JSON value"),
            ("\"a\tb\"", "control character"),
            ("\"\\x41\"", "invalid escape"),
            ("\"\\u12\"", "four hex digits"),
            ("\"\\ud800\"", "lone high surrogate"),
            ("\"\\ud800\\u0041\"", "not followed by a low surrogate"),
            ("\"\\udc00\"", "lone low surrogate"),
            ("\"abc", "unterminated string"),
            ("{\"a\":1", "unterminated object"),
            ("[[[[[[[[[1]]]]]]]]]", "nested deeper than 8"),
            ("", "where a value should be"),
            ("\u{feff}{}", "cannot start a JSON value"),
        ]
        for (text, expected) in cases {
            let got = reason(text)
            #expect(got?.contains(expected) == true, "\(text): \(got ?? "accepted")")
        }
        #expect(reason("[[[[[[[[1]]]]]]]]") == nil)
    }

    static var goodLine: String {
        String(decoding: try! AuditExport.line(F.log(count: 1)[0]), as: UTF8.self).trimmingCharacters(in: .newlines)
    }

    func malformed(_ bytes: [UInt8]) -> String? {
        F.failure { _ = try AuditExport.parse(bytes) }.map { "\($0)" }
    }

    @Test func aLineOverOneMebibyteIsRefusedBeforeItIsRead() throws {
        let padding = String(repeating: "a", count: AuditExport.maxLineBytes)
        let long = Self.goodLine.replacingOccurrences(of: "\"actor\":\"Dr 1\"", with: "\"actor\":\"\(padding)\"")
        #expect(malformed(Array(long.utf8))?.contains("line 1: longer than 1048576 bytes") == true)
        let spaces = Array(repeating: UInt8(ascii: " "), count: AuditExport.maxLineBytes + 10)
        #expect(try AuditExport.parse(spaces + [0x0A] + Array(Self.goodLine.utf8)).entries.count == 1)
    }

    @Test func reasonsNameWhatWasWrongButNeverAValue() {
        let line = Self.goodLine
        let cases: [(String, String)] = [
            (
                line.replacingOccurrences(of: "{\"actor\":", with: "{\"actor\":\"x\",\"actor\":"),
                "not strict JSON: duplicate key \"actor\" (byte 14)"
            ),
            (
                line.replacingOccurrences(of: "\"sequence\":1", with: "\"sequence\":1.0"),
                "\"sequence\" must be an unsigned integer"
            ),
            (
                line.replacingOccurrences(of: "\"trust\":\"RRK\"", with: "\"trust\":\"rrk\""),
                "\"trust\" must be an ODS code"
            ),
            (
                line.replacingOccurrences(of: "\"kind\":", with: "\"details\":null,\"kind\":"),
                "\"details\" must be a string, not null"
            ),
            (
                line.replacingOccurrences(of: "\"kind\":", with: "\"9434765919\":\"x\",\"kind\":"),
                "unknown key (a name of 10 characters) in an entry line"
            ),
            (
                line.replacingOccurrences(of: "\"kind\":", with: "\"un known\":\"x\",\"kind\":"),
                "unknown key (a name of 8 characters)"
            ),
        ]
        for (text, expected) in cases {
            let got = malformed(Array(text.utf8))
            #expect(got?.contains("malformed: line 1: " + expected) == true, "\(expected) GOT \(got ?? "accepted")")
        }
    }

    @Test func recordedCheckpointsAreReadAsStrictlyAsLines() throws {
        let entry = F.log(count: 1)[0]
        let checkpoint = AuditCheckpoint.signed(
            trust: F.rrk, sequence: 1, headHash: entry.hash, time: F.time(1), key: F.rrkKey)
        let json = F.json(checkpoint)
        #expect(AuditExport.recordedCheckpoint(json) == checkpoint)
        #expect(AuditExport.recordedCheckpoint(json.replacingOccurrences(of: "{", with: "{\"extra\":1,")) == nil)
        #expect(
            AuditExport.recordedCheckpoint(
                json.replacingOccurrences(of: entry.hash.hex, with: entry.hash.hex.uppercased())) == nil)
        #expect(AuditExport.recordedCheckpoint(json.replacingOccurrences(of: "{", with: "{\"trust\":\"RQ3\",")) == nil)
    }

    /// A parser must give the same answer whatever the lines around it: the reader has no state but
    /// the section order, so a file split anywhere into lines reads as its lines do.
    @Test func aFileReadsAsItsLinesDo() throws {
        let entries = F.log(count: 4)
        let bytes = try AuditExport(entries: entries).jsonLines()
        #expect(try AuditExport.parse(bytes).entries == entries)
        for cut in [1, 2, 3] {
            let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
            let head = try AuditExport.parse(Array((lines[..<cut].joined(separator: "\n")).utf8)).entries
            let tail = try AuditExport.parse(Array((lines[cut...].joined(separator: "\n")).utf8)).entries
            #expect(head + tail == entries)
        }
    }

    /// What the Swift reader makes of a file, in the form `check-audit-vectors.py --read` prints.
    static func reading(_ bytes: [UInt8]) -> String {
        do {
            let export = try AuditExport.parse(bytes)
            return
                (["OK"] + export.entries.map { AuditVectors.hex($0.canonicalBytes) }
                + export.treeHeads.map { "\($0.heldBy):" + AuditVectors.hex($0.treeHead.signedBytes) }
                + export.checkpoints.map { "\($0.heldBy):" + AuditVectors.hex($0.checkpoint.signedBytes) })
                .joined(separator: " ")
        } catch {
            let text = error.description
            let line = text.dropFirst("malformed: line ".count).prefix { $0.isNumber }
            return "malformed \(line)"
        }
    }

    /// Differential check: thousands of files mutated from real lines (bytes flipped to JSON's
    /// delicate characters, snippets inserted, ranges deleted) read the same in Swift and in Python,
    /// to the byte of every signed message, or are refused at the same line by both.
    @Test func swiftAndPythonReadMutatedFilesAlike() async throws {
        let entries = AuditVectors.log()
        let tree = AuditVectors.tree(entries)
        let head = AuditVectors.treeHeadLine(AuditVectors.treeHead(tree, size: 3, minute: 1))
        let checkpoint = AuditVectors.line(
            try AuditExport.line(
                HeldCheckpoint(
                    heldBy: F.rq3,
                    checkpoint: AuditCheckpoint.signed(
                        trust: F.rrk, sequence: 3, headHash: entries[2].hash, time: F.time(9), key: AuditVectors.key))))
        let base =
            Array(
                (try entries.prefix(3).map { AuditVectors.line(try AuditExport.line($0)) } + [head, checkpoint])
                    .joined(separator: "\n").utf8) + [0x0A]
        let delicate: [UInt8] = Array("\"\\{}[],:0-.eEu1 \t\r\nnt".utf8) + [0x00, 0x7F, 0x80, 0xC3, 0xED, 0xEF, 0xFF]
        let snippets = [
            "\"actor\":\"x\",", "\\ud800", "\\udc00", "\\u0041", "\\/", " ", "01", "-0", "1e5", "null", "\"\":\"\",",
            "\u{FEFF}", "é", "[[[[[[[[", "\"details\":null,", "==",
        ].map { Array($0.utf8) }
        var random = SplitMix(seed: 15)
        var files: [[UInt8]] = [base]
        for _ in 0..<3000 {
            var file = base
            for _ in 0..<(1 + random.next(3)) {
                let at = random.next(file.count)
                switch random.next(3) {
                case 0: file[at] = delicate[random.next(delicate.count)]
                case 1: file.insert(contentsOf: snippets[random.next(snippets.count)], at: at)
                default: file.removeSubrange(at..<min(file.count, at + 1 + random.next(4)))
                }
            }
            files.append(file)
        }
        let dir = try TemporaryDirectory(prefix: "trustmesh-differential")
        let input = dir.appending("files.hex")
        try Data(files.map { AuditVectors.hex($0) }.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: input))
        let script = AuditVectorTests.root + "/Scripts/check-audit-vectors.py"
        let result = try await CommandRunner.run("/bin/sh", ["-c", "python3 \"$0\" --read < \"$1\"", script, input])
        #expect(result.status == 0, "\(result.stderr)")
        let python = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(python.count >= files.count)
        var refused = 0
        for (index, file) in files.enumerated() where index < python.count {
            let swift = Self.reading(file)
            if swift.hasPrefix("malformed") { refused += 1 }
            #expect(swift == python[index], "file \(index): \(AuditVectors.hex(file))")
        }
        // The mutations must exercise both outcomes.
        #expect(refused > 1000 && refused < files.count - 100, "\(refused) of \(files.count) refused")
    }

    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next(_ bound: Int) -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(max(bound, 1)))
        }
    }
}
