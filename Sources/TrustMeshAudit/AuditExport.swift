import Foundation
import TrustMeshCrypto
public import TrustMeshModel

/// A trust's exported audit log: its entries, the signed tree heads it holds (its own and its
/// peers'), and the latest checkpoints (version 1) it holds of its peers, as JSON Lines.
///
/// Each line is one JSON object with a `type`: `"entry"` (an ``AuditEntry``'s fields),
/// `"treeHead"` (a ``HeldTreeHead``: a ``SignedTreeHead``'s fields plus `heldBy`) or
/// `"checkpoint"` (a ``HeldCheckpoint``: an ``AuditCheckpoint``'s fields plus `heldBy`). Entries come
/// first, in sequence order; then tree heads, ordered by trust then tree size; then checkpoints,
/// ordered by trust. Keys are sorted and slashes are not
/// escaped, so an export is byte-for-byte reproducible, but a reader must not rely on that: the
/// hashes and signatures cover the canonical encoding, never the JSON (`docs/AUDIT-FORMAT.md`).
///
/// ```swift
/// let bytes = try AuditExport(entries: try table.all(), checkpoints: held).jsonLines()
/// let back = try AuditExport.parse(bytes)
/// ```
public struct AuditExport: Sendable, Equatable {
    /// The log's entries, in the order read.
    public var entries: [AuditEntry]
    /// Checkpoints of other trusts' logs that the exporting trust held (format version 1).
    public var checkpoints: [HeldCheckpoint]
    /// Signed tree heads that the exporting trust held: its own and its peers'.
    public var treeHeads: [HeldTreeHead]

    /// An export's contents.
    /// - Parameters:
    ///   - entries: The log's entries.
    ///   - checkpoints: The peers' checkpoints held (version 1).
    ///   - treeHeads: The signed tree heads held, the trust's own and its peers'.
    public init(entries: [AuditEntry], checkpoints: [HeldCheckpoint] = [], treeHeads: [HeldTreeHead] = []) {
        self.entries = entries
        self.checkpoints = checkpoints
        self.treeHeads = treeHeads
    }

    /// The trust the export's entries belong to: the one most of them name (so that one spliced
    /// entry, even the first, is reported as the odd one out), or `nil` if there are none.
    public var trust: TrustID? {
        var counts: [TrustID: Int] = [:]
        for entry in entries { counts[entry.trust, default: 0] += 1 }
        return counts.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key
    }

    /// The JSON Lines form: one line per entry, in the order held; then one per tree head, ordered
    /// by trust, tree size, time and holder; then one per checkpoint, ordered by trust, sequence and
    /// holder. Each line ends in `\n`.
    /// - Throws: An `EncodingError` (not expected for these types).
    public func jsonLines() throws -> [UInt8] {
        var out: [UInt8] = []
        for entry in entries { out += try Self.line(entry) }
        for held in Self.ordered(treeHeads) { out += try Self.line(held) }
        for held in Self.ordered(checkpoints) { out += try Self.line(held) }
        return out
    }

    /// Tree heads in the order an export lists them: by trust, tree size, time, then holder (stable).
    static func ordered(_ treeHeads: [HeldTreeHead]) -> [HeldTreeHead] {
        treeHeads.enumerated().sorted { a, b in
            let (x, y) = (a.element, b.element)
            let left = (x.treeHead.trust.code, x.treeHead.treeSize, x.treeHead.time, x.heldBy.code)
            let right = (y.treeHead.trust.code, y.treeHead.treeSize, y.treeHead.time, y.heldBy.code)
            return left != right ? left < right : a.offset < b.offset
        }.map(\.element)
    }

