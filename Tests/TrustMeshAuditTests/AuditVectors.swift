import Foundation
import TrustMeshAudit
import TrustMeshCrypto
import TrustMeshModel

/// The test vectors of `docs/audit-vectors.json`: how they are made. The committed file is the
/// reference; `AuditVectorTests` checks that this code still makes exactly it, and that the Swift
/// reader and verifier and the Python one reproduce every vector. Regenerate after a deliberate
/// change with `TRUSTMESH_WRITE_AUDIT_VECTORS=1 swift test --filter AuditVectorTests`.
enum AuditVectors {
    struct File: Codable, Equatable {
        var about: String
        var key: Key
        var entries: [Entry]
        var merkleRoots: [Root]
        var treeHeads: [TreeHead]
        var inclusionProofs: [Inclusion]
        var consistencyProofs: [Consistency]
        var accepted: [Accepted]
        var malformed: [Malformed]
        var verdicts: [Verdict]
        var proofFiles: [ProofFile]
        var keyChanges: KeyChanges
    }

    /// An inclusion proof file (`trustmesh audit prove`) and what checking it with the key gives:
    /// `OK` or the failure's name.
    struct ProofFile: Codable, Equatable {
        var name: String
        var why: String
        var document: String
        var verdict: String
    }

    struct Key: Codable, Equatable {
        var seed: String
        var publicKey: String
        var topology: String
    }

    struct Entry: Codable, Equatable {
        var sequence: UInt64
        var line: String
        var canonicalMessage: String
        var hash: String
        var leafHash: String
        var signature: String
    }

    struct Root: Codable, Equatable {
        var treeSize: UInt64
        var rootHash: String
    }

    struct TreeHead: Codable, Equatable {
        var line: String
        var signedMessage: String
        var treeSize: UInt64
        var rootHash: String
        var signature: String
    }

    struct Inclusion: Codable, Equatable {
        var entry: UInt64
        var leafIndex: UInt64
        var treeSize: UInt64
        var leafHash: String
        var rootHash: String
        var path: [String]
    }

    struct Consistency: Codable, Equatable {
        var oldSize: UInt64
        var newSize: UInt64
        var oldRoot: String
        var newRoot: String
        var path: [String]
    }

    /// A file that must be read without error, with how many entries and tree heads it holds.
    struct Accepted: Codable, Equatable {
        var name: String
        var why: String
        var bytes: String
        var entries: Int
        var treeHeads: Int
    }

    /// A file that must be refused as `malformed` at `line`.
    struct Malformed: Codable, Equatable {
        var name: String
        var why: String
        /// The file's bytes, hex.
        var bytes: String
        /// The file as text, when it is valid UTF-8 (for reading; `bytes` is the vector).
        var text: String?
        var line: Int
        var failure: String
    }

    /// Exports verified together against the vectors' topology: each file's verdict, `OK` or the
    /// start of its failure (`RRK #17: truncated`).
    struct Verdict: Codable, Equatable {
        var name: String
        var why: String
        var files: [VerdictFile]
    }

    struct VerdictFile: Codable, Equatable {
        var name: String
        var text: String
        var verdict: String
    }

