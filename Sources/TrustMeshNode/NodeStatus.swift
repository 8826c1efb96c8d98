import TrustMeshDIMSE

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
    /// The DICOM listener, when the node runs one.
    public var dicom: DICOMListener? = nil

    /// The DICOM listener's address and counters.
    public struct DICOMListener: Codable, Sendable {
        public var port: Int
        public var aeTitle: String
        public var associationsAccepted: Int
        public var associationsRejected: Int
        public var associationsAborted: Int
        public var activeAssociations: Int
        public var echoes: Int
        public var instancesStored: Int
        public var storesFailed: Int
        public var queries: Int
        public var bytesReceived: Int
        /// C-MOVE requests, and the instances and bytes their sub-operations sent.
        public var moves: Int
        public var instancesSent: Int
        public var bytesSent: Int

        init(_ statistics: DIMSEServer.Statistics) {
            port = statistics.port
            aeTitle = statistics.aeTitle
            associationsAccepted = statistics.associationsAccepted
            associationsRejected = statistics.associationsRejected
            associationsAborted = statistics.associationsAborted
            activeAssociations = statistics.active
            echoes = statistics.echoes
            instancesStored = statistics.instancesStored
            storesFailed = statistics.storesFailed
            queries = statistics.finds
            bytesReceived = statistics.bytesReceived
            moves = statistics.moves
            instancesSent = statistics.instancesSent
            bytesSent = statistics.bytesSent
        }
    }
}