    /// Checkpoints in the order an export lists them: by trust, sequence, then holder (stable).
    static func ordered(_ checkpoints: [HeldCheckpoint]) -> [HeldCheckpoint] {
        checkpoints.enumerated().sorted { a, b in
            let (x, y) = (a.element, b.element)
            let left = (x.checkpoint.trust.code, x.checkpoint.sequence, x.heldBy.code)
            let right = (y.checkpoint.trust.code, y.checkpoint.sequence, y.heldBy.code)
            return left != right ? left < right : a.offset < b.offset
        }.map(\.element)
    }

    /// One entry's line, ending in `\n`.
    /// - Parameter entry: The entry.
    /// - Throws: An `EncodingError` (not expected).
    public static func line(_ entry: AuditEntry) throws -> [UInt8] {
        try encode(Line.entry(entry))
    }

    /// One held checkpoint's line, ending in `\n`.
    /// - Parameter checkpoint: The checkpoint and its holder.
    /// - Throws: An `EncodingError` (not expected).
    public static func line(_ checkpoint: HeldCheckpoint) throws -> [UInt8] {
        try encode(Line.checkpoint(checkpoint))
    }

    /// One held tree head's line, ending in `\n`.
    /// - Parameter treeHead: The tree head and its holder.
    /// - Throws: An `EncodingError` (not expected).
    public static func line(_ treeHead: HeldTreeHead) throws -> [UInt8] {
        try encode(Line.treeHead(treeHead))
    }

    /// The longest line an export may hold, in bytes (LF excluded): 1 MiB.
    public static let maxLineBytes = 1 << 20

    /// Reads an export strictly: every line must be exactly as `docs/AUDIT-FORMAT.md` §2 specifies,
    /// so that no other reader can see different values in the same bytes. Nothing is verified here
    /// (see ``AuditChain`` and ``AuditVerification``).
    ///
    /// Lines are separated by LF; an empty line, or one of spaces and tabs only, is skipped. Each
    /// other line is one JSON object (RFC 8259, read by a strict reader: no duplicate names at any
    /// depth, no lone surrogates, no control characters in strings, nesting at most 8 deep) of a
    /// known `type` with exactly the keys of that type, each in its one canonical form: numbers
    /// `0` or `[1-9][0-9]*` within UInt64, hashes 64 lower-case hex digits, signatures 88
    /// characters of padded standard base64 with zero trailing bits, ODS codes upper case. The
    /// file must not start with a byte order mark, hold a CR, a line over ``maxLineBytes`` or
    /// invalid UTF-8. Entry lines come first, then tree-head lines ordered by trust and tree
    /// size, then checkpoint lines.
    /// - Parameter bytes: The JSON Lines file's contents.
    /// - Returns: The entries, tree heads and checkpoints, in file order.
    /// - Throws: ``AuditError/malformed(line:reason:)`` for the first line that breaks a rule,
    ///   with its number (from 1) and what was wrong (never the line's values).
    public static func parse(_ bytes: [UInt8]) throws(AuditError) -> AuditExport {
        var export = AuditExport(entries: [])
        var section = Section.entries
        var previousHead: (trust: String, size: UInt64)?
        for (offset, slice) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated()
        {
            let line = offset + 1
            if line == 1, slice.starts(with: [0xEF, 0xBB, 0xBF]) {
                throw .malformed(line: line, reason: "the file starts with a byte order mark (U+FEFF)")
            }
            if slice.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            let object: Fields
            do throws(Refusal) {
                object = try Fields.line(slice)
            } catch {
                throw .malformed(line: line, reason: error.reason)
            }
            do throws(Refusal) {
                let type = try object.string("type")
                guard let lineSection = Section(rawValue: type) else {
                    let shown = StrictJSON.quoted(type)
                    throw Refusal("unknown type \(shown) (entry, treeHead or checkpoint)")
                }
                guard lineSection >= section else {
                    throw Refusal(
                        "a \(type) line after a \(section.rawValue) line (entries come first, then tree heads, then checkpoints)"
                    )
                }
                section = lineSection
                switch lineSection {
                case .entries: export.entries.append(try object.entry())
                case .treeHeads:
                    let held = try object.treeHead()
                    let key = (held.treeHead.trust.code, held.treeHead.treeSize)
                    if let previousHead, key < previousHead {
                        throw Refusal("tree heads must be ordered by trust, then tree size")
                    }
                    previousHead = key
                    export.treeHeads.append(held)
                case .checkpoints: export.checkpoints.append(try object.checkpoint())
                }
            } catch {
                throw .malformed(line: line, reason: error.reason)
            }
        }
        return export
    }

