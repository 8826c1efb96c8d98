/// What ``DICOMReader`` learns from one Part 10 file: the indexed attributes, how the file is laid out, and
/// the image parameters a thumbnail needs.
public struct DICOMFileInfo: Sendable, Hashable {
    /// The patient, study, series and instance attributes.
    public var attributes: DICOMAttributes
    /// The data set's transfer syntax: from the File Meta Information, or guessed from the first element for
    /// files without one (Implicit or Explicit VR Little Endian).
    public var transferSyntax: TransferSyntax
    /// Whether the file starts with the 128-byte preamble and `DICM` prefix (PS3.10 §7.1).
    public var hasPreamble: Bool
    /// Whether the file has File Meta Information, group 0002 (PS3.10 §7.1).
    public var hasMetaGroup: Bool
    /// The file's size in bytes, all of which the reader walked.
    public var fileSize: Int
    /// Byte offset in the file where the top-level Pixel Data (7FE0,0010) element's header starts; nil if
    /// there is none, or the file is deflated (offsets inside the inflated data set are not file offsets).
    ///
    /// The store cuts a chunk boundary there, so header edits leave pixel-data chunks identical.
    public var pixelDataOffset: Int?
    /// Rows (0028,0010).
    public var rows: Int?
    /// Columns (0028,0011).
    public var columns: Int?
    /// Bits Allocated (0028,0100).
    public var bitsAllocated: Int?
    /// Bits Stored (0028,0101).
    public var bitsStored: Int?
    /// Pixel Representation (0028,0103): 0 unsigned, 1 two's complement.
    public var pixelRepresentation: Int?
    /// Samples per Pixel (0028,0002).
    public var samplesPerPixel: Int?
    /// Photometric Interpretation (0028,0004), e.g. `MONOCHROME2`.
    public var photometricInterpretation: String?
    /// The first value of Window Center (0028,1050).
    public var windowCenter: Double?
    /// The first value of Window Width (0028,1051).
    public var windowWidth: Double?
    /// Rescale Slope (0028,1053).
    public var rescaleSlope: Double?
    /// Rescale Intercept (0028,1052).
    public var rescaleIntercept: Double?

    /// Creates file information; ``DICOMReader`` fills in the rest.
    /// - Parameters:
    ///   - attributes: The indexed attributes.
    ///   - transferSyntax: The data set's transfer syntax.
    ///   - hasPreamble: Whether the file has the preamble and `DICM` prefix.
    ///   - hasMetaGroup: Whether the file has File Meta Information.
    ///   - fileSize: The file's size in bytes.
    ///   - pixelDataOffset: Where the top-level Pixel Data element's header starts.
    public init(
        attributes: DICOMAttributes = DICOMAttributes(), transferSyntax: TransferSyntax,
        hasPreamble: Bool, hasMetaGroup: Bool, fileSize: Int, pixelDataOffset: Int? = nil
    ) {
        self.attributes = attributes
        self.transferSyntax = transferSyntax
        self.hasPreamble = hasPreamble
        self.hasMetaGroup = hasMetaGroup
        self.fileSize = fileSize
        self.pixelDataOffset = pixelDataOffset
    }
}
