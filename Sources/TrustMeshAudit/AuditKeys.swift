import Foundation
public import TrustMeshCrypto
public import TrustMeshModel

/// Where verification takes each trust's signing keys from: one key pinned per trust (a
/// topology), or a network file's membership, key certificates and revocations, which say which
/// keys a trust signed with **when**.
///
/// - **Pinned** (``init(pinned:)``): the trust's one key checks its log, walking back through
///   `keyChanged` entries to the keys before it (docs/AUDIT-FORMAT.md §6.1). A key that was
///   revoked, or a topology written before a rotation, cannot be told apart from a good one.
/// - **Network** (``init(network:pinned:)``): each entry, tree head and checkpoint is checked
///   against the keys of its trust valid at its own `time`, as ``NetworkDirectory/signingKeys(of:at:)``
///   answers: certified by the trust's current root, within the certificate's period, a superseded
///   key until its successor's `notBefore` plus the overlap, and nothing at or after the `since` of a
///   revocation of the key. An entry signed with a revoked key from `since` on fails as `revoked
///   key`, naming the revocation; one signed before stays valid. `keyChanged` entries are then
///   ordinary entries (the certificates, not the log, say which key was valid). Trusts the network
///   holds no certificate of from their current root (or that are not members) are checked with
///   `pinned`, if it has their key.
///
/// ```swift
/// let state = try JSONDecoder().decode(NetworkDirectory.State.self, from: networkFile)
/// let directory = try NetworkDirectory(pinned: state.memberships[0])
/// _ = directory.merge(state)
/// let result = AuditVerification(exports: exports, keys: AuditKeys(network: directory))
/// ```
public struct AuditKeys: Sendable {
    private let pinned: [TrustID: VerifyingKey]
    private let network: NetworkDirectory?
    /// The trusts the network decides for: members with a certificate from their current root.
    private let certified: Set<TrustID>

    /// One key per trust, as a topology pins it.
    /// - Parameter pinned: Each trust's current signing key.
    public init(pinned: [TrustID: VerifyingKey]) {
        self.pinned = pinned
        network = nil
        certified = []
    }

    /// The keys a network's signed statements say each trust held at each moment.
    /// - Parameters:
    ///   - network: The directory rebuilt from a network file (its first membership version pinned,
    ///     then every statement merged).
    ///   - pinned: Keys for trusts the network certifies none of (from a topology); optional.
    public init(network: NetworkDirectory, pinned: [TrustID: VerifyingKey] = [:]) {
        self.pinned = pinned
        self.network = network
        certified = Set(
            network.membership.members.filter { member in
                network.allCertificates(of: member.ods).contains { $0.root == member.root }
            }.map(\.ods))
    }

    /// How one trust's signatures are checked.
    enum Source: Sendable {
        /// Its one pinned key, following `keyChanged` entries back.
        case pinned(VerifyingKey)
        /// The keys the network's statements say were valid at each moment.
        case network(NetworkDirectory)
    }

    func source(of trust: TrustID) -> Source? {
        if let network, certified.contains(trust) { return .network(network) }
        return pinned[trust].map { .pinned($0) }
    }

    /// What a signature dated by its signer says about the key that made it.
    enum Judgement: Sendable {
        /// A key valid then made it.
        case signed(VerifyingKey)
        /// A key of the trust made it, but a revocation dated at or before the signature covers it.
        case revoked(KeyRevocation, certificate: KeyCertificate)
        /// A key of the trust made it, outside its certificate's period (before `notBefore`, after
        /// `notAfter`, or after its successor's `notBefore` plus the overlap).
        case notValid(KeyCertificate, successor: KeyCertificate?)
        /// No key of the trust made it.
        case unsigned
        /// Its time is not `YYYY-MM-DDTHH:MM:SSZ`, so no key can be chosen.
        case undated
    }

    /// Which of `trust`'s keys valid at `time` made a signature, or why none did.
    /// - Parameters:
    ///   - source: How the trust's signatures are checked.
    ///   - trust: The signer.
    ///   - time: The signed thing's own time.
    ///   - logKeys: In pinned mode, the keys to try (the key in force in the log, then the pinned key).
    ///   - verifies: Whether a key made the signature.
    static func judge(
        _ source: Source, trust: TrustID, time: String, logKeys: [VerifyingKey] = [],
        verifies: (VerifyingKey) -> Bool
    ) -> Judgement {
        switch source {
        case .pinned(let pinned):
            let candidates = logKeys.isEmpty ? [pinned] : logKeys
            return candidates.first(where: verifies).map { .signed($0) } ?? .unsigned
        case .network(let directory):
            guard let date = CareTime.parse(time) else { return .undated }
            if let key = directory.signingKeys(of: trust, at: date).first(where: verifies) { return .signed(key) }
            // Why not: a certified key of the trust made it, revoked or outside its period.
            guard let root = directory.membership.member(trust)?.root else { return .unsigned }
            let certificates = directory.allCertificates(of: trust).filter { $0.root == root }
            guard let index = certificates.firstIndex(where: { verifies($0.signingKey) }) else { return .unsigned }
            let certificate = certificates[index]
            let revocation = directory.state.revocations.filter {
                $0.key == certificate.signingKey && (Timestamp.date($0.since).map { $0 <= date } ?? false)
            }.min { (Timestamp.date($0.since) ?? date) < (Timestamp.date($1.since) ?? date) }
            if let revocation { return .revoked(revocation, certificate: certificate) }
            return .notValid(certificate, successor: index + 1 < certificates.count ? certificates[index + 1] : nil)
        }
    }
}

extension AuditKeys.Judgement {
    /// The key that made the signature, if one valid then did.
    var key: VerifyingKey? {
        if case .signed(let key) = self { return key }
        return nil
    }

    /// Why an entry's signature is refused, as its failure (`nil` if a key valid then made it).
    func problem(trust: TrustID, sequence: UInt64, time: String, source: AuditKeys.Source) -> AuditError? {
        switch self {
        case .signed: nil
        case .revoked(let revocation, let certificate):
            .revokedKey(trust: trust, sequence: sequence, revocation: revocation, serial: certificate.serial)
        case .notValid(let certificate, let successor):
            .keyNotValid(
                trust: trust, sequence: sequence, certificate: certificate, successor: successor,
                overlapSeconds: source.overlap, time: time)
        case .unsigned: .badSignature(trust: trust, sequence: sequence)
        case .undated: .malformedTime(trust: trust, sequence: sequence, time: time)
        }
    }

    /// For a refused tree head or checkpoint: the key's revocation or period, when that is why.
    func why(time: String, source: AuditKeys.Source) -> String? {
        switch self {
        case .revoked(let revocation, let certificate):
            AuditError.revokedWords(revocation, serial: certificate.serial)
        case .notValid(let certificate, let successor):
            AuditError.notValidWords(certificate, successor: successor, overlap: source.overlap, time: time)
        case .signed, .unsigned, .undated: nil
        }
    }
}

extension AuditKeys.Source {
    /// How long a superseded key stays valid after its successor's `notBefore` (0 when pinned).
    var overlap: Double {
        if case .network(let directory) = self { return directory.overlap }
        return 0
    }
}