    /// The checkpoint a `checkpoint` entry (format version 1) records in its details, read as
    /// strictly as a checkpoint line: a JSON object with exactly the keys `trust`, `sequence`,
    /// `headHash`, `time` and `signature`, each in its canonical form. Anything else records no
    /// checkpoint, and `nil` is returned.
    /// - Parameter details: The entry's details.
    public static func recordedCheckpoint(_ details: String) -> AuditCheckpoint? {
        let bytes = Array(details.utf8)
        guard bytes.count <= maxLineBytes, !bytes.contains(0x0A), !bytes.contains(0x0D),
            let object = try? Fields.line(bytes[...])
        else { return nil }
        return try? object.checkpointFields(
            allowed: ["trust", "sequence", "headHash", "time", "signature"], what: "a recorded checkpoint")
    }

    /// Reads an inclusion proof file (`trustmesh audit prove`) as strictly as an export line
    /// (`docs/AUDIT-FORMAT.md` §4.3): one JSON object, LF allowed between tokens, with exactly the
    /// keys `type` (`"inclusionProof"`), `entry` (an entry line's keys without `type`), `treeHead`
    /// (a tree head's five signed keys) and `path` (an array of 64 lower-case hex digits each).
    /// Nothing is verified here (see ``InclusionProof/verify(key:)``).
    /// - Parameter bytes: The file's contents.
    /// - Returns: The proof.
    /// - Throws: ``AuditError/malformed(line:reason:)``, with the line of a grammar error (else 1).
    public static func inclusionProof(_ bytes: [UInt8]) throws(AuditError) -> InclusionProof {
        do throws(Refusal) {
            let object = try Fields.document(bytes)
            try object.only(["type", "entry", "treeHead", "path"], what: "an inclusion proof")
            guard try object.string("type") == "inclusionProof" else {
                throw Refusal("\"type\" must be \"inclusionProof\"")
            }
            let entry = try object.object("entry").entry(allowed: Fields.entryKeys.subtracting(["type"]))
            let head = try object.object("treeHead")
            try head.only(["trust", "treeSize", "rootHash", "time", "signature"], what: "a proof's tree head")
            let pathValue = try object.value("path")
            guard case .array(let elements) = pathValue else {
                throw Refusal("\"path\" must be an array, not \(pathValue.kind)")
            }
            var path: [Digest256] = []
            for element in elements {
                guard case .string(let text) = element, let digest = Fields.digest(text) else {
                    throw Refusal("each element of \"path\" must be 64 lower-case hex digits")
                }
                path.append(digest)
            }
            return InclusionProof(entry: entry, treeHead: try head.treeHeadFields(), path: path)
        } catch {
            throw .malformed(line: error.line ?? 1, reason: error.reason)
        }
    }

    /// The three kinds of line, in the order an export holds them.
    private enum Section: String, Comparable {
        case entries = "entry"
        case treeHeads = "treeHead"
        case checkpoints = "checkpoint"

        private var rank: Int {
            switch self {
            case .entries: 0
            case .treeHeads: 1
            case .checkpoints: 2
            }
        }

        static func < (lhs: Section, rhs: Section) -> Bool { lhs.rank < rhs.rank }
    }

    /// Why a line is malformed.
    struct Refusal: Error {
        var reason: String
        /// The line of a multi-line document where the reader stopped, when known.
        var line: Int?
        init(_ reason: String, line: Int? = nil) {
            self.reason = reason
            self.line = line
        }
    }

