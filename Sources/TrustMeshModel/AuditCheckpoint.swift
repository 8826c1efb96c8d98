public import TrustMeshCrypto

/// A trust's signed statement that its audit log's entry number ``sequence`` has hash ``headHash``.
///
/// A node signs one every so often and gossips it; each peer keeps the latest it has seen from each
/// trust. Because every entry's hash covers the one before it, a checkpoint pins the whole log up
/// to ``sequence``: a log that later ends before ``sequence`` was truncated, and one whose entry
/// ``sequence`` has another hash was rewritten, and the peers' copies prove it.
///
/// The signature covers ``signedBytes`` (domain `TrustMesh/AuditCheckpoint/v1`, see
/// `docs/AUDIT-FORMAT.md`).
///
/// ```swift
/// let checkpoint = AuditCheckpoint.signed(
///     trust: head.trust, sequence: head.sequence, headHash: head.hash, time: CareTime.format(Date()), key: nodeKey)
/// try checkpoint.verify(with: pinnedKeys[checkpoint.trust]!)   // throws CryptoError.badSignature
/// ```
public struct AuditCheckpoint: Sendable, Hashable, Codable {
    /// The trust whose log the checkpoint pins, which signed it.
    public let trust: TrustID
    /// The sequence number of the log's head when it was signed (at least 1).
    public let sequence: UInt64
    /// The hash of entry ``sequence``.
    public let headHash: Digest256
    /// When it was signed, `YYYY-MM-DDTHH:MM:SSZ`.
    public let time: String
    /// The trust's Ed25519 signature of ``signedBytes``.
    public let signature: Signature

    /// Assembles a checkpoint without checking its signature (for reading one back).
    /// - Parameters:
    ///   - trust: The signing trust.
    ///   - sequence: The head's sequence number.
    ///   - headHash: The head's hash.
    ///   - time: When it was signed.
    ///   - signature: The signature of the other fields' canonical encoding.
    public init(trust: TrustID, sequence: UInt64, headHash: Digest256, time: String, signature: Signature) {
        self.trust = trust
        self.sequence = sequence
        self.headHash = headHash
        self.time = time
        self.signature = signature
    }

    /// The domain-separation string of checkpoints, version 1.
    public static let domain = "TrustMesh/AuditCheckpoint/v1"

    /// The canonical encoding of every field except ``signature``.
    ///
    /// ``domain`` and `0x00`, then `trust` (String), `sequence` (UInt64), `headHash` (raw bytes,
    /// `00 00 00 20` + 32) and `time` (String), in ``CanonicalEncoder``'s forms.
    public var signedBytes: [UInt8] {
        Self.signedBytes(trust: trust, sequence: sequence, headHash: headHash, time: time)
    }

    /// Signs a checkpoint of a log's head.
    /// - Parameters:
    ///   - trust: The trust whose log it is.
    ///   - sequence: The head's sequence number.
    ///   - headHash: The head's hash.
    ///   - time: Now, `YYYY-MM-DDTHH:MM:SSZ`.
    ///   - key: The trust's signing key.
    /// - Returns: The signed checkpoint.
    public static func signed(
        trust: TrustID, sequence: UInt64, headHash: Digest256, time: String, key: SigningKey
    ) -> AuditCheckpoint {
        let message = signedBytes(trust: trust, sequence: sequence, headHash: headHash, time: time)
        return AuditCheckpoint(
            trust: trust, sequence: sequence, headHash: headHash, time: time, signature: key.sign(message))
    }

    /// Checks that ``signature`` is `key`'s signature of ``signedBytes``.
    /// - Parameter key: The pinned key of ``trust``.
    /// - Throws: ``CryptoError/badSignature`` if any field was altered or another key signed it.
    public func verify(with key: VerifyingKey) throws(CryptoError) {
        try key.verify(signature, for: signedBytes)
    }

    private static func signedBytes(trust: TrustID, sequence: UInt64, headHash: Digest256, time: String) -> [UInt8] {
        var encoder = CanonicalEncoder(domain: domain)
        encoder.append(trust.code)
        encoder.append(sequence)
        encoder.append(headHash)
        encoder.append(time)
        return encoder.bytes
    }
}
