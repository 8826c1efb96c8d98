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
        var out: [UInt8] = []
        out.reserveCapacity(64 + studies.count * 448)
        out.append(UInt8(ascii: "{"))
        JSONText.append(key: "nhsNumber", to: &out)
        JSONText.append(string: nhsNumber, to: &out, escapingSlashes: true)
        out.append(UInt8(ascii: ","))
        JSONText.append(key: "optedOut", to: &out)
        JSONText.append(bool: optedOut, to: &out)
        out.append(UInt8(ascii: ","))
        JSONText.append(key: "studies", to: &out)
        out.append(UInt8(ascii: "["))
        for (index, study) in studies.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            study.write(to: &out)
        }
        out.append(contentsOf: "]}".utf8)
        return out
    }
}

extension FederatedQueryResult.Study {
    /// Appends the study's object, keys in sorted order.
    fileprivate func write(to out: inout [UInt8]) {
        func string(_ key: StaticString, _ value: String?) {
            guard let value else { return }
            JSONText.append(key: key, to: &out)
            JSONText.append(string: value, to: &out, escapingSlashes: true)
            out.append(UInt8(ascii: ","))
        }
        func integer(_ key: StaticString, _ value: Int) {
            JSONText.append(key: key, to: &out)
            JSONText.append(integer: value, to: &out)
            out.append(UInt8(ascii: ","))
        }
        out.append(UInt8(ascii: "{"))
        string("accessionNumber", accessionNumber)
        JSONText.append(key: "bodyParts", to: &out)
        JSONText.append(strings: bodyParts, to: &out, escapingSlashes: true)
        out.append(UInt8(ascii: ","))
        string("description", description)
        string("holder", holder)
        string("holderName", holderName)
        integer("instanceCount", instanceCount)
        JSONText.append(key: "localCopy", to: &out)
        JSONText.append(bool: localCopy, to: &out)
        out.append(UInt8(ascii: ","))
        JSONText.append(key: "modalities", to: &out)
        JSONText.append(strings: modalities, to: &out, escapingSlashes: true)
        out.append(UInt8(ascii: ","))
        integer("seriesCount", seriesCount)
        integer("sizeBytes", sizeBytes)
        string("studyDate", studyDate)
        JSONText.append(key: "studyInstanceUID", to: &out)
        JSONText.append(string: studyInstanceUID, to: &out, escapingSlashes: true)
        out.append(UInt8(ascii: "}"))
    }
}