    /// The members of one line's object, read field by field in their canonical forms.
    struct Fields {
        private let members: [String: StrictJSON.Value]

        /// Reads one line: no CR, not too long, UTF-8, one strict JSON object.
        static func line(_ slice: ArraySlice<UInt8>) throws(Refusal) -> Fields {
            guard slice.count <= AuditExport.maxLineBytes else {
                throw Refusal("longer than \(AuditExport.maxLineBytes) bytes")
            }
            if let cr = slice.firstIndex(of: 0x0D) {
                throw Refusal("a carriage return at byte \(cr - slice.startIndex + 1) (lines end in LF alone)")
            }
            guard String(validating: slice, as: UTF8.self) != nil else { throw Refusal("not valid UTF-8") }
            let value: StrictJSON.Value
            do {
                value = try StrictJSON.parse(slice)
            } catch {
                throw Refusal("not strict JSON: \(error.reason) (byte \(error.column))")
            }
            guard case .object(let members) = value else { throw Refusal("not a JSON object but \(value.kind)") }
            return Fields(members: Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }))
        }

        /// Reads a document that may span lines (a proof file): no BOM, no CR, at most
        /// ``AuditExport/maxLineBytes``, UTF-8, one strict JSON object with LF allowed between tokens.
        static func document(_ bytes: [UInt8]) throws(Refusal) -> Fields {
            guard bytes.count <= AuditExport.maxLineBytes else {
                throw Refusal("longer than \(AuditExport.maxLineBytes) bytes")
            }
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
                throw Refusal("the file starts with a byte order mark (U+FEFF)")
            }
            if bytes.contains(0x0D) { throw Refusal("a carriage return (lines end in LF alone)") }
            guard String(validating: bytes, as: UTF8.self) != nil else { throw Refusal("not valid UTF-8") }
            let value: StrictJSON.Value
            do {
                value = try StrictJSON.parse(bytes, lineBreaks: true)
            } catch {
                let line = 1 + bytes.prefix(error.column - 1).filter { $0 == 0x0A }.count
                throw Refusal("not strict JSON: \(error.reason)", line: line)
            }
            return try Fields(value)
        }

        private init(_ value: StrictJSON.Value) throws(Refusal) {
            guard case .object(let members) = value else { throw Refusal("not a JSON object but \(value.kind)") }
            self.init(members: Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }))
        }

        private init(members: [String: StrictJSON.Value]) {
            self.members = members
        }

        /// A member that must be an object, as fields of its own.
        func object(_ key: String) throws(Refusal) -> Fields {
            let value = try value(key)
            guard case .object = value else { throw Refusal("\"\(key)\" must be an object, not \(value.kind)") }
            return try Fields(value)
        }

        /// 64 lower-case hex digits, or nil.
        static func digest(_ text: String) -> Digest256? {
            guard text.utf8.count == 64,
                text.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
            else { return nil }
            return try? Digest256(hex: text)
        }

        static let entryKeys: Set<String> = [
            "type", "trust", "sequence", "time", "kind", "actor", "subject", "details", "previousHash", "hash",
            "signature",
        ]

        func only(_ allowed: Set<String>, what: String) throws(Refusal) {
            for key in members.keys.sorted() where !allowed.contains(key) {
                throw Refusal("unknown key \(StrictJSON.quoted(key)) in \(what)")
            }
        }

        func value(_ key: String) throws(Refusal) -> StrictJSON.Value {
            guard let value = members[key] else { throw Refusal("missing \"\(key)\"") }
            return value
        }

        func string(_ key: String) throws(Refusal) -> String {
            let value = try value(key)
            guard case .string(let text) = value else {
                throw Refusal("\"\(key)\" must be a string, not \(value.kind)")
            }
            return text
        }

        /// `0` or `[1-9][0-9]*`, at most 2^64 − 1.
        func uint64(_ key: String) throws(Refusal) -> UInt64 {
            let value = try value(key)
            guard case .number(let text) = value else {
                throw Refusal("\"\(key)\" must be a number, not \(value.kind)")
            }
            let digits = text.utf8
            guard let first = digits.first, digits.allSatisfy({ (0x30...0x39).contains($0) }),
                first != 0x30 || digits.count == 1, let number = UInt64(text)
            else {
                throw Refusal(
                    "\"\(key)\" must be an unsigned integer written 0 or [1-9][0-9]* up to 18446744073709551615 "
                        + "(no sign, fraction, exponent or leading zero)")
            }
            return number
        }

        /// Exactly 64 lower-case hex digits.
        func digest(_ key: String) throws(Refusal) -> Digest256 {
            guard let digest = Self.digest(try string(key)) else {
                throw Refusal("\"\(key)\" must be 64 lower-case hex digits")
            }
            return digest
        }

        /// Padded standard base64 of 64 bytes, in its one canonical spelling.
        func signature(_ key: String) throws(Refusal) -> Signature {
            let text = try string(key)
            guard text.utf8.count == 88, let signature = try? Signature(base64: text), signature.base64 == text else {
                throw Refusal(
                    "\"\(key)\" must be padded standard base64 of 64 bytes (88 characters, zero trailing bits)")
            }
            return signature
        }

        /// An ODS code as written in the canonical encoding: 3 to 6 upper-case letters and digits.
        func trust(_ key: String) throws(Refusal) -> TrustID {
            let text = try string(key)
            guard (3...6).contains(text.utf8.count),
                text.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) }),
                let trust = try? TrustID(text)
            else { throw Refusal("\"\(key)\" must be an ODS code: 3 to 6 upper-case letters and digits") }
            return trust
        }

        func entry(allowed: Set<String> = Fields.entryKeys) throws(Refusal) -> AuditEntry {
            try only(allowed, what: allowed.contains("type") ? "an entry line" : "a proof's entry")
            let subjectValue = try value("subject")
            guard case .object(let pairs) = subjectValue else {
                throw Refusal("\"subject\" must be an object, not \(subjectValue.kind)")
            }
            var subject: [AuditEntry.SubjectKey: String] = [:]
            for (key, value) in pairs {
                let subjectKey = AuditEntry.SubjectKey(rawValue: key)
                guard subjectKey.isWellFormed else {
                    throw Refusal("a subject key must be 1 to 64 ASCII letters and digits")
                }
                guard case .string(let text) = value else {
                    throw Refusal("subject \"\(key)\" must be a string, not \(value.kind)")
                }
                subject[subjectKey] = text
            }
            let details: String?
            if members["details"] != nil {
                details = try string("details")
            } else {
                details = nil
            }
            let draft = AuditEntry.Draft(
                trust: try trust("trust"), time: try string("time"),
                kind: AuditEntry.Kind(rawValue: try string("kind")),
                actor: try string("actor"), subject: subject, details: details)
            return AuditEntry(
                draft: draft, sequence: try uint64("sequence"), previousHash: try digest("previousHash"),
                hash: try digest("hash"), signature: try signature("signature"))
        }

        func treeHead() throws(Refusal) -> HeldTreeHead {
            try only(
                ["type", "heldBy", "trust", "treeSize", "rootHash", "time", "signature"], what: "a treeHead line")
            let head = try treeHeadFields()
            return HeldTreeHead(heldBy: try trust("heldBy"), treeHead: head)
        }

        /// The five signed fields of a tree head (in a `treeHead` line, or a proof's `treeHead`).
        func treeHeadFields() throws(Refusal) -> SignedTreeHead {
            SignedTreeHead(
                trust: try trust("trust"), treeSize: try uint64("treeSize"), rootHash: try digest("rootHash"),
                time: try string("time"), signature: try signature("signature"))
        }

        func checkpoint() throws(Refusal) -> HeldCheckpoint {
            let checkpoint = try checkpointFields(
                allowed: ["type", "heldBy", "trust", "sequence", "headHash", "time", "signature"],
                what: "a checkpoint line")
            return HeldCheckpoint(heldBy: try trust("heldBy"), checkpoint: checkpoint)
        }

        func checkpointFields(allowed: Set<String>, what: String) throws(Refusal) -> AuditCheckpoint {
            try only(allowed, what: what)
            return AuditCheckpoint(
                trust: try trust("trust"), sequence: try uint64("sequence"), headHash: try digest("headHash"),
                time: try string("time"), signature: try signature("signature"))
        }
    }

    private enum Line: Encodable {
        case entry(AuditEntry)
        case checkpoint(HeldCheckpoint)
        case treeHead(HeldTreeHead)

        private enum CodingKeys: String, CodingKey { case type }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            switch self {
            case .entry(let entry):
                try container.encode("entry", forKey: .type)
                try entry.encode(to: encoder)
            case .checkpoint(let held):
                try container.encode("checkpoint", forKey: .type)
                try held.encode(to: encoder)
            case .treeHead(let held):
                try container.encode("treeHead", forKey: .type)
                try held.encode(to: encoder)
            }
        }
    }

    private static func encode(_ line: Line) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(line)) + [UInt8(ascii: "\n")]
    }
}

