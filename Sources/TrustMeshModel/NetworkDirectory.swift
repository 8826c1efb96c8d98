public import Foundation
import Synchronization
public import TrustMeshCrypto

/// What a node believes about the network now: the membership document's chain of versions, the
/// trusts' key certificates and the key revocations it holds, all signed, merged as they arrive
/// (from the node's own folder, a command, or gossip), and the answers every verifier asks of them
/// (``Keyring``): who is a member, which keys a trust signed with at a given moment, which node
/// keys and addresses to use now (``topology(at:)``).
///
/// Nothing unsigned changes it: a membership version must follow the one held by TUF's rule
/// (``SignedMembership/verify(after:)``), a certificate must be signed by the trust's root in the
/// current membership, a revocation by that root or by the revoked key itself. Two statements
/// that cannot both be true (two versions with one number, two certificates with one serial) are
/// returned as ``Outcome/conflict(_:)`` and the first one stays.
///
/// The rules for a key at a moment `t` (``signingKeys(of:at:)``): a certificate of the trust from
/// its current root, `notBefore ≤ t ≤ notAfter`; if a certificate with a higher serial exists,
/// `t` before the next one's `notBefore` plus ``overlap``; and `t` before the earliest `since` of
/// any revocation of the key.
public final class NetworkDirectory: Keyring, Sendable {
    /// Everything the directory holds, in a stable order (what is stored and gossiped).
    public struct State: Sendable, Hashable, Codable {
        public var memberships: [SignedMembership]
        public var certificates: [KeyCertificate]
        public var revocations: [KeyRevocation]

        public init(
            memberships: [SignedMembership] = [], certificates: [KeyCertificate] = [],
            revocations: [KeyRevocation] = []
        ) {
            self.memberships = memberships
            self.certificates = certificates
            self.revocations = revocations
        }
    }

    /// Two signed statements that cannot both be true.
    public struct Conflict: Sendable, Hashable {
        /// `membership` or `certificate`.
        public var kind: String
        /// The trust that signed both (for a membership, the network's name is not a trust: the
        /// first member whose signature is on both).
        public var trust: TrustID
        /// The version or serial both claim.
        public var number: UInt64
        /// Why they conflict, in words.
        public var reason: String
        /// The statement held, and the other, as JSON.
        public var held: String
        public var other: String
    }

    /// A statement taken in.
    public enum Applied: Sendable, Hashable, CustomStringConvertible {
        /// A newer membership version; the text says what changed.
        case membership(SignedMembership, changes: String)
        case certificate(KeyCertificate)
        case revocation(KeyRevocation)

        public var description: String {
            switch self {
            case .membership(_, let changes): changes
            case .certificate(let certificate): "\(certificate.trust) certificate #\(certificate.serial)"
            case .revocation(let revocation):
                "\(revocation.trust) key \(revocation.key.base64.prefix(8))… \(revocation.reason.rawValue) since \(revocation.since)"
            }
        }
    }

    /// What applying a statement did.
    public enum Outcome: Sendable, Hashable {
        /// Taken in.
        case applied(Applied)
        /// Already held.
        case known
        /// Not believed (now): the text says why. It may become acceptable later (a certificate
        /// whose trust joins in a membership version not yet held).
        case refused(String)
        /// Contradicts a statement held.
        case conflict(Conflict)
    }

    private struct Inner {
        var memberships: [SignedMembership]
        var certificates: [TrustID: [KeyCertificate]] = [:]
        var revocations: [KeyRevocation] = []
        var generation = 0
    }

    private let inner: Mutex<Inner>
    private let digestCache = Mutex<(generation: Int, digest: Digest256)?>(nil)
    private let inventoryCache = Mutex<(generation: Int, parts: [String: String])?>(nil)
    /// How long a superseded key stays acceptable after its successor's `notBefore`.
    public let overlap: TimeInterval

