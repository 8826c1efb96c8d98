public import TrustMeshCrypto

/// The network's membership: which trusts belong, each one's root key and peer address, the
/// network policy, and how many member roots must sign the next version (k of n, stated here).
///
/// Like TUF's root metadata: version 1 is signed by ``threshold`` of its own members and pinned by
/// hand (`network create`, or the file a joining trust is given); version N+1 is believed only when
/// signed by the threshold of version N's members **and** by its own threshold of its own members.
/// A member whose root key changes between N and N+1 does not count towards N's threshold (a lost
/// or stolen root is replaced by the *other* trusts). Nodes pass newer versions by gossip and apply
/// them without a restart. Two different documents with one version, both validly signed, are
/// equivocation.
public struct Membership: Sendable, Hashable, Codable {
    /// One member trust.
    public struct Member: Sendable, Hashable, Codable {
        public var ods: TrustID
        public var name: String
        /// `host:port` of the node's peer listener.
        public var address: String
        /// The trust's root key, which certifies its node keys (``KeyCertificate``).
        public var root: VerifyingKey

        public init(ods: TrustID, name: String, address: String, root: VerifyingKey) {
            self.ods = ods
            self.name = name
            self.address = address
            self.root = root
        }
    }

    /// The network's name.
    public var network: String
    /// 1 for the first document; each next one is one more.
    public var version: UInt64
    /// How many members' roots must sign the next version (and this one).
    public var threshold: Int
    /// The members, sorted by ODS code.
    public var members: [Member]
    /// The network policy every node applies (`policy.json`'s text), if the document carries one.
    public var policy: String?
    /// When the version was drafted, `YYYY-MM-DDTHH:MM:SSZ`.
    public var issuedAt: String

    public init(
        network: String, version: UInt64, threshold: Int, members: [Member], policy: String? = nil, issuedAt: String
    ) {
        self.network = network
        self.version = version
        self.threshold = threshold
        self.members = members.sorted { $0.ods < $1.ods }
        self.policy = policy
        self.issuedAt = issuedAt
    }

    /// The entry for a trust, if a member.
    public func member(_ ods: TrustID) -> Member? { members.first { $0.ods == ods } }

    /// The domain-separation string of membership documents, version 1.
    public static let domain = "TrustMesh/Membership/v1"

    /// The canonical encoding: ``domain``, NUL, network, version, threshold, member count, each
    /// member's ODS code, name, address and root key (raw), the policy (optional) and issuedAt.
    public var signedBytes: [UInt8] {
        var encoder = CanonicalEncoder(domain: Self.domain)
        encoder.append(network)
        encoder.append(version)
        encoder.append(threshold)
        encoder.append(members.count)
        for member in members.sorted(by: { $0.ods < $1.ods }) {
            encoder.append(member.ods.code)
            encoder.append(member.name)
            encoder.append(member.address)
            encoder.append(bytes: member.root.rawBytes)
        }
        encoder.append(optional: policy)
        encoder.append(issuedAt)
        return encoder.bytes
    }

    /// Checks the document's own shape: members unique by code and address, addresses
    /// `host:port`, threshold between 1 and the member count.
    /// - Throws: ``ModelError/network(_:)`` naming the first problem.
    public func validate() throws(ModelError) {
        guard !members.isEmpty else { throw .network("version \(version) lists no trusts") }
        guard (1...members.count).contains(threshold) else {
            throw .network("version \(version): threshold \(threshold) is not between 1 and \(members.count)")
        }
        guard Timestamp.date(issuedAt) != nil else { throw .network("version \(version): issuedAt is not a time") }
        do {
            try topology.validate(requireKeys: false)
        } catch {
            throw .network("version \(version): \(error)")
        }
    }

    /// The members as a topology without node keys (those come from certificates).
    public var topology: Topology {
        Topology(name: network, trusts: members.map { Topology.Trust(ods: $0.ods, name: $0.name, address: $0.address) })
    }
}

/// A membership document and the member roots' signatures of it.
public struct SignedMembership: Sendable, Hashable, Codable {
    /// One member root's signature.
    public struct Signer: Sendable, Hashable, Codable {
        public var ods: TrustID
        public var signature: Signature

        public init(ods: TrustID, signature: Signature) {
            self.ods = ods
            self.signature = signature
        }
    }

    public var membership: Membership
    /// Signatures by member roots (of this version or the one before), at most one per trust.
    public var signatures: [Signer]

    public init(_ membership: Membership, signatures: [Signer] = []) {
        self.membership = membership
        self.signatures = signatures
    }

    /// Adds (or replaces) `ods`'s signature made with `root`.
    public mutating func sign(as ods: TrustID, root: SigningKey) {
        signatures.removeAll { $0.ods == ods }
        signatures.append(Signer(ods: ods, signature: root.sign(membership.signedBytes)))
        signatures.sort { $0.ods < $1.ods }
    }

    /// The trusts of `members` whose root (as `members` lists it) signed this document.
    public func signers(among members: [Membership.Member]) -> Set<TrustID> {
        let bytes = membership.signedBytes
        var valid: Set<TrustID> = []
        for signer in signatures {
            guard let member = members.first(where: { $0.ods == signer.ods }) else { continue }
            if (try? member.root.verify(signer.signature, for: bytes)) != nil { valid.insert(signer.ods) }
        }
        return valid
    }

    /// Checks a first document: well formed, version 1 or any version taken as the starting point
    /// (a joining trust's pinned copy), and signed by its own threshold of its own members.
    /// - Throws: ``ModelError/network(_:)`` naming what is missing.
    public func verifyAsPinned() throws(ModelError) {
        try membership.validate()
        let own = signers(among: membership.members)
        guard own.count >= membership.threshold else {
            throw .network(
                "version \(membership.version) is signed by \(own.count) of its members, its threshold is \(membership.threshold)"
            )
        }
    }

    /// Checks this document as the successor of `previous` (TUF's rule): version one more,
    /// well formed, signed by `previous`'s threshold of `previous`'s members whose root is
    /// unchanged, and by its own threshold of its own members.
    /// - Throws: ``ModelError/network(_:)`` naming the rule that failed.
    public func verify(after previous: Membership) throws(ModelError) {
        let version = membership.version
        guard version == previous.version + 1 else {
            throw .network("version \(version) cannot follow version \(previous.version)")
        }
        guard membership.network == previous.network else {
            throw .network("version \(version) names network '\(membership.network)', not '\(previous.network)'")
        }
        try membership.validate()
        let unchanged = previous.members.filter { old in membership.member(old.ods)?.root ?? old.root == old.root }
        let old = signers(among: unchanged)
        guard old.count >= previous.threshold else {
            let replaced = previous.members.count - unchanged.count
            throw .network(
                "version \(version) is signed by \(old.count) of version \(previous.version)'s members"
                    + (replaced > 0 ? " whose roots it keeps (\(replaced) replaced)" : "")
                    + "; \(previous.threshold) are needed")
        }
        let own = signers(among: membership.members)
        guard own.count >= membership.threshold else {
            throw .network(
                "version \(version) is signed by \(own.count) of its own members; its threshold is \(membership.threshold)"
            )
        }
    }
}
