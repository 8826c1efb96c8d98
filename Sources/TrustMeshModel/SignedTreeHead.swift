public import TrustMeshCrypto

/// A trust's signed statement that the Merkle tree of its audit log's first ``treeSize`` entries
/// has root ``rootHash`` (RFC 9162's signed tree head, with BLAKE2b-256 and Ed25519).
///
/// A node signs one when its log grew during the last interval and when it stops cleanly, and
/// gossips it; each peer keeps, per trust, the latest and a bounded history, and checks each newer
/// one against the one before with a consistency proof. Two heads of one trust that no single
/// append-only log can produce (the same size with different roots, or a consistency proof that
/// fails) are equivocation, and both heads are kept as evidence.
///
/// The signature covers ``signedBytes`` (domain `TrustMesh/TreeHead/v1`, see `docs/AUDIT-FORMAT.md`).
///
/// ```swift
/// let head = SignedTreeHead.signed(trust: rrk, treeSize: 42, rootHash: root, time: CareTime.format(Date()), key: nodeKey)
/// try head.verify(with: pinnedKeys[head.trust]!)   // throws CryptoError.badSignature
/// ```
public struct SignedTreeHead: Sendable, Hashable, Codable {
    /// The trust whose log the head describes, which signed it.
    public let trust: TrustID
    /// How many entries (leaves) the tree holds: entries 1…treeSize.
    public let treeSize: UInt64
    /// The Merkle tree hash of those entries (``MerkleTree``).
    public let rootHash: Digest256
    /// When it was signed, `YYYY-MM-DDTHH:MM:SSZ`.
    public let time: String
    /// The trust's Ed25519 signature of ``signedBytes``.
    public let signature: Signature

    /// Assembles a tree head without checking its signature (for reading one back).
    /// - Parameters:
    ///   - trust: The signing trust.
    ///   - treeSize: The number of entries the tree covers.
    ///   - rootHash: The tree's root.
    ///   - time: When it was signed.
    ///   - signature: The signature of the other fields' canonical encoding.
    public init(trust: TrustID, treeSize: UInt64, rootHash: Digest256, time: String, signature: Signature) {
        self.trust = trust
        self.treeSize = treeSize
        self.rootHash = rootHash
        self.time = time
        self.signature = signature
    }

    /// The domain-separation string of tree heads, version 1.
    public static let domain = "TrustMesh/TreeHead/v1"

    /// The canonical encoding of every field except ``signature``.
    ///
    /// ``domain`` and `0x00`, then `trust` (String), `treeSize` (UInt64), `rootHash` (raw bytes,
    /// `00 00 00 20` + 32) and `time` (String), in ``CanonicalEncoder``'s forms.
    public var signedBytes: [UInt8] {
        Self.signedBytes(trust: trust, treeSize: treeSize, rootHash: rootHash, time: time)
    }

    /// Signs a tree head.
    /// - Parameters:
    ///   - trust: The trust whose log it is.
    ///   - treeSize: The number of entries covered.
    ///   - rootHash: The Merkle tree hash of those entries.
    ///   - time: Now, `YYYY-MM-DDTHH:MM:SSZ`.
    ///   - key: The trust's signing key.
    /// - Returns: The signed tree head.
    public static func signed(
        trust: TrustID, treeSize: UInt64, rootHash: Digest256, time: String, key: SigningKey
    ) -> SignedTreeHead {
        let message = signedBytes(trust: trust, treeSize: treeSize, rootHash: rootHash, time: time)
        return SignedTreeHead(
            trust: trust, treeSize: treeSize, rootHash: rootHash, time: time, signature: key.sign(message))
    }

    /// Checks that ``signature`` is `key`'s signature of ``signedBytes``.
    /// - Parameter key: The pinned key of ``trust``.
    /// - Throws: ``CryptoError/badSignature`` if any field was altered or another key signed it.
    public func verify(with key: VerifyingKey) throws(CryptoError) {
        try key.verify(signature, for: signedBytes)
    }

    /// Whether this head and `other`, both of one trust, cannot come from one append-only log
    /// without a proof: the same size with different roots. (Heads of different sizes need a
    /// consistency proof to tell.)
    public func contradicts(_ other: SignedTreeHead) -> Bool {
        trust == other.trust && treeSize == other.treeSize && rootHash != other.rootHash
    }

    private static func signedBytes(trust: TrustID, treeSize: UInt64, rootHash: Digest256, time: String) -> [UInt8] {
        var encoder = CanonicalEncoder(domain: domain)
        encoder.append(trust.code)
        encoder.append(treeSize)
        encoder.append(rootHash)
        encoder.append(time)
        return encoder.bytes
    }
}
