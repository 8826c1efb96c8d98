import TrustMeshModel

/// The answer to "what imaging exists for this patient, anywhere?", from the node's own copy of the
/// federated index: no other node is asked, so the time does not grow with the number of trusts.
public struct FederatedQueryResult: Codable, Sendable, Equatable {
    /// One study at one trust.
    public struct Study: Codable, Sendable, Equatable {
        public var studyInstanceUID: String
        /// The ODS code of the trust that holds it.
        public var holder: String
        /// The holding trust's name, when the topology names it.
        public var holderName: String?
        public var studyDate: String?
        public var modalities: [String]
        public var bodyParts: [String]
        public var description: String?
        public var accessionNumber: String?
        public var seriesCount: Int
        public var instanceCount: Int
        public var sizeBytes: Int
        /// Whether this node holds a copy.
        public var localCopy: Bool

        /// A study as a query lists it.
        public init(
            studyInstanceUID: String, holder: String, holderName: String? = nil, studyDate: String?,
            modalities: [String], bodyParts: [String], description: String? = nil, accessionNumber: String? = nil,
            seriesCount: Int = 0, instanceCount: Int = 0, sizeBytes: Int = 0, localCopy: Bool
        ) {
            self.studyInstanceUID = studyInstanceUID
            self.holder = holder
            self.holderName = holderName
            self.studyDate = studyDate
            self.modalities = modalities
            self.bodyParts = bodyParts
            self.description = description
            self.accessionNumber = accessionNumber
            self.seriesCount = seriesCount
            self.instanceCount = instanceCount
            self.sizeBytes = sizeBytes
            self.localCopy = localCopy
        }
    }

    /// The patient's NHS number, ten digits.
    /// - Warning: identifies a patient.
    public var nhsNumber: String
    /// The patient has opted out of sharing: no study is listed or shared anywhere.
    public var optedOut: Bool
    /// Newest first.
    public var studies: [Study]

    /// An answer.
    public init(nhsNumber: String, optedOut: Bool, studies: [Study]) {
        self.nhsNumber = nhsNumber
        self.optedOut = optedOut
        self.studies = studies
    }
}
