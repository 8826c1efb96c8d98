public import TrustMeshCrypto

/// A signed statement that a trust's node signing key is no longer to be believed from a moment
/// on: `retired` (rotated away from, kept safe) or `compromised` (stolen, or possibly so) since
/// ``since``. Signed by the trust's root, or by the revoked key itself (RFC 5011's self-revocation:
/// a node that knows its key is stolen can say so without its root).
///
/// Once a node holds it, everything dated at or after ``since`` and signed only by that key —
/// requests, index records, care relationships, audit entries, tree heads — is refused; what is
/// dated before stays valid. A later revocation of the same key with an earlier ``since`` (found
/// out later that the theft was earlier) takes precedence: the earliest holds.
///
/// The signature covers ``signedBytes`` (domain `TrustMesh/KeyRevocation/v1`).
public struct KeyRevocation: Sendable, Hashable, Codable {
    /// Why the key is revoked.
    public enum Reason: String, Sendable, Hashable, Codable {
        /// Rotated away from and kept safe: refuse what it signs from ``since`` on.
        case retired
        /// Stolen or possibly so since ``since``.
        case compromised
    }

    /// The trust whose node key is revoked.
    public let trust: TrustID
    /// The revoked node signing key.
    public let key: VerifyingKey
    public let reason: Reason
    /// From this moment on (`YYYY-MM-DDTHH:MM:SSZ`), nothing signed by ``key`` is believed.
    public let since: String
    /// When the revocation was signed.
    public let issuedAt: String
    /// The trust's root key, or ``key`` itself.
    public let signer: VerifyingKey
    /// ``signer``'s signature of ``signedBytes``.
    public let signature: Signature

    /// The domain-separation string of revocations, version 1.
    public static let domain = "TrustMesh/KeyRevocation/v1"

    /// The canonical encoding of every field but the signature: ``domain``, NUL, then trust, key,
    /// reason, since, issuedAt and signer (keys as raw bytes).
    public var signedBytes: [UInt8] {
        Self.signedBytes(trust: trust, key: key, reason: reason, since: since, issuedAt: issuedAt, signer: signer)
    }

    /// Signs a revocation with the trust's root or with the revoked key.
    public static func sign(
        trust: TrustID, key: VerifyingKey, reason: Reason, since: String, issuedAt: String, by signer: SigningKey
    ) -> KeyRevocation {
        let bytes = signedBytes(
            trust: trust, key: key, reason: reason, since: since, issuedAt: issuedAt, signer: signer.verifyingKey)
        return KeyRevocation(
            trust: trust, key: key, reason: reason, since: since, issuedAt: issuedAt, signer: signer.verifyingKey,
            signature: signer.sign(bytes))
    }

    /// Assembles a revocation read back (nothing checked; see ``verify()``).
    public init(
        trust: TrustID, key: VerifyingKey, reason: Reason, since: String, issuedAt: String, signer: VerifyingKey,
        signature: Signature
    ) {
        self.trust = trust
        self.key = key
        self.reason = reason
        self.since = since
        self.issuedAt = issuedAt
        self.signer = signer
        self.signature = signature
    }

    /// Whether the revocation is the key's own (not its root's).
    public var isSelfRevocation: Bool { signer == key }

    /// Checks the times and the signature against ``signer``; whether the signer may revoke the
    /// key (the trust's root, or the key itself) is the directory's question.
    /// - Throws: ``ModelError/network(_:)`` naming what is wrong.
    public func verify() throws(ModelError) {
        guard Timestamp.date(since) != nil, Timestamp.date(issuedAt) != nil else {
            throw .network("\(trust) revocation: its times are not YYYY-MM-DDTHH:MM:SSZ")
        }
        do {
            try signer.verify(signature, for: signedBytes)
        } catch {
            throw .network("\(trust) revocation: the signature does not verify")
        }
    }

    private static func signedBytes(
        trust: TrustID, key: VerifyingKey, reason: Reason, since: String, issuedAt: String, signer: VerifyingKey
    ) -> [UInt8] {
        var encoder = CanonicalEncoder(domain: domain)
        encoder.append(trust.code)
        encoder.append(bytes: key.rawBytes)
        encoder.append(reason.rawValue)
        encoder.append(since)
        encoder.append(issuedAt)
        encoder.append(bytes: signer.rawBytes)
        return encoder.bytes
    }
}
