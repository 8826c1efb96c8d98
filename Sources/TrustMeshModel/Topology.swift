public import TrustMeshCrypto

/// The trusts of a network: who they are, where their nodes listen, and the public keys every node
/// pins. A node talks only to peers listed here, and believes a record or request only if it is
/// signed by the key listed for its origin.
///
/// The JSON form, as shipped in `Topology/` (keys are absent in a template and filled in by
/// `trustmesh network create`):
/// ```json
/// { "name": "West Midlands", "trusts": [
///   { "ods": "RRK", "name": "University Hospitals Birmingham NHS Foundation Trust",
///     "address": "127.0.0.1:7401", "signingKey": "…base64…", "agreementKey": "…base64…" } ] }
/// ```
public struct Topology: Codable, Sendable, Equatable {
    /// One trust's entry.
    public struct Trust: Codable, Sendable, Equatable {
        public var ods: TrustID
        public var name: String
        /// `host:port` of the node's HTTP listener.
        public var address: String
        /// Ed25519 key that signs the trust's records and requests; nil in a template.
        public var signingKey: VerifyingKey?
        /// X25519 key that payloads to the trust are sealed to; nil in a template.
        public var agreementKey: AgreementPublicKey?
        /// Signing keys the trust rotated away from whose overlap has not ended: a request signed
        /// with one is still accepted (in-flight work across a rotation). Empty in a file.
        public var previousSigningKeys: [VerifyingKey] = []

        /// Every signing key a request from the trust may carry now: ``signingKey`` first.
        public var acceptedSigningKeys: [VerifyingKey] { (signingKey.map { [$0] } ?? []) + previousSigningKeys }

        private enum CodingKeys: String, CodingKey {
            case ods, name, address, signingKey, agreementKey
        }

        public init(
            ods: TrustID, name: String, address: String, signingKey: VerifyingKey? = nil,
            agreementKey: AgreementPublicKey? = nil
        ) {
            self.ods = ods
            self.name = name
            self.address = address
            self.signingKey = signingKey
            self.agreementKey = agreementKey
        }

        /// The host and port of ``address``.
        /// - Throws: ``ModelError/topology(_:)`` if it is not `host:port`.
        public func hostAndPort() throws(ModelError) -> (host: String, port: Int) {
            guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
                (1...65535).contains(port)
            else {
                throw .topology("\(ods): address '\(address)' is not host:port")
            }
            return (String(address[..<colon]), port)
        }
    }

    public var name: String
    public var trusts: [Trust]

    public init(name: String, trusts: [Trust]) {
        self.name = name
        self.trusts = trusts
    }

    /// The entry for a trust, if listed.
    public func trust(_ id: TrustID) -> Trust? { trusts.first { $0.ods == id } }

    /// Checks that codes are unique, addresses parse and are unique, and (when `requireKeys`) that
    /// every trust has both keys.
    /// - Throws: ``ModelError/topology(_:)`` naming the first problem.
    public func validate(requireKeys: Bool) throws(ModelError) {
        var codes: Set<TrustID> = []
        var addresses: Set<String> = []
        guard !trusts.isEmpty else { throw .topology("the topology lists no trusts") }
        for trust in trusts {
            guard codes.insert(trust.ods).inserted else { throw .topology("\(trust.ods) is listed twice") }
            _ = try trust.hostAndPort()
            guard addresses.insert(trust.address).inserted else {
                throw .topology("\(trust.ods): address \(trust.address) is used by another trust")
            }
            if requireKeys && (trust.signingKey == nil || trust.agreementKey == nil) {
                throw .topology("\(trust.ods) has no public keys: create the network with `trustmesh network create`")
            }
        }
    }
}
