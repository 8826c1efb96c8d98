/// The patient, study, series and instance attributes the node indexes, from the top level of a data set.
///
/// Strings are decoded with the file's Specific Character Set and trimmed of padding (leading and trailing
/// spaces and NULs); an attribute that is absent or empty is nil. Only top-level data elements count, except
/// ``otherPatientIDs``, which also reads the items of Other Patient IDs Sequence (0010,1002).
///
/// JSON keys are the DICOM keywords (PS3.6), e.g. `"PatientID"`, `"StudyInstanceUID"`, `"OtherPatientIDs"`;
/// nil attributes are left out.
public struct DICOMAttributes: Sendable, Hashable, Codable {
    /// Patient ID (0010,0020).
    public var patientID: String?
    /// Patient's Name (0010,0010), in DICOM PN form (`Family^Given^Middle^Prefix^Suffix`).
    public var patientName: String?
    /// Patient's Birth Date (0010,0030), `YYYYMMDD`.
    public var patientBirthDate: String?
    /// Patient's Sex (0010,0040): `M`, `F` or `O`.
    public var patientSex: String?
    /// Study Instance UID (0020,000D).
    public var studyInstanceUID: String?
    /// Study Date (0008,0020), `YYYYMMDD`.
    public var studyDate: String?
    /// Study Time (0008,0030), `HHMMSS.FFFFFF`.
    public var studyTime: String?
    /// Accession Number (0008,0050).
    public var accessionNumber: String?
    /// Study Description (0008,1030).
    public var studyDescription: String?
    /// Referring Physician's Name (0008,0090).
    public var referringPhysicianName: String?
    /// Institution Name (0008,0080).
    public var institutionName: String?
    /// Modality (0008,0060), e.g. `CT`.
    public var modality: String?
    /// Series Instance UID (0020,000E).
    public var seriesInstanceUID: String?
    /// Series Number (0020,0011), as written (an IS).
    public var seriesNumber: String?
    /// Series Description (0008,103E).
    public var seriesDescription: String?
    /// Body Part Examined (0018,0015).
    public var bodyPartExamined: String?
    /// SOP Class UID (0008,0016).
    public var sopClassUID: String?
    /// SOP Instance UID (0008,0018).
    public var sopInstanceUID: String?
    /// Instance Number (0020,0013), as written (an IS).
    public var instanceNumber: String?
    /// Number of Frames (0028,0008), as written (an IS).
    public var numberOfFrames: String?
    /// Transfer Syntax UID (0002,0010) from the File Meta Information; nil for files without one.
    public var transferSyntaxUID: String?
    /// Specific Character Set (0008,0005), as written, e.g. `ISO_IR 192`; nil means the default repertoire.
    public var specificCharacterSet: String?
    /// The patient's other identifiers: the items of Other Patient IDs Sequence (0010,1002), then the values
    /// of the retired Other Patient IDs (0010,1000) with the top-level Issuer of Patient ID; duplicates removed.
    public var otherPatientIDs: [OtherPatientID]

    /// Creates an empty set of attributes.
    public init() {
        otherPatientIDs = []
    }

    private enum CodingKeys: String, CodingKey {
        case patientID = "PatientID"
        case patientName = "PatientName"
        case patientBirthDate = "PatientBirthDate"
        case patientSex = "PatientSex"
        case studyInstanceUID = "StudyInstanceUID"
        case studyDate = "StudyDate"
        case studyTime = "StudyTime"
        case accessionNumber = "AccessionNumber"
        case studyDescription = "StudyDescription"
        case referringPhysicianName = "ReferringPhysicianName"
        case institutionName = "InstitutionName"
        case modality = "Modality"
        case seriesInstanceUID = "SeriesInstanceUID"
        case seriesNumber = "SeriesNumber"
        case seriesDescription = "SeriesDescription"
        case bodyPartExamined = "BodyPartExamined"
        case sopClassUID = "SOPClassUID"
        case sopInstanceUID = "SOPInstanceUID"
        case instanceNumber = "InstanceNumber"
        case numberOfFrames = "NumberOfFrames"
        case transferSyntaxUID = "TransferSyntaxUID"
        case specificCharacterSet = "SpecificCharacterSet"
        case otherPatientIDs = "OtherPatientIDs"
    }

    /// Decodes attributes from their JSON form; a missing `OtherPatientIDs` means none.
    /// - Throws: `DecodingError` if a present key has the wrong type.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        patientID = try c.decodeIfPresent(String.self, forKey: .patientID)
        patientName = try c.decodeIfPresent(String.self, forKey: .patientName)
        patientBirthDate = try c.decodeIfPresent(String.self, forKey: .patientBirthDate)
        patientSex = try c.decodeIfPresent(String.self, forKey: .patientSex)
        studyInstanceUID = try c.decodeIfPresent(String.self, forKey: .studyInstanceUID)
        studyDate = try c.decodeIfPresent(String.self, forKey: .studyDate)
        studyTime = try c.decodeIfPresent(String.self, forKey: .studyTime)
        accessionNumber = try c.decodeIfPresent(String.self, forKey: .accessionNumber)
        studyDescription = try c.decodeIfPresent(String.self, forKey: .studyDescription)
        referringPhysicianName = try c.decodeIfPresent(String.self, forKey: .referringPhysicianName)
        institutionName = try c.decodeIfPresent(String.self, forKey: .institutionName)
        modality = try c.decodeIfPresent(String.self, forKey: .modality)
        seriesInstanceUID = try c.decodeIfPresent(String.self, forKey: .seriesInstanceUID)
        seriesNumber = try c.decodeIfPresent(String.self, forKey: .seriesNumber)
        seriesDescription = try c.decodeIfPresent(String.self, forKey: .seriesDescription)
        bodyPartExamined = try c.decodeIfPresent(String.self, forKey: .bodyPartExamined)
        sopClassUID = try c.decodeIfPresent(String.self, forKey: .sopClassUID)
        sopInstanceUID = try c.decodeIfPresent(String.self, forKey: .sopInstanceUID)
        instanceNumber = try c.decodeIfPresent(String.self, forKey: .instanceNumber)
        numberOfFrames = try c.decodeIfPresent(String.self, forKey: .numberOfFrames)
        transferSyntaxUID = try c.decodeIfPresent(String.self, forKey: .transferSyntaxUID)
        specificCharacterSet = try c.decodeIfPresent(String.self, forKey: .specificCharacterSet)
        otherPatientIDs = try c.decodeIfPresent([OtherPatientID].self, forKey: .otherPatientIDs) ?? []
    }
}