    static let key = try! SigningKey(seed: Array(1...32))
    static let rrk = try! TrustID("RRK")
    static let sizes: [UInt64] = [0, 1, 2, 3, 4, 5, 7, 8, 17]

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    static func line(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.dropLast(), as: UTF8.self)
    }

    /// Seventeen entries of RRK's log, one of each common shape.
    static func log() -> [AuditEntry] {
        let patel: [AuditEntry.SubjectKey: String] = [
            .actorKind: "person", .actorIssuer: "https://idp.rrk.example/oidc", .actorSubject: "910000000001",
            .actorRole: "S8000:G8000:R8000", .actorOrganisation: "RRK", .session: "3f2a9c1e",
        ]
        let system: [AuditEntry.SubjectKey: String] = [.actorKind: "system"]
        let study = "1.2.826.0.1.3680043.10.999.1"
        let nhs = "9434765919"
        let care =
            #"{"clinician":"Dr Ünal Şahin","id":"00000000-0000-4000-8000-000000000001","kind":"admission","#
            + #""reason":"Admitted with chest pain\nCT/PET prior needed","trust":"RQ3"}"#
        let drafts: [(String, AuditEntry.Kind, [AuditEntry.SubjectKey: String], String?)] = [
            ("node", .nodeStarted, system, nil),
            (
                "operating-system user alice (local operator)", .ingest,
                system.merging([.studyUID: study, .nhsNumber: nhs]) { a, _ in a }, nil
            ),
            (
                "node", .recordPublished,
                system.merging([
                    .origin: "RRK", .recordSequence: "1", .recordKind: "study", .nhsNumber: nhs, .studyUID: study,
                ]) { a, _ in a }, nil
            ),
            ("Dr Ünal Şahin", .query, patel.merging([.nhsNumber: nhs]) { a, _ in a }, nil),
            (
                "gossip", .recordReceived,
                system.merging([
                    .origin: "RQ3", .recordSequence: "4", .recordKind: "study", .nhsNumber: nhs, .studyUID: "1.2.3.4",
                ]) { a, _ in a }, nil
            ),
            (
                "peer RQ3", .fetchServed,
                system.merging([
                    .peer: "RQ3", .studyUID: study, .nhsNumber: nhs, .transferID: "0123456789abcdef0123456789abcdef",
                    .careID: "00000000-0000-4000-8000-000000000001", .careKind: "admission",
                    .expiryEffective: "2027-02-23T09:00:00Z",
                ]) { a, _ in a }, care
            ),
            (
                "peer RXK", .fetchRefused,
                system.merging([.peer: "RXK", .studyUID: study, .rule: "noCareRelationship"]) { a, _ in a }, nil
            ),
            (
                "unauthenticated 127.0.0.1", .peerRefused,
                system.merging([.peer: "127.0.0.1", .rule: "badSignature"]) { a, _ in a },
                #"{"from":"2026-11-25T09:07:00Z","reasons":{"badSignature":3},"repeated":"3","source":"127.0.0.1","to":"2026-11-25T09:08:00Z"}"#
            ),
            (
                "DICOM MODALITY1 at 127.0.0.1", .ingest,
                system.merging([.studyUID: "1.2.3.5", .nhsNumber: "4010232137"]) { a, _ in a }, nil
            ),
            (
                "DICOM peer at 127.0.0.1", .dicomRefused, system.merging([.peer: "127.0.0.1"]) { a, _ in a },
                "association: AE title UNKNOWN is not allowed"
            ),
            (
                "Dr Ünal Şahin", .careAdded,
                patel.merging([.careID: "c-2", .nhsNumber: nhs, .careKind: "emergency"]) { a, _ in a },
                "emergency: \"unconscious\" — CT needed\t(now)"
            ),
            (
                "DICOMweb client", .retrieve,
                system.merging([.studyUID: study, .nhsNumber: nhs, .metadata: "300"]) { a, _ in a }, nil
            ),
            (
                "Dr Ünal Şahin", .optOut,
                patel.merging([.nhsNumber: "4010232137", .recordSequence: "2"]) { a, _ in a }, "letter 2026/11/25-17"
            ),
            ("node", "someFutureKind", [:], ""),
            (
                "Dr Ünal Şahin", .fetchRequested,
                patel.merging([
                    .peer: "RQ3", .studyUID: "1.2.3.4", .nhsNumber: nhs, .careID: "c-2", .careKind: "emergency",
                ]) { a, _ in a }, care
            ),
            (
                "Dr Ünal Şahin", .fetchCompleted,
                patel.merging([
                    .peer: "RQ3", .studyUID: "1.2.3.4", .transferID: "fedcba9876543210fedcba9876543210",
                    .bytes: "157700000", .chunks: "612",
                ]) { a, _ in a }, nil
            ),
            ("node", .nodeStopped, system, nil),
        ]
        var chain = AuditChain(trust: rrk)
        return drafts.enumerated().map { index, draft in
            let time = String(format: "2026-11-25T09:%02d:00Z", index)
            return try! chain.append(
                AuditEntry.Draft(
                    trust: rrk, time: time, kind: draft.1, actor: draft.0, subject: draft.2, details: draft.3),
                key: key)
        }
    }

    static func tree(_ entries: [AuditEntry]) -> MerkleTree.InMemory {
        var tree = MerkleTree.InMemory()
        for entry in entries { tree.append(MerkleTree.leafHash(entry.canonicalBytes)) }
        return tree
    }

    static func treeHead(_ tree: MerkleTree.InMemory, size: UInt64, minute: Int) -> SignedTreeHead {
        SignedTreeHead.signed(
            trust: rrk, treeSize: size, rootHash: try! tree.root(size: size),
            time: String(format: "2026-11-25T10:%02d:00Z", minute), key: key)
    }

    static func treeHeadLine(_ head: SignedTreeHead, heldBy: String = "RQ3") -> String {
        line(try! AuditExport.line(HeldTreeHead(heldBy: try! TrustID(heldBy), treeHead: head)))
    }

    static func make() throws -> File {
        let entries = log()
        let tree = tree(entries)
        let lines = try entries.map { line(try AuditExport.line($0)) }
        let entryVectors = zip(entries, lines).map { entry, line in
            Entry(
                sequence: entry.sequence, line: line, canonicalMessage: hex(entry.canonicalBytes), hash: entry.hash.hex,
                leafHash: MerkleTree.leafHash(entry.canonicalBytes).hex, signature: entry.signature.base64)
        }
        let roots = try sizes.map { Root(treeSize: $0, rootHash: try tree.root(size: $0).hex) }
        let heads = [(5, 1), (17, 2)].map { treeHead(tree, size: UInt64($0.0), minute: $0.1) }
        let headVectors = heads.map {
            TreeHead(
                line: treeHeadLine($0), signedMessage: hex($0.signedBytes), treeSize: $0.treeSize,
                rootHash: $0.rootHash.hex, signature: $0.signature.base64)
        }
        var inclusions: [Inclusion] = []
        for (entry, size) in [(1, 1), (1, 2), (2, 3), (3, 3), (5, 5), (4, 7), (7, 8), (1, 17), (9, 17), (17, 17)] {
            let index = UInt64(entry - 1)
            inclusions.append(
                Inclusion(
                    entry: UInt64(entry), leafIndex: index, treeSize: UInt64(size), leafHash: tree.leaf(index).hex,
                    rootHash: try tree.root(size: UInt64(size)).hex,
                    path: try tree.inclusionProof(index: index, size: UInt64(size)).map(\.hex)))
        }
        var consistencies: [Consistency] = []
        for (old, new) in [(0, 5), (1, 2), (1, 17), (2, 5), (3, 7), (4, 8), (5, 17), (7, 8), (8, 17), (17, 17)] {
            consistencies.append(
                Consistency(
                    oldSize: UInt64(old), newSize: UInt64(new), oldRoot: try tree.root(size: UInt64(old)).hex,
                    newRoot: try tree.root(size: UInt64(new)).hex,
                    path: try tree.consistencyProof(from: UInt64(old), to: UInt64(new)).map(\.hex)))
        }
        return File(
            about: "Test vectors of docs/AUDIT-FORMAT.md, version 2. Hex is lower case; every file is bytes (hex) "
                + "with its text beside it when it is UTF-8. Generated by Tests/TrustMeshAuditTests/AuditVectors.swift; "
                + "this committed file is the reference.",
            key: Key(seed: hex(Array(1...32)), publicKey: key.verifyingKey.base64, topology: topology),
            entries: entryVectors, merkleRoots: roots, treeHeads: headVectors, inclusionProofs: inclusions,
            consistencyProofs: consistencies, accepted: accepted(lines), malformed: malformed(lines, heads: heads),
            verdicts: verdicts(lines, heads: heads, tree: tree), proofFiles: try proofFiles(entries, tree: tree),
            keyChanges: try keyChanges())
    }

    /// The topology of the vectors (and of the worked example): RRK with the seed's key.
    static var topology: String {
        #"{"name": "Audit vectors", "trusts": [{"ods": "RRK", "name": "RRK", "address": "127.0.0.1:7401", "signingKey": ""#
            + key.verifyingKey.base64 + #""}]}"#
    }

    static func file(_ lines: [String], end: String = "\n") -> [UInt8] {
        Array((lines.joined(separator: "\n") + end).utf8)
    }

    static func accepted(_ lines: [String]) -> [Accepted] {
        func make(_ name: String, _ why: String, _ bytes: [UInt8], entries: Int, treeHeads: Int = 0) -> Accepted {
            Accepted(name: name, why: why, bytes: hex(bytes), entries: entries, treeHeads: treeHeads)
        }
        let spaced = lines[1].replacingOccurrences(of: "\":", with: "\" :\t").replacingOccurrences(
            of: ",\"", with: ", \"")
        let escaped = lines[1].replacingOccurrences(of: "\"RRK\"", with: "\"\\u0052RK\"")
            .replacingOccurrences(of: "local operator", with: "local\\u0020operator")
        let reordered: String = {
            let object = try! JSONSerialization.jsonObject(with: Data(lines[2].utf8)) as! [String: Any]
            let keys = object.keys.sorted().reversed()
            return "{"
                + keys.map { key in
                    let value = try! JSONSerialization.data(
                        withJSONObject: object[key]!,
                        options: [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes])
                    return "\"\(key)\":" + String(decoding: value, as: UTF8.self)
                }.joined(separator: ",") + "}"
        }()
        return [
            make(
                "canonical", "the writer's own form: sorted keys, no spaces, LF after every line", file(lines),
                entries: 17),
            make("no final LF", "the last line need not end in LF", file(Array(lines.prefix(3)), end: ""), entries: 3),
            make(
                "blank lines", "empty lines and lines of spaces and tabs are skipped (but counted)",
                file([lines[0], "", " \t ", lines[1], lines[2]]) + Array("\n\n".utf8), entries: 3),
            make(
                "white space between tokens", "spaces and tabs may stand between tokens, and around the object",
                file([lines[0], " " + spaced + "\t", lines[2]]), entries: 3),
            make(
                "escapes", "any JSON escape may spell a character (\\u0052 is R, \\u0020 a space)",
                file([lines[0], escaped, lines[2]]), entries: 3),
            make("key order", "keys in any order", file([lines[0], lines[1], reordered]), entries: 3),
        ]
    }

    static func malformed(_ lines: [String], heads: [SignedTreeHead]) -> [Malformed] {
        var out: [Malformed] = []
        func add(_ name: String, _ why: String, _ bytes: [UInt8], line: Int = 2) {
            let text = String(validating: bytes, as: UTF8.self)
            out.append(Malformed(name: name, why: why, bytes: hex(bytes), text: text, line: line, failure: "malformed"))
        }
        /// Entry 2's line with `old` replaced by `new` (which must occur).
        func variant(_ name: String, _ why: String, _ old: String, _ new: String, entry: Int = 2) {
            let base = lines[entry - 1]
            precondition(base.contains(old), "\(name): \(old) not in line \(entry)")
            let changed = base.replacingOccurrences(of: old, with: new)
            add(name, why, file(Array(lines[0..<(entry - 1)]) + [changed]), line: entry)
        }
        func raw(_ name: String, _ why: String, _ old: String, _ new: [UInt8]) {
            let base = Array(lines[1].utf8)
            let pattern = Array(old.utf8)
            let at = (0...(base.count - pattern.count)).first { Array(base[$0..<$0 + pattern.count]) == pattern }!
            let changed = Array(base[..<at]) + new + Array(base[(at + pattern.count)...])
            add(name, why, Array((lines[0] + "\n").utf8) + changed + [0x0A])
        }
        let entry2 = lines[1]
        let sequence = "\"sequence\":2"
        let hash = String(entry2.split(separator: "\"hash\":\"")[1].prefix(64))
        let signature = String(entry2.split(separator: "\"signature\":\"")[1].prefix(88))
        variant(
            "duplicate key", "a second \"actor\": JSON parsers disagree on which one counts", "{\"actor\":",
            "{\"actor\":\"forged\",\"actor\":")
        variant(
            "duplicate key, escaped", "\\u0061ctor is actor: keys are compared after unescaping", "{\"actor\":",
            "{\"\\u0061ctor\":\"forged\",\"actor\":")
        variant(
            "duplicate key in subject", "duplicates are refused at every depth", "\"subject\":{",
            "\"subject\":{\"nhsNumber\":\"4010232137\",")
        variant(
            "unknown key", "a key outside the format for the line's type", "{\"actor\":",
            "{\"comment\":\"x\",\"actor\":")
        variant(
            "unknown key, empty", "an empty key is outside the format too", "{\"actor\":", "{\"\":\"x\",\"actor\":")
        let subjectStart = entry2.range(of: "\"subject\":{")!
        let subjectEnd = entry2.range(of: "},", range: subjectStart.upperBound..<entry2.endIndex)!
        variant(
            "missing subject", "subject is required (it may be {})",
            String(entry2[subjectStart.lowerBound..<subjectEnd.upperBound]), "")
        variant("missing signature", "every key but details is required", ",\"signature\":\"\(signature)\"", "")
        variant(
            "details null", "details is a string, or absent when none: null is refused", "\"kind\":",
            "\"details\":null,\"kind\":")
        variant("details number", "details is a string", "\"kind\":", "\"details\":5,\"kind\":")
        variant("sequence 2.0", "a number with a fraction", sequence, "\"sequence\":2.0")
        variant("sequence 2e0", "a number with an exponent", sequence, "\"sequence\":2e0")
        variant("sequence -2", "a number with a sign", sequence, "\"sequence\":-2")
        variant("sequence -0", "minus zero", sequence, "\"sequence\":-0")
        variant("sequence 02", "a leading zero (not JSON at all)", sequence, "\"sequence\":02")
        variant("sequence as a string", "a number in quotes", sequence, "\"sequence\":\"2\"")
        variant("sequence true", "a boolean", sequence, "\"sequence\":true")
        variant("sequence 2^64", "beyond UInt64", sequence, "\"sequence\":18446744073709551616")
        variant("sequence NaN", "not JSON", sequence, "\"sequence\":NaN")
        variant("hash upper case", "hex is lower case", hash, hash.uppercased())
        variant("hash of 63 digits", "hex of the wrong length", hash, String(hash.dropLast()))
        variant(
            "previousHash upper case", "hex is lower case in every field",
            "\"previousHash\":\"\(entry2.split(separator: "\"previousHash\":\"")[1].prefix(64))",
            "\"previousHash\":\"\(entry2.split(separator: "\"previousHash\":\"")[1].prefix(64).uppercased())")
        variant("signature unpadded", "base64 keeps its padding", signature, String(signature.dropLast(2)))
        let last = signature[signature.index(signature.endIndex, offsetBy: -3)]
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        let lastValue = alphabet.firstIndex(of: last)!
        variant(
            "signature with trailing bits", "the 4 bits after the 64th byte must be zero", signature,
            String(signature.dropLast(3))
                + String(alphabet[lastValue | 1 == lastValue ? lastValue & ~1 : lastValue | 1]) + "==")
        variant(
            "signature url-safe", "the standard alphabet, not base64url", signature,
            "-_" + String(signature.dropFirst(2)))
        variant(
            "signature of 32 bytes", "an Ed25519 signature is 64 bytes", signature, String(signature.prefix(43)) + "=")
        variant(
            "trust lower case", "ODS codes are upper case (the signed bytes hold them so)", "\"trust\":\"RRK\"",
            "\"trust\":\"rrk\"")
        variant(
            "subject key with a space", "subject keys are 1 to 64 ASCII letters and digits", "\"nhsNumber\":",
            "\"nhs number\":")
        variant(
            "subject value number", "subject values are strings", "\"nhsNumber\":\"9434765919\"",
            "\"nhsNumber\":9434765919")
        variant(
            "type unknown", "the types are entry, treeHead and checkpoint", "\"type\":\"entry\"", "\"type\":\"gossip\"")
        variant("type missing", "every line has a type", ",\"type\":\"entry\"", "")
        variant("trailing comma", "not JSON", "\"type\":\"entry\"}", "\"type\":\"entry\",}")
        variant(
            "after the object", "nothing but white space after the object", "\"type\":\"entry\"}",
            "\"type\":\"entry\"} x")
        variant("single quotes", "not JSON", "\"type\":\"entry\"", "'type':'entry'")
        variant("invalid escape", "\\x is no JSON escape", "local operator", "local\\x20operator")
        variant("lone high surrogate", "\\ud800 without its low half", "local operator", "local \\ud800operator")
        variant("lone low surrogate", "\\udc00 alone", "local operator", "local \\udc00operator")
        variant("control character", "a raw TAB in a string must be escaped", "local operator", "local\toperator")
        variant(
            "nested too deep", "nesting beyond 8 levels (the subject is level 2)", "\"subject\":{",
            "\"subject\":{\"deep\":[[[[[[[1]]]]]]],")
        variant("not an object", "each line is one object", entry2, "[" + entry2 + "]")
        raw("invalid UTF-8", "a byte that is never UTF-8", "local operator", [0x6C, 0xFF, 0x6C])
        raw("overlong UTF-8", "C0 AF is an overlong '/'", "local operator", [0xC0, 0xAF])
        raw("UTF-8 surrogate", "ED A0 80 encodes a surrogate", "local operator", [0xED, 0xA0, 0x80])
        raw("NUL byte", "a raw U+0000 in a string", "local operator", [0x00])
        add(
            "byte order mark", "the file starts with EF BB BF", [0xEF, 0xBB, 0xBF] + file(lines.prefix(2).map { $0 }),
            line: 1)
        add(
            "carriage return", "lines end in LF alone, not CR LF",
            Array((lines[0] + "\r\n" + lines[1] + "\r\n").utf8), line: 1)
        let head5 = treeHeadLine(heads[0])
        let head17 = treeHeadLine(heads[1])
        add(
            "entry after a tree head", "entries come first, then tree heads, then checkpoints",
            file([lines[0], head5, lines[1]]), line: 3)
        add(
            "tree heads out of order", "tree heads are ordered by trust, then tree size",
            file([lines[0], head17, head5]), line: 3)
        let rootHash = heads[0].rootHash.hex
        func headVariant(_ name: String, _ why: String, _ old: String, _ new: String) {
            precondition(head5.contains(old), name)
            add(name, why, file([lines[0], head5.replacingOccurrences(of: old, with: new)]))
        }
        headVariant("tree head rootHash upper case", "hex is lower case", rootHash, rootHash.uppercased())
        headVariant("tree head treeSize 5.0", "a number with a fraction", "\"treeSize\":5", "\"treeSize\":5.0")
        headVariant("tree head without heldBy", "heldBy is required", "{\"heldBy\":\"RQ3\",", "{")
        headVariant(
            "tree head heldBy lower case", "ODS codes are upper case", "{\"heldBy\":\"RQ3\"", "{\"heldBy\":\"rq3\"")
        headVariant(
            "tree head with sequence", "sequence belongs to entries and checkpoints", "{\"heldBy\"",
            "{\"sequence\":5,\"heldBy\"")
        headVariant("tree head duplicate treeSize", "a second treeSize", "{\"heldBy\"", "{\"treeSize\":4,\"heldBy\"")
        return out
    }

    static func verdicts(_ lines: [String], heads: [SignedTreeHead], tree: MerkleTree.InMemory) -> [Verdict] {
        let head17 = treeHeadLine(heads[1])
        let head5 = treeHeadLine(heads[0])
        let rq3 = VerdictFile(name: "rq3.jsonl", text: head5 + "\n" + head17 + "\n", verdict: "OK")
        func log(_ lines: [String]) -> String { lines.joined(separator: "\n") + "\n" }
        let forged = SignedTreeHead.signed(
            trust: rrk, treeSize: 17, rootHash: heads[1].rootHash, time: "2026-11-25T10:02:00Z",
            key: try! SigningKey(seed: Array(repeating: 7, count: 32)))
        let other = SignedTreeHead.signed(
            trust: rrk, treeSize: 5, rootHash: try! tree.root(size: 4), time: "2026-11-25T10:03:00Z", key: key)
        return [
            Verdict(
                name: "pinned", why: "the whole log agrees with both tree heads RQ3 holds",
                files: [VerdictFile(name: "rrk.jsonl", text: log(lines), verdict: "OK"), rq3]),
            Verdict(
                name: "last entry dropped", why: "RQ3 holds a head of 17 entries; the log ends at #16",
                files: [
                    VerdictFile(name: "rrk.jsonl", text: log(Array(lines.prefix(16))), verdict: "RRK #17: truncated"),
                    rq3,
                ]),
            Verdict(
                name: "not pinned", why: "without the peer's tree heads, dropping the last entry goes unseen",
                files: [VerdictFile(name: "rrk.jsonl", text: log(Array(lines.prefix(16))), verdict: "OK")]),
            Verdict(
                name: "forged tree head", why: "a tree head signed with a key the topology does not pin",
                files: [
                    VerdictFile(name: "rrk.jsonl", text: log(lines), verdict: "RRK #17: bad tree head"),
                    VerdictFile(name: "rq3.jsonl", text: treeHeadLine(forged) + "\n", verdict: "OK"),
                ]),
            Verdict(
                name: "rewritten", why: "a correctly signed head of 5 entries whose root is not the log's",
                files: [
                    VerdictFile(name: "rrk.jsonl", text: log(lines), verdict: "RRK #5: rewritten"),
                    VerdictFile(name: "rq3.jsonl", text: treeHeadLine(other) + "\n", verdict: "OK"),
                ]),
        ]
    }

    static func proofFiles(_ entries: [AuditEntry], tree: MerkleTree.InMemory) throws -> [ProofFile] {
        let mallory = try SigningKey(seed: Array(repeating: 7, count: 32))
        let head = treeHead(tree, size: 17, minute: 2)
        let path = try tree.inclusionProof(index: 8, size: 17)
        func document(_ proof: InclusionProof) throws -> String { String(decoding: try proof.json(), as: UTF8.self) }
        let good = try document(InclusionProof(entry: entries[8], treeHead: head, path: path))
        func edited(_ old: String, _ new: String) -> String {
            precondition(good.contains(old), old)
            return good.replacingOccurrences(of: old, with: new)
        }
        let resealed = AuditEntry(
            draft: entries[8].draft, sequence: 9, previousHash: entries[8].previousHash, hash: entries[8].hash,
            signature: mallory.sign(entries[8].canonicalBytes))
        let forgedHead = SignedTreeHead.signed(
            trust: rrk, treeSize: 17, rootHash: head.rootHash, time: head.time, key: mallory)
        let firstStep = path[0].hex
        var bent = Array(firstStep)
        bent[0] = bent[0] == "0" ? "1" : "0"
        return [
            ProofFile(name: "proof of entry 9", why: "entry 9 in the tree head of 17", document: good, verdict: "OK"),
            ProofFile(
                name: "edited entry", why: "a field of the entry changed", document: edited("MODALITY1", "MODALITY2"),
                verdict: "bad hash"),
            ProofFile(
                name: "entry signed by another key", why: "the entry's signature is not the trust's",
                document: try document(InclusionProof(entry: resealed, treeHead: head, path: path)),
                verdict: "bad signature"),
            ProofFile(
                name: "tree head signed by another key", why: "the tree head's signature is not the trust's",
                document: try document(InclusionProof(entry: entries[8], treeHead: forgedHead, path: path)),
                verdict: "bad tree head"),
            ProofFile(
                name: "entry beyond the tree head", why: "entry 9 is not in a tree of 5 entries",
                document: try document(
                    InclusionProof(
                        entry: entries[8], treeHead: treeHead(tree, size: 5, minute: 1),
                        path: try tree.inclusionProof(index: 4, size: 5))),
                verdict: "not covered"),
            ProofFile(
                name: "bent path", why: "one step of the path changed", document: edited(firstStep, String(bent)),
                verdict: "bad path"),
            ProofFile(
                name: "short path", why: "the path's last step removed",
                document: try document(InclusionProof(entry: entries[8], treeHead: head, path: path.dropLast())),
                verdict: "bad path"),
            ProofFile(
                name: "path upper case", why: "hex is lower case in proofs too",
                document: edited(firstStep, firstStep.uppercased()),
                verdict: "malformed"),
            ProofFile(
                name: "duplicate key", why: "a second \"path\"",
                document: edited("\"type\"", "\"path\" : [],\n  \"type\""), verdict: "malformed"),
            ProofFile(
                name: "entry with a type", why: "a proof's entry has an entry line's keys without type",
                document: edited("\"actor\"", "\"type\" : \"entry\",\n    \"actor\""), verdict: "malformed"),
        ]
    }

    static func json(_ file: File) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(file)) + [0x0A]
    }
}
