/// One study held by this node, as a query lists it.
public struct StudySummary: Sendable, Codable, Equatable {
    public var studyInstanceUID: String
    /// The ten digits, or nil for an unmatched study.
    /// - Warning: identifies a patient.
    public var nhsNumber: String?
    /// - Warning: identifies a patient.
    public var patientName: String?
    public var studyDate: String?
    public var studyTime: String?
    public var accessionNumber: String?
    public var description: String?
    public var modalities: [String]
    public var bodyParts: [String]
    public var seriesCount: Int
    public var instanceCount: Int
    public var sizeBytes: Int
}

/// Totals over the whole store.
public struct StoreStatistics: Sendable, Codable, Equatable {
    public var studies: Int
    public var unmatchedStudies: Int
    public var instances: Int
    /// Bytes of the DICOM files held.
    public var instanceBytes: Int
    public var chunks: Int
    /// Bytes on disk for the chunks (compressed, each once).
    public var storedBytes: Int
}