    /// A directory starting from a pinned membership document.
    /// - Parameters:
    ///   - pinned: The document taken on trust (version 1 from `network create`, or the copy a
    ///     joining trust was given); it must be signed by its own threshold.
    ///   - overlap: How long a superseded key is still accepted (default 10 minutes).
    /// - Throws: ``ModelError/network(_:)`` if the pinned document is not signed by its threshold.
    public init(pinned: SignedMembership, overlap: TimeInterval = 600) throws(ModelError) {
        try pinned.verifyAsPinned()
        inner = Mutex(Inner(memberships: [pinned]))
        self.overlap = overlap
    }

    // MARK: Reading

    /// The current membership document.
    public var membership: Membership { inner.withLock { $0.memberships.last!.membership } }

    /// The current signed membership document.
    public var signedMembership: SignedMembership { inner.withLock { $0.memberships.last! } }

    /// Increases with every statement applied (cheap change detection).
    public var generation: Int { inner.withLock { $0.generation } }

    public var members: [TrustID] { membership.members.map(\.ods) }

    /// Everything held, in a stable order.
    public var state: State {
        inner.withLock { inner in
            State(
                memberships: inner.memberships,
                certificates: inner.certificates.keys.sorted().flatMap { inner.certificates[$0]! },
                revocations: inner.revocations)
        }
    }

    /// A hash of ``state``: two directories with equal digests hold the same statements. Computed
    /// once per change (``generation``).
    public var digest: Digest256 {
        let generation = self.generation
        if let cached = digestCache.withLock({ $0 }), cached.generation == generation { return cached.digest }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let digest = BLAKE2b256.hash(Array((try? encoder.encode(state)) ?? Data()))
        digestCache.withLock { $0 = (generation, digest) }
        return digest
    }

    /// The prefix of ``inventory``'s names for membership versions (`membership:3`).
    public static let membershipEntry = "membership"

    /// A short hash per part of what the directory holds: each membership version (under
    /// `membership:N`) and each trust's certificates and revocations (under its ODS code).
    /// Two directories differ exactly in the parts whose hashes differ, so gossip sends only those
    /// (``state(of:)``), not everything.
    public var inventory: [String: String] {
        let generation = self.generation
        if let cached = inventoryCache.withLock({ $0 }), cached.generation == generation { return cached.parts }
        let state = self.state
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        func short(_ value: some Encodable) -> String {
            String(BLAKE2b256.hash(Array((try? encoder.encode(value)) ?? Data())).hex.prefix(16))
        }
        var parts: [String: String] = [:]
        for signed in state.memberships {
            parts[Self.membershipEntry + ":\(signed.membership.version)"] = short(signed)
        }
        var byTrust: [TrustID: State] = [:]
        for certificate in state.certificates {
            byTrust[certificate.trust, default: State()].certificates.append(certificate)
        }
        for revocation in state.revocations {
            byTrust[revocation.trust, default: State()].revocations.append(revocation)
        }
        for (trust, part) in byTrust { parts[trust.code] = short(part) }
        inventoryCache.withLock { $0 = (generation, parts) }
        return parts
    }

    /// The statements of the parts named (``inventory``'s keys).
    public func state(of parts: Set<String>) -> State {
        let state = self.state
        return State(
            memberships: state.memberships.filter {
                parts.contains(Self.membershipEntry + ":\($0.membership.version)")
            },
            certificates: state.certificates.filter { parts.contains($0.trust.code) },
            revocations: state.revocations.filter { parts.contains($0.trust.code) })
    }

    public func signingKeys(of trust: TrustID, at time: Date) -> [VerifyingKey] {
        inner.withLock { inner in Self.valid(inner, trust: trust, at: time, overlap: overlap).map(\.signingKey) }
    }

    /// The certificates of `trust` valid at `time`, newest serial first.
    public func certificates(of trust: TrustID, at time: Date) -> [KeyCertificate] {
        inner.withLock { inner in Self.valid(inner, trust: trust, at: time, overlap: overlap) }
    }

    /// Every certificate held for `trust`, by serial.
    public func allCertificates(of trust: TrustID) -> [KeyCertificate] {
        inner.withLock { $0.certificates[trust] ?? [] }
    }

    /// Revocations held for `trust`.
    public func revocations(of trust: TrustID) -> [KeyRevocation] {
        inner.withLock { $0.revocations.filter { $0.trust == trust } }
    }

