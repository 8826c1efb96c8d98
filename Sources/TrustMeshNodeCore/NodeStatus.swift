/// What a node's `/api/v1/status` reports to operators.
public struct NodeStatus: Codable, Sendable {
    public struct Peer: Codable, Sendable {
        public var ods: String
        public var name: String
        public var address: String
        /// Index records held from this trust.
        public var records: Int

        package init(ods: String, name: String, address: String, records: Int) {
            self.ods = ods
            self.name = name
            self.address = address
            self.records = records
        }
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

    package init(
        trust: String, name: String, address: String, peers: [Peer], ownRecords: Int, studies: Int, instances: Int,
        storedBytes: Int, gossipRounds: Int, failedExchanges: Int, acceptedRecords: Int, rejectedRecords: Int,
        refusals: [String: Int], dicom: DICOMListener?
    ) {
        self.trust = trust
        self.name = name
        self.address = address
        self.peers = peers
        self.ownRecords = ownRecords
        self.studies = studies
        self.instances = instances
        self.storedBytes = storedBytes
        self.gossipRounds = gossipRounds
        self.failedExchanges = failedExchanges
        self.acceptedRecords = acceptedRecords
        self.rejectedRecords = rejectedRecords
        self.refusals = refusals
        self.dicom = dicom
    }

    /// The DICOM listener's address and counters.
    public struct DICOMListener: Codable, Sendable {
        public var port: Int = 0
        public var aeTitle: String = ""
        public var associationsAccepted: Int = 0
        public var associationsRejected: Int = 0
        public var associationsAborted: Int = 0
        public var activeAssociations: Int = 0
        public var echoes: Int = 0
        public var instancesStored: Int = 0
        public var storesFailed: Int = 0
        public var queries: Int = 0
        public var bytesReceived: Int = 0
        /// C-MOVE requests, and the instances and bytes their sub-operations sent.
        public var moves: Int = 0
        public var instancesSent: Int = 0
        public var bytesSent: Int = 0

        /// An empty listener record, filled in by the node that runs the listener.
        package init() {}
    }
}
