/// What a node's `/api/v1/status` reports to operators.
public struct NodeStatus: Codable, Sendable {
    public struct Peer: Codable, Sendable {
        public var ods: String
        public var name: String
        public var address: String
        /// Index records held from this trust.
        public var records: Int
    }

    public var trust: String
    public var name: String
    public var address: String
    public var peers: [Peer]
    /// Records held from this node itself.
    public var ownRecords: Int
    public var studies: Int
    public var instances: Int
    public var storedBytes: Int
    public var gossipRounds: Int
    public var failedExchanges: Int
    public var acceptedRecords: Int
    public var rejectedRecords: Int
    /// Peer requests refused, by wire code.
    public var refusals: [String: Int]
}
