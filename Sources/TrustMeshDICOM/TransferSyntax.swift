/// How a data set is encoded: VR explicit or implicit, byte order, deflate, pixel-data encapsulation.
///
/// Identified by its UID (DICOM PS3.5 §10, PS3.6 Annex A). Any UID this type does not know is read as
/// Explicit VR Little Endian with encapsulated pixel data: PS3.5 §10 requires every transfer syntax other
/// than the three uncompressed ones named below to encode its data set that way.
public struct TransferSyntax: Hashable, Sendable, CustomStringConvertible {
    /// The transfer syntax UID, e.g. `"1.2.840.10008.1.2.1"`.
    public let uid: String
    /// Whether each data element header carries its VR (every syntax but Implicit VR Little Endian).
    public let isExplicitVR: Bool
    /// Whether numbers are big-endian (only the retired Explicit VR Big Endian, PS3.5 §A.3).
    public let isBigEndian: Bool
    /// Whether the data set after the File Meta Information is a raw deflate stream (PS3.5 §A.5).
    public let isDeflated: Bool
    /// Whether Pixel Data is encapsulated in fragments (compressed, PS3.5 §A.4).
    public let isEncapsulated: Bool

    /// Creates the transfer syntax for a UID; trailing spaces and NULs (value padding) are ignored.
    ///
    /// Unknown UIDs give Explicit VR Little Endian with encapsulated pixel data (PS3.5 §10).
    /// - Parameter uid: A transfer syntax UID.
    public init(uid: String) {
        var trimmed = Substring(uid)
        while let last = trimmed.last, last == " " || last == "\0" { trimmed.removeLast() }
        let uid = String(trimmed)
        self.uid = uid
        switch uid {
        case "1.2.840.10008.1.2":
            (isExplicitVR, isBigEndian, isDeflated, isEncapsulated) = (false, false, false, false)
        case "1.2.840.10008.1.2.1":
            (isExplicitVR, isBigEndian, isDeflated, isEncapsulated) = (true, false, false, false)
        case "1.2.840.10008.1.2.2":
            (isExplicitVR, isBigEndian, isDeflated, isEncapsulated) = (true, true, false, false)
        case "1.2.840.10008.1.2.1.99":
            (isExplicitVR, isBigEndian, isDeflated, isEncapsulated) = (true, false, true, false)
        default:
            (isExplicitVR, isBigEndian, isDeflated, isEncapsulated) = (true, false, false, true)
        }
    }

    /// The UID.
    public var description: String { uid }

    /// Implicit VR Little Endian, 1.2.840.10008.1.2: the DICOM default (PS3.5 §A.1).
    public static let implicitVRLittleEndian = TransferSyntax(uid: "1.2.840.10008.1.2")
    /// Explicit VR Little Endian, 1.2.840.10008.1.2.1 (PS3.5 §A.2).
    public static let explicitVRLittleEndian = TransferSyntax(uid: "1.2.840.10008.1.2.1")
    /// Explicit VR Big Endian, 1.2.840.10008.1.2.2, retired but still met (PS3.5 §A.3).
    public static let explicitVRBigEndian = TransferSyntax(uid: "1.2.840.10008.1.2.2")
    /// Deflated Explicit VR Little Endian, 1.2.840.10008.1.2.1.99 (PS3.5 §A.5).
    public static let deflatedExplicitVRLittleEndian = TransferSyntax(uid: "1.2.840.10008.1.2.1.99")
    /// JPEG Baseline (Process 1), 1.2.840.10008.1.2.4.50.
    public static let jpegBaseline = TransferSyntax(uid: "1.2.840.10008.1.2.4.50")
    /// JPEG Lossless, Non-Hierarchical (Process 14), 1.2.840.10008.1.2.4.70.
    public static let jpegLossless = TransferSyntax(uid: "1.2.840.10008.1.2.4.70")
    /// JPEG 2000 Image Compression (Lossless Only), 1.2.840.10008.1.2.4.90.
    public static let jpeg2000Lossless = TransferSyntax(uid: "1.2.840.10008.1.2.4.90")
    /// RLE Lossless, 1.2.840.10008.1.2.5 (PS3.5 Annex G).
    public static let rleLossless = TransferSyntax(uid: "1.2.840.10008.1.2.5")
}