    /// The earliest moment from which `key` is revoked, if it is.
    public func revokedSince(_ key: VerifyingKey) -> Date? {
        inner.withLock { Self.revokedSince(key, in: $0) }
    }

    /// The network as a topology at `time`: every member with the keys of its newest valid
    /// certificate, and the other keys still valid (a rotation's overlap) as
    /// ``Topology/Trust/previousSigningKeys``. A member with no valid certificate has no keys (its
    /// requests are refused as from an unknown peer).
    public func topology(at time: Date = Date()) -> Topology {
        inner.withLock { inner in
            let membership = inner.memberships.last!.membership
            var topology = membership.topology
            for index in topology.trusts.indices {
                let valid = Self.valid(inner, trust: topology.trusts[index].ods, at: time, overlap: overlap)
                guard let newest = valid.first else { continue }
                topology.trusts[index].signingKey = newest.signingKey
                topology.trusts[index].agreementKey = newest.agreementKey
                topology.trusts[index].previousSigningKeys = valid.dropFirst().map(\.signingKey)
            }
            return topology
        }
    }

    // MARK: Applying

    /// Applies every statement of `state`: memberships by version, then certificates, then
    /// revocations.
    /// - Returns: The outcome of each statement that was not already held.
    public func merge(_ state: State) -> [Outcome] {
        var outcomes: [Outcome] = []
        for membership in state.memberships.sorted(by: { $0.membership.version < $1.membership.version }) {
            let outcome = apply(membership)
            if outcome != .known { outcomes.append(outcome) }
        }
        for certificate in state.certificates {
            let outcome = apply(certificate)
            if outcome != .known { outcomes.append(outcome) }
        }
        for revocation in state.revocations {
            let outcome = apply(revocation)
            if outcome != .known { outcomes.append(outcome) }
        }
        return outcomes
    }

    /// Applies a membership version: the next one after the current, checked by TUF's rule.
    public func apply(_ signed: SignedMembership) -> Outcome {
        inner.withLock { inner in
            let version = signed.membership.version
            if let held = inner.memberships.first(where: { $0.membership.version == version }) {
                // The same document with other signatures is the same version: the one held stands.
                if held.membership == signed.membership { return .known }
                // Only evidence if the other one is validly signed too.
                let previous = inner.memberships.first { $0.membership.version == version - 1 }?.membership
                let valid: Bool
                if let previous {
                    valid = (try? signed.verify(after: previous)) != nil
                } else {
                    valid = (try? signed.verifyAsPinned()) != nil
                }
                guard valid else {
                    return .refused("version \(version) is held with other content, and this one is not validly signed")
                }
                let both = signed.signers(among: signed.membership.members).intersection(
                    held.signers(among: held.membership.members))
                return .conflict(
                    Conflict(
                        kind: "membership", trust: both.sorted().first ?? held.membership.members[0].ods,
                        number: version,
                        reason: "two membership documents with version \(version), both signed by a threshold",
                        held: Self.json(held), other: Self.json(signed)))
            }
            let current = inner.memberships.last!.membership
            guard version == current.version + 1 else {
                return .refused(
                    version < current.version
                        ? "version \(version) is older than the current \(current.version)"
                        : "version \(version) cannot follow the current \(current.version) (missing versions)")
            }
            do {
                try signed.verify(after: current)
            } catch {
                return .refused("\(error)")
            }
            inner.memberships.append(signed)
            inner.generation += 1
            return .applied(.membership(signed, changes: Self.changes(from: current, to: signed.membership)))
        }
    }

