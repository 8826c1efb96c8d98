import Foundation
public import TrustMeshCrypto
public import TrustMeshModel

/// Proof that one entry is in a trust's audit log, checkable with only the trust's public key:
/// the entry, a tree head the trust signed, and the audit path from the entry's leaf to the head's
/// root (RFC 9162 §2.1.3).
///
/// An auditor can show "this fetch is in RKB's log" without handing over the log: the entry's own
/// signature, the head's signature and the path together prove that the trust logged exactly this
/// entry at this position of the history it committed to. Peers that hold the same head (or a later
/// one, consistent with it) vouch that the trust cannot later drop or alter it.
///
/// JSON (`docs/AUDIT-FORMAT.md` §7): `{"type": "inclusionProof", "entry": {entry fields},
/// "treeHead": {tree-head fields}, "path": [hex…]}`, keys sorted.
///
/// ```swift
/// let proof = InclusionProof(entry: entry, treeHead: head, path: try table.inclusionProof(sequence: 7, size: head.treeSize))
/// try proof.verify(key: pinnedKey)
/// ```
public struct InclusionProof: Sendable, Equatable, Codable {
    /// The entry proved.
    public var entry: AuditEntry
    /// A tree head of the entry's trust that covers it.
    public var treeHead: SignedTreeHead
    /// The audit path, leaf to root.
    public var path: [Digest256]

    /// A proof's parts.
    /// - Parameters:
    ///   - entry: The entry.
    ///   - treeHead: A head of its trust with `treeSize` ≥ the entry's sequence.
    ///   - path: The audit path of leaf `sequence − 1` in that tree.
    public init(entry: AuditEntry, treeHead: SignedTreeHead, path: [Digest256]) {
        self.entry = entry
        self.treeHead = treeHead
        self.path = path
    }

    /// Why a proof does not hold.
    public struct Failure: Error, CustomStringConvertible, Sendable, Equatable {
        /// What failed, e.g. `bad tree head`.
        public var check: String
        /// The explanation.
        public var reason: String
        public var description: String { "\(check): \(reason)" }
    }

    /// Checks the proof with the trust's signing key: the entry's hash and signature, the head's
    /// signature and that they are of one trust, and the path from the entry's leaf to the head's root.
    /// - Parameter key: The trust's pinned signing key.
    /// - Throws: ``Failure`` naming the first check that failed.
    public func verify(key: VerifyingKey) throws(Failure) {
        let message = entry.canonicalBytes
        guard BLAKE2b256.hash(message) == entry.hash else {
            throw Failure(check: "bad hash", reason: "the entry's fields do not hash to the hash it records")
        }
        guard (try? key.verify(entry.signature, for: message)) != nil else {
            throw Failure(check: "bad signature", reason: "the entry is not signed by \(entry.trust)'s key")
        }
        guard treeHead.trust == entry.trust, (try? treeHead.verify(with: key)) != nil else {
            throw Failure(check: "bad tree head", reason: "the tree head is not signed by \(entry.trust)'s key")
        }
        guard entry.sequence >= 1, entry.sequence <= treeHead.treeSize else {
            throw Failure(
                check: "not covered",
                reason: "entry #\(entry.sequence) is not in a tree of \(treeHead.treeSize) entries")
        }
        guard
            MerkleTree.verifyInclusion(
                leaf: MerkleTree.leafHash(message), index: entry.sequence - 1, size: treeHead.treeSize, proof: path,
                root: treeHead.rootHash)
        else {
            throw Failure(
                check: "bad path",
                reason: "the path does not lead from entry #\(entry.sequence) to the tree head's root")
        }
    }

    private enum CodingKeys: String, CodingKey { case type, entry, treeHead, path }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard try container.decode(String.self, forKey: .type) == "inclusionProof" else {
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: container, debugDescription: "not an inclusion proof")
        }
        entry = try container.decode(AuditEntry.self, forKey: .entry)
        treeHead = try container.decode(SignedTreeHead.self, forKey: .treeHead)
        path = try container.decode([Digest256].self, forKey: .path)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("inclusionProof", forKey: .type)
        try container.encode(entry, forKey: .entry)
        try container.encode(treeHead, forKey: .treeHead)
        try container.encode(path, forKey: .path)
    }

    /// The proof as pretty-printed JSON with sorted keys, ending in a newline.
    public func json() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        return Array(try encoder.encode(self)) + [UInt8(ascii: "\n")]
    }
}
