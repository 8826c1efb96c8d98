/// Another identifier for the same patient, with the authority that issued it.
///
/// Read from the items of Other Patient IDs Sequence (0010,1002) and from the retired multi-valued
/// Other Patient IDs (0010,1000). JSON keys are the DICOM keywords: `PatientID`, `IssuerOfPatientID`.
public struct OtherPatientID: Sendable, Hashable, Codable {
    /// The identifier, trimmed of padding.
    public var patientID: String
    /// Issuer of Patient ID (0010,0021) or, where that is absent, the Universal Entity ID (0040,0032) of the
    /// first item of Issuer of Patient ID Qualifiers Sequence (0010,0024); nil if neither is present.
    public var issuer: String?

    /// Creates an identifier.
    /// - Parameters:
    ///   - patientID: The identifier.
    ///   - issuer: The authority that issued it, e.g. `"NHS"`.
    public init(patientID: String, issuer: String? = nil) {
        self.patientID = patientID
        self.issuer = issuer
    }

    private enum CodingKeys: String, CodingKey {
        case patientID = "PatientID"
        case issuer = "IssuerOfPatientID"
    }
}
