import Foundation
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

    /// Reads an export. Blank lines are skipped; nothing is verified (see ``AuditChain``).
    /// - Parameter bytes: The JSON Lines file's contents.
    /// - Returns: The entries and checkpoints, in file order.
    /// - Throws: ``AuditError/malformed(line:reason:)`` for the first line that is not UTF-8 JSON
    ///   of a known `type` with every required field in its documented form.
    public static func parse(_ bytes: [UInt8]) throws(AuditError) -> AuditExport {
        var export = AuditExport(entries: [])
        let decoder = JSONDecoder()
        for (offset, slice) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated()
        {
            let line = offset + 1
            if slice.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            guard String(validating: slice, as: UTF8.self) != nil else {
                throw .malformed(line: line, reason: "not UTF-8")
            }
            let data = Data(slice)
            let type: String
            do {
                type = try decoder.decode(Header.self, from: data).type
            } catch {
                throw .malformed(line: line, reason: "not a JSON object with a \"type\"")
            }
            do {
                switch type {
                case "entry": export.entries.append(try decoder.decode(AuditEntry.self, from: data))
                case "checkpoint": export.checkpoints.append(try decoder.decode(HeldCheckpoint.self, from: data))
                case "treeHead": export.treeHeads.append(try decoder.decode(HeldTreeHead.self, from: data))
                default: throw AuditError.malformed(line: line, reason: "unknown type \"\(type.prefix(32))\"")
                }
            } catch let error as AuditError {
                throw error
            } catch {
                throw .malformed(line: line, reason: "not a valid \(type): \(Self.reason(error))")
            }
        }
        return export
    }

    private struct Header: Decodable { var type: String }

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

    /// A decoding error's gist: the field and what was wrong, never the value.
    private static func reason(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "unreadable" }
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, _): return "missing \"\(key.stringValue)\""
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\"\(path(context))\" has the wrong type"
        case .dataCorrupted(let context):
            return "\"\(path(context))\" is malformed"
        @unknown default: return "unreadable"
        }
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