    /// Applies a key certificate: signed by the trust's current root, a serial not held with
    /// other content.
    public func apply(_ certificate: KeyCertificate) -> Outcome {
        inner.withLock { inner in
            let trust = certificate.trust
            if let held = inner.certificates[trust]?.first(where: { $0.serial == certificate.serial }) {
                if held == certificate { return .known }
                guard (try? certificate.verify()) != nil, certificate.root == held.root else {
                    return .refused("\(trust) certificate #\(certificate.serial) is held with other content")
                }
                return .conflict(
                    Conflict(
                        kind: "certificate", trust: trust, number: certificate.serial,
                        reason:
                            "two certificates of \(trust) with serial \(certificate.serial), both signed by its root",
                        held: Self.json(held), other: Self.json(certificate)))
            }
            guard let member = inner.memberships.last!.membership.member(trust) else {
                return .refused("\(trust) is not a member of the network")
            }
            guard certificate.root == member.root else {
                return .refused("\(trust) certificate #\(certificate.serial) is not signed by \(trust)'s root")
            }
            do {
                try certificate.verify()
            } catch {
                return .refused("\(error)")
            }
            inner.certificates[trust, default: []].append(certificate)
            inner.certificates[trust]!.sort { $0.serial < $1.serial }
            inner.generation += 1
            return .applied(.certificate(certificate))
        }
    }

    /// Applies a revocation signed by the trust's current root or by the revoked key itself (a key
    /// the trust's root certified).
    public func apply(_ revocation: KeyRevocation) -> Outcome {
        inner.withLock { inner in
            if inner.revocations.contains(revocation) { return .known }
            let trust = revocation.trust
            guard let member = inner.memberships.last!.membership.member(trust) else {
                return .refused("\(trust) is not a member of the network")
            }
            // Only a key certified to this trust: one trust's root cannot revoke another's key.
            let certified = (inner.certificates[trust] ?? []).contains { $0.signingKey == revocation.key }
            guard certified else {
                return .refused("\(trust) revocation: the key is not one of \(trust)'s certified keys")
            }
            guard revocation.isSelfRevocation || revocation.signer == member.root else {
                return .refused("\(trust) revocation: not signed by \(trust)'s root or by the key itself")
            }
            do {
                try revocation.verify()
            } catch {
                return .refused("\(error)")
            }
            inner.revocations.append(revocation)
            inner.revocations.sort {
                ($0.trust, $0.since, $0.signature.base64) < ($1.trust, $1.since, $1.signature.base64)
            }
            inner.generation += 1
            return .applied(.revocation(revocation))
        }
    }

    // MARK: Internals

    private static func valid(_ inner: Inner, trust: TrustID, at time: Date, overlap: TimeInterval) -> [KeyCertificate]
    {
        guard let member = inner.memberships.last!.membership.member(trust) else { return [] }
        let certificates = (inner.certificates[trust] ?? []).filter { $0.root == member.root }
        var valid: [KeyCertificate] = []
        for (index, certificate) in certificates.enumerated() {
            guard let start = Timestamp.date(certificate.notBefore), let end = Timestamp.date(certificate.notAfter),
                start <= time, time <= end
            else { continue }
            if index + 1 < certificates.count, let next = Timestamp.date(certificates[index + 1].notBefore),
                time >= next + overlap
            {
                continue
            }
            if let since = revokedSince(certificate.signingKey, in: inner), time >= since { continue }
            valid.append(certificate)
        }
        return valid.reversed()
    }

    private static func revokedSince(_ key: VerifyingKey, in inner: Inner) -> Date? {
        inner.revocations.filter { $0.key == key }.compactMap { Timestamp.date($0.since) }.min()
    }

    private static func json(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// What changed between two versions, in words.
    static func changes(from old: Membership, to new: Membership) -> String {
        var parts: [String] = []
        let joined = new.members.filter { old.member($0.ods) == nil }.map(\.ods.code)
        let left = old.members.filter { new.member($0.ods) == nil }.map(\.ods.code)
        if !joined.isEmpty { parts.append("joined: " + joined.joined(separator: ", ")) }
        if !left.isEmpty { parts.append("left: " + left.joined(separator: ", ")) }
        for member in new.members {
            guard let before = old.member(member.ods) else { continue }
            if before.address != member.address { parts.append("\(member.ods) moved to \(member.address)") }
            if before.root != member.root { parts.append("\(member.ods)'s root replaced") }
            if before.name != member.name { parts.append("\(member.ods) renamed") }
        }
        if old.threshold != new.threshold { parts.append("threshold \(old.threshold) → \(new.threshold)") }
        if old.policy != new.policy { parts.append("network policy changed") }
        return "version \(new.version)" + (parts.isEmpty ? "" : ": " + parts.joined(separator: "; "))
    }
}
