extension DICOMWriter {
    /// The start of a Part 10 file for a data set that arrived by network: the 128-byte preamble,
    /// `DICM` and the File Meta Information (PS3.10 §7.1), Explicit VR Little Endian, led by its
    /// group length.
    ///
    /// A C-STORE SCP appends the data set's bytes exactly as they arrived, in `transferSyntax`
    /// (deflated when that syntax is), to make the file: nothing is transcoded.
    ///
    /// ```swift
    /// let header = try DICOMWriter.fileMetaInformation(
    ///     transferSyntax: .explicitVRLittleEndian, sopClassUID: "1.2.840.10008.5.1.4.1.1.2",
    ///     sopInstanceUID: "2.25.1", sourceAETitle: "STORESCU")
    /// ```
    /// - Parameters:
    ///   - transferSyntax: Transfer Syntax UID (0002,0010): the presentation context's syntax.
    ///   - sopClassUID: Media Storage SOP Class UID (0002,0002): the command's Affected SOP Class UID.
    ///   - sopInstanceUID: Media Storage SOP Instance UID (0002,0003): the command's Affected SOP Instance UID.
    ///   - sourceAETitle: Source Application Entity Title (0002,0016), when known.
    /// - Returns: The bytes that precede the data set.
    /// - Throws: ``DICOMError/Kind/unencodable`` if a UID does not fit its VR.
    public static func fileMetaInformation(
        transferSyntax: TransferSyntax, sopClassUID: String, sopInstanceUID: String, sourceAETitle: String? = nil
    ) throws(DICOMError) -> [UInt8] {
        var meta: [DataElement] = [
            DataElement(.fileMetaInformationVersion, .ob, .bytes([0x00, 0x01])),
            DataElement(.mediaStorageSOPClassUID, .ui, .string(sopClassUID)),
            DataElement(.mediaStorageSOPInstanceUID, .ui, .string(sopInstanceUID)),
            DataElement(.transferSyntaxUID, .ui, .string(transferSyntax.uid)),
            DataElement(.implementationClassUID, .ui, .string(implementationClassUID)),
            DataElement(.implementationVersionName, .sh, .string(implementationVersionName)),
        ]
        if let sourceAETitle, !sourceAETitle.isEmpty {
            meta.append(DataElement(Tag(0x0002, 0x0016), .ae, .string(sourceAETitle)))
        }
        var encoder = DataSetEncoder(transferSyntax: .explicitVRLittleEndian, latin1: false)
        try encoder.elements(meta)
        var out: [UInt8] = Array(repeating: 0, count: 128)
        out.append(contentsOf: Array("DICM".utf8))
        var lengthEncoder = DataSetEncoder(transferSyntax: .explicitVRLittleEndian, latin1: false)
        try lengthEncoder.element(
            DataElement(.fileMetaInformationGroupLength, .ul, .uint32([UInt32(encoder.out.count)])))
        out.append(contentsOf: lengthEncoder.out)
        out.append(contentsOf: encoder.out)
        return out
    }
}
