public import TrustMeshCrypto

/// A trust's root vouching for its node's online keys: the trust, the node's Ed25519 key (purpose
/// signing: records, requests, audit entries, tree heads) and X25519 key (purpose agreement), a
/// validity period and a serial, signed by the trust's **root** key, which stays off the node.
///
/// Peers believe a node key only through a certificate whose root is the trust's root in the
/// current membership document (``Membership``). A newer serial supersedes an older one: the older
/// key stays acceptable for a stated overlap after the newer one's `notBefore`, so work in flight
/// across a rotation is not refused. Two different certificates with one trust and serial are
/// equivocation by the root.
///
/// The signature covers ``signedBytes`` (domain `TrustMesh/KeyCertificate/v1`).
public struct KeyCertificate: Sendable, Hashable, Codable {
    /// The trust whose node holds the keys.
    public let trust: TrustID
    /// Increases with every certificate the trust's root issues.
    public let serial: UInt64
    /// The node's Ed25519 key (purpose: signing).
    public let signingKey: VerifyingKey
    /// The node's X25519 key (purpose: agreement).
    public let agreementKey: AgreementPublicKey
    /// First moment the keys may sign, `YYYY-MM-DDTHH:MM:SSZ`.
    public let notBefore: String
    /// Last moment the keys may sign, `YYYY-MM-DDTHH:MM:SSZ`.
    public let notAfter: String
    /// The root key that signed the certificate (must be the trust's root in the membership).
    public let root: VerifyingKey
    /// The root's Ed25519 signature of ``signedBytes``.
    public let signature: Signature

    /// The domain-separation string of certificates, version 1.
    public static let domain = "TrustMesh/KeyCertificate/v1"

    /// The canonical encoding of every field but the signature: ``domain``, NUL, then trust,
    /// serial, `signing`, the signing key, `agreement`, the agreement key, notBefore, notAfter and
    /// root, in ``CanonicalEncoder``'s forms (keys as raw bytes).
    public var signedBytes: [UInt8] {
        Self.signedBytes(
            trust: trust, serial: serial, signingKey: signingKey, agreementKey: agreementKey, notBefore: notBefore,
            notAfter: notAfter, root: root)
    }

    /// Issues a certificate with a root key.
    /// - Parameters:
    ///   - trust: The trust.
    ///   - serial: Greater than every serial the root issued before.
    ///   - signingKey: The node's signing key.
    ///   - agreementKey: The node's agreement key.
    ///   - notBefore: Start of validity.
    ///   - notAfter: End of validity.
    ///   - root: The trust's root key.
    public static func issue(
        trust: TrustID, serial: UInt64, signingKey: VerifyingKey, agreementKey: AgreementPublicKey, notBefore: String,
        notAfter: String, root: SigningKey
    ) -> KeyCertificate {
        let bytes = signedBytes(
            trust: trust, serial: serial, signingKey: signingKey, agreementKey: agreementKey, notBefore: notBefore,
            notAfter: notAfter, root: root.verifyingKey)
        return KeyCertificate(
            trust: trust, serial: serial, signingKey: signingKey, agreementKey: agreementKey, notBefore: notBefore,
            notAfter: notAfter, root: root.verifyingKey, signature: root.sign(bytes))
    }

    /// Assembles a certificate read back (nothing checked; see ``verify()``).
    public init(
        trust: TrustID, serial: UInt64, signingKey: VerifyingKey, agreementKey: AgreementPublicKey, notBefore: String,
        notAfter: String, root: VerifyingKey, signature: Signature
    ) {
        self.trust = trust
        self.serial = serial
        self.signingKey = signingKey
        self.agreementKey = agreementKey
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.root = root
        self.signature = signature
    }

    /// Checks the signature against ``root`` and that the period reads as two times in order.
    /// Whether ``root`` is the trust's root is the membership's question.
    /// - Throws: ``ModelError/network(_:)`` naming what is wrong.
    public func verify() throws(ModelError) {
        guard let start = Timestamp.date(notBefore), let end = Timestamp.date(notAfter), start <= end else {
            throw .network("\(trust) certificate #\(serial): the validity period is not two times in order")
        }
        do {
            try root.verify(signature, for: signedBytes)
        } catch {
            throw .network("\(trust) certificate #\(serial): the root's signature does not verify")
        }
    }

    private static func signedBytes(
        trust: TrustID, serial: UInt64, signingKey: VerifyingKey, agreementKey: AgreementPublicKey, notBefore: String,
        notAfter: String, root: VerifyingKey
    ) -> [UInt8] {
        var encoder = CanonicalEncoder(domain: domain)
        encoder.append(trust.code)
        encoder.append(serial)
        encoder.append("signing")
        encoder.append(bytes: signingKey.rawBytes)
        encoder.append("agreement")
        encoder.append(bytes: agreementKey.rawBytes)
        encoder.append(notBefore)
        encoder.append(notAfter)
        encoder.append(bytes: root.rawBytes)
        return encoder.bytes
    }
}
