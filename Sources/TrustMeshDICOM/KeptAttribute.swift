/// The top-level data elements whose values the reader keeps; every other value is skipped unread.
enum KeptAttribute: Int, CaseIterable {
    case specificCharacterSet, sopClassUID, sopInstanceUID, studyDate, studyTime, accessionNumber, modality
    case institutionName, referringPhysicianName, studyDescription, seriesDescription
    case patientName, patientID, issuerOfPatientID, patientBirthDate, patientSex, otherPatientIDs
    case bodyPartExamined
    case studyInstanceUID, seriesInstanceUID, seriesNumber, instanceNumber
    case samplesPerPixel, photometricInterpretation, numberOfFrames, rows, columns
    case bitsAllocated, bitsStored, pixelRepresentation
    case windowCenter, windowWidth, rescaleIntercept, rescaleSlope

    /// The kept attribute for a tag (as `group << 16 | element`), if it is one.
    @inline(__always)
    init?(rawTag: UInt32) {
        switch rawTag {
        case 0x0008_0005: self = .specificCharacterSet
        case 0x0008_0016: self = .sopClassUID
        case 0x0008_0018: self = .sopInstanceUID
        case 0x0008_0020: self = .studyDate
        case 0x0008_0030: self = .studyTime
        case 0x0008_0050: self = .accessionNumber
        case 0x0008_0060: self = .modality
        case 0x0008_0080: self = .institutionName
        case 0x0008_0090: self = .referringPhysicianName
        case 0x0008_1030: self = .studyDescription
        case 0x0008_103E: self = .seriesDescription
        case 0x0010_0010: self = .patientName
        case 0x0010_0020: self = .patientID
        case 0x0010_0021: self = .issuerOfPatientID
        case 0x0010_0030: self = .patientBirthDate
        case 0x0010_0040: self = .patientSex
        case 0x0010_1000: self = .otherPatientIDs
        case 0x0018_0015: self = .bodyPartExamined
        case 0x0020_000D: self = .studyInstanceUID
        case 0x0020_000E: self = .seriesInstanceUID
        case 0x0020_0011: self = .seriesNumber
        case 0x0020_0013: self = .instanceNumber
        case 0x0028_0002: self = .samplesPerPixel
        case 0x0028_0004: self = .photometricInterpretation
        case 0x0028_0008: self = .numberOfFrames
        case 0x0028_0010: self = .rows
        case 0x0028_0011: self = .columns
        case 0x0028_0100: self = .bitsAllocated
        case 0x0028_0101: self = .bitsStored
        case 0x0028_0103: self = .pixelRepresentation
        case 0x0028_1050: self = .windowCenter
        case 0x0028_1051: self = .windowWidth
        case 0x0028_1052: self = .rescaleIntercept
        case 0x0028_1053: self = .rescaleSlope
        default: return nil
        }
    }
}
