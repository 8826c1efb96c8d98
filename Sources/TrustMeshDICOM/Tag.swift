/// A DICOM data element tag: a (group, element) pair of 16-bit numbers.
///
/// Tags order by group, then element — the order in which data elements must appear in a data set
/// (DICOM PS3.5 §7.1). Odd groups other than 0001, 0003, 0005, 0007 and FFFF hold private data elements
/// (PS3.5 §7.8).
///
/// ```swift
/// let tag = Tag(0x0010, 0x0020)   // == .patientID
/// print(tag)                       // "(0010,0020)"
/// ```
public struct Tag: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The group number, the first half of the tag.
    public let group: UInt16
    /// The element number within the group.
    public let element: UInt16

    /// Creates a tag from its group and element numbers.
    /// - Parameters:
    ///   - group: The group number, e.g. `0x0010` for patient attributes.
    ///   - element: The element number within the group.
    public init(_ group: UInt16, _ element: UInt16) {
        self.group = group
        self.element = element
    }

    /// The tag as one 32-bit number, group in the high half: `(0010,0020)` is `0x0010_0020`.
    public var rawValue: UInt32 { UInt32(group) << 16 | UInt32(element) }

    /// Whether this tag belongs to a private group (odd group number, PS3.5 §7.8.1).
    public var isPrivate: Bool { group & 1 == 1 && group > 0x0007 && group != 0xFFFF }

    /// The tag as DICOM writes it: `(gggg,eeee)` in upper-case hexadecimal.
    public var description: String { "(\(Self.hex4(group)),\(Self.hex4(element)))" }

    /// Orders by group, then element (PS3.5 §7.1: data elements appear in increasing tag order).
    public static func < (lhs: Tag, rhs: Tag) -> Bool { lhs.rawValue < rhs.rawValue }

    private static func hex4(_ value: UInt16) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: 4 - digits.count) + digits
    }
}

// Tags from the DICOM data dictionary (PS3.6 Table 6-1) that this target reads or writes.
extension Tag {
    // File Meta Information, PS3.10 §7.1.
    /// File Meta Information Group Length (0002,0000), UL.
    public static let fileMetaInformationGroupLength = Tag(0x0002, 0x0000)
    /// File Meta Information Version (0002,0001), OB.
    public static let fileMetaInformationVersion = Tag(0x0002, 0x0001)
    /// Media Storage SOP Class UID (0002,0002), UI.
    public static let mediaStorageSOPClassUID = Tag(0x0002, 0x0002)
    /// Media Storage SOP Instance UID (0002,0003), UI.
    public static let mediaStorageSOPInstanceUID = Tag(0x0002, 0x0003)
    /// Transfer Syntax UID (0002,0010), UI.
    public static let transferSyntaxUID = Tag(0x0002, 0x0010)
    /// Implementation Class UID (0002,0012), UI.
    public static let implementationClassUID = Tag(0x0002, 0x0012)
    /// Implementation Version Name (0002,0013), SH.
    public static let implementationVersionName = Tag(0x0002, 0x0013)

    /// Specific Character Set (0008,0005), CS.
    public static let specificCharacterSet = Tag(0x0008, 0x0005)
    /// Image Type (0008,0008), CS.
    public static let imageType = Tag(0x0008, 0x0008)
    /// SOP Class UID (0008,0016), UI.
    public static let sopClassUID = Tag(0x0008, 0x0016)
    /// SOP Instance UID (0008,0018), UI.
    public static let sopInstanceUID = Tag(0x0008, 0x0018)
    /// Study Date (0008,0020), DA.
    public static let studyDate = Tag(0x0008, 0x0020)
    /// Series Date (0008,0021), DA.
    public static let seriesDate = Tag(0x0008, 0x0021)
    /// Content Date (0008,0023), DA.
    public static let contentDate = Tag(0x0008, 0x0023)
    /// Study Time (0008,0030), TM.
    public static let studyTime = Tag(0x0008, 0x0030)
    /// Series Time (0008,0031), TM.
    public static let seriesTime = Tag(0x0008, 0x0031)
    /// Content Time (0008,0033), TM.
    public static let contentTime = Tag(0x0008, 0x0033)
    /// Accession Number (0008,0050), SH.
    public static let accessionNumber = Tag(0x0008, 0x0050)
    /// Modality (0008,0060), CS.
    public static let modality = Tag(0x0008, 0x0060)
    /// Manufacturer (0008,0070), LO.
    public static let manufacturer = Tag(0x0008, 0x0070)
    /// Institution Name (0008,0080), LO.
    public static let institutionName = Tag(0x0008, 0x0080)
    /// Referring Physician's Name (0008,0090), PN.
    public static let referringPhysicianName = Tag(0x0008, 0x0090)
    /// Study Description (0008,1030), LO.
    public static let studyDescription = Tag(0x0008, 0x1030)
    /// Series Description (0008,103E), LO.
    public static let seriesDescription = Tag(0x0008, 0x103E)