/// A checkpoint of one trust's log, as held by another trust (or recorded in its log).
///
/// JSON: the ``AuditCheckpoint`` fields (`trust`, `sequence`, `headHash`, `time`, `signature`)
/// plus `heldBy`, the ODS code of the trust that held it. `heldBy` is not signed: it only says
/// where the checkpoint came from.
public struct HeldCheckpoint: Sendable, Hashable, Codable {
    /// The trust that held the checkpoint.
    public var heldBy: TrustID
    /// The checkpoint, signed by the trust whose log it pins.
    public var checkpoint: AuditCheckpoint

    /// A checkpoint and its holder.
    /// - Parameters:
    ///   - heldBy: The holding trust.
    ///   - checkpoint: The checkpoint.
    public init(heldBy: TrustID, checkpoint: AuditCheckpoint) {
        self.heldBy = heldBy
        self.checkpoint = checkpoint
    }

    private enum CodingKeys: String, CodingKey { case heldBy }

    public init(from decoder: any Decoder) throws {
        heldBy = try decoder.container(keyedBy: CodingKeys.self).decode(TrustID.self, forKey: .heldBy)
        checkpoint = try AuditCheckpoint(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(heldBy, forKey: .heldBy)
        try checkpoint.encode(to: encoder)
    }
}

/// A signed tree head of one trust's log, as held by a trust (the trust itself, or a peer that
/// received it by gossip).
///
/// JSON: the ``SignedTreeHead`` fields (`trust`, `treeSize`, `rootHash`, `time`, `signature`) plus
/// `heldBy`, the ODS code of the trust that held it. `heldBy` is not signed: it only says where the
/// tree head came from.
public struct HeldTreeHead: Sendable, Hashable, Codable {
    /// The trust that held the tree head.
    public var heldBy: TrustID
    /// The tree head, signed by the trust whose log it describes.
    public var treeHead: SignedTreeHead

    /// A tree head and its holder.
    /// - Parameters:
    ///   - heldBy: The holding trust.
    ///   - treeHead: The signed tree head.
    public init(heldBy: TrustID, treeHead: SignedTreeHead) {
        self.heldBy = heldBy
        self.treeHead = treeHead
    }

    private enum CodingKeys: String, CodingKey { case heldBy }

    public init(from decoder: any Decoder) throws {
        heldBy = try decoder.container(keyedBy: CodingKeys.self).decode(TrustID.self, forKey: .heldBy)
        treeHead = try SignedTreeHead(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(heldBy, forKey: .heldBy)
        try treeHead.encode(to: encoder)
    }
}
