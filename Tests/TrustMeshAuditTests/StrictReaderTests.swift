import Foundation
import Testing
import TrustMeshCrypto
import TrustMeshModel

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
}