    /// Patient's Name (0010,0010), PN.
    public static let patientName = Tag(0x0010, 0x0010)
    /// Patient ID (0010,0020), LO.
    public static let patientID = Tag(0x0010, 0x0020)
    /// Issuer of Patient ID (0010,0021), LO.
    public static let issuerOfPatientID = Tag(0x0010, 0x0021)
    /// Issuer of Patient ID Qualifiers Sequence (0010,0024), SQ.
    public static let issuerOfPatientIDQualifiersSequence = Tag(0x0010, 0x0024)
    /// Patient's Birth Date (0010,0030), DA.
    public static let patientBirthDate = Tag(0x0010, 0x0030)
    /// Patient's Sex (0010,0040), CS.
    public static let patientSex = Tag(0x0010, 0x0040)
    /// Other Patient IDs (0010,1000), LO, multi-valued. Retired in PS3.6, still common.
    public static let otherPatientIDs = Tag(0x0010, 0x1000)
    /// Other Patient IDs Sequence (0010,1002), SQ.
    public static let otherPatientIDsSequence = Tag(0x0010, 0x1002)
    /// Type of Patient ID (0010,0022), CS.
    public static let typeOfPatientID = Tag(0x0010, 0x0022)

    /// Body Part Examined (0018,0015), CS.
    public static let bodyPartExamined = Tag(0x0018, 0x0015)
    /// Slice Thickness (0018,0050), DS.
    public static let sliceThickness = Tag(0x0018, 0x0050)
    /// KVP (0018,0060), DS.
    public static let kvp = Tag(0x0018, 0x0060)
    /// Patient Position (0018,5100), CS.
    public static let patientPosition = Tag(0x0018, 0x5100)

    /// Study Instance UID (0020,000D), UI.
    public static let studyInstanceUID = Tag(0x0020, 0x000D)
    /// Series Instance UID (0020,000E), UI.
    public static let seriesInstanceUID = Tag(0x0020, 0x000E)
    /// Study ID (0020,0010), SH.
    public static let studyID = Tag(0x0020, 0x0010)
    /// Series Number (0020,0011), IS.
    public static let seriesNumber = Tag(0x0020, 0x0011)
    /// Instance Number (0020,0013), IS.
    public static let instanceNumber = Tag(0x0020, 0x0013)
    /// Image Position (Patient) (0020,0032), DS.
    public static let imagePositionPatient = Tag(0x0020, 0x0032)
    /// Image Orientation (Patient) (0020,0037), DS.
    public static let imageOrientationPatient = Tag(0x0020, 0x0037)
    /// Frame of Reference UID (0020,0052), UI.
    public static let frameOfReferenceUID = Tag(0x0020, 0x0052)
    /// Position Reference Indicator (0020,1040), LO.
    public static let positionReferenceIndicator = Tag(0x0020, 0x1040)
    /// Slice Location (0020,1041), DS.
    public static let sliceLocation = Tag(0x0020, 0x1041)

    /// Samples per Pixel (0028,0002), US.
    public static let samplesPerPixel = Tag(0x0028, 0x0002)
    /// Photometric Interpretation (0028,0004), CS.
    public static let photometricInterpretation = Tag(0x0028, 0x0004)
    /// Number of Frames (0028,0008), IS.
    public static let numberOfFrames = Tag(0x0028, 0x0008)
    /// Rows (0028,0010), US.
    public static let rows = Tag(0x0028, 0x0010)
    /// Columns (0028,0011), US.
    public static let columns = Tag(0x0028, 0x0011)
    /// Pixel Spacing (0028,0030), DS.
    public static let pixelSpacing = Tag(0x0028, 0x0030)
    /// Bits Allocated (0028,0100), US.
    public static let bitsAllocated = Tag(0x0028, 0x0100)
    /// Bits Stored (0028,0101), US.
    public static let bitsStored = Tag(0x0028, 0x0101)
    /// High Bit (0028,0102), US.
    public static let highBit = Tag(0x0028, 0x0102)
    /// Pixel Representation (0028,0103), US: 0 unsigned, 1 two's complement.
    public static let pixelRepresentation = Tag(0x0028, 0x0103)
    /// Window Center (0028,1050), DS.
    public static let windowCenter = Tag(0x0028, 0x1050)
    /// Window Width (0028,1051), DS.
    public static let windowWidth = Tag(0x0028, 0x1051)
    /// Rescale Intercept (0028,1052), DS.
    public static let rescaleIntercept = Tag(0x0028, 0x1052)
    /// Rescale Slope (0028,1053), DS.
    public static let rescaleSlope = Tag(0x0028, 0x1053)
    /// Rescale Type (0028,1054), LO.
    public static let rescaleType = Tag(0x0028, 0x1054)

    /// Universal Entity ID (0040,0032), UT.
    public static let universalEntityID = Tag(0x0040, 0x0032)
    /// Universal Entity ID Type (0040,0033), CS.
    public static let universalEntityIDType = Tag(0x0040, 0x0033)

    /// Pixel Data (7FE0,0010), OB or OW; encapsulated when of undefined length (PS3.5 §A.4).
    public static let pixelData = Tag(0x7FE0, 0x0010)
    /// Data Set Trailing Padding (FFFC,FFFC), OB.
    public static let dataSetTrailingPadding = Tag(0xFFFC, 0xFFFC)

    // Sequence delimiters, PS3.5 §7.5. They have no VR, even in explicit VR transfer syntaxes.
    /// Item (FFFE,E000): starts each item of a sequence and each pixel-data fragment.
    public static let item = Tag(0xFFFE, 0xE000)
    /// Item Delimitation Item (FFFE,E00D): ends an item of undefined length.
    public static let itemDelimitationItem = Tag(0xFFFE, 0xE00D)
    /// Sequence Delimitation Item (FFFE,E0DD): ends a sequence or pixel data of undefined length.
    public static let sequenceDelimitationItem = Tag(0xFFFE, 0xE0DD)
}
