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

extension FederatedQueryResult {
    /// The answer as `JSONEncoder` with sorted keys writes it (the local API's form: nil fields left
    /// out, `/` written `\/`), byte for byte, written directly: a 40-study answer took 0.4 ms through
    /// the encoder, a third of the query.
    public var json: [UInt8] {
        var answer = JSONText.Object(capacity: 64 + studies.count * 448)
        answer.field("nhsNumber", nhsNumber)
        answer.field("optedOut", optedOut)
        answer.field("studies", objects: studies.map(\.json))
        return answer.closed()
    }
}

extension FederatedQueryResult.Study {
    /// The study's object, keys in sorted order.
    fileprivate var json: JSONText.Object {
        var study = JSONText.Object(capacity: 448)
        study.field("accessionNumber", accessionNumber)
        study.field("bodyParts", bodyParts)
        study.field("description", description)
        study.field("holder", holder)
        study.field("holderName", holderName)
        study.field("instanceCount", instanceCount)
        study.field("localCopy", localCopy)
        study.field("modalities", modalities)
        study.field("seriesCount", seriesCount)
        study.field("sizeBytes", sizeBytes)
        study.field("studyDate", studyDate)
        study.field("studyInstanceUID", studyInstanceUID)
        return study
    }
}
