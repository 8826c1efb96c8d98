#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Writes DICOM Part 10 files: fixtures for tests, the demo and the benchmark.
///
/// The writer sorts the data set by tag, builds the File Meta Information with its group length
/// (PS3.10 §7.1), encodes the data set in the chosen transfer syntax — swapping binary values for Explicit VR
/// Big Endian (PS3.5 §7.3) and deflating for Deflated Explicit VR Little Endian (PS3.5 §A.5) — and holds the
/// file in memory while doing so. ``writeLargePixelDataFile(path:pixelDataLength:dataset:transferSyntax:sopClassUID:sopInstanceUID:)``
/// makes files of any size without the memory.
///
/// ```swift
/// try DICOMWriter.write(
///     [DataElement(.patientID, .lo, "9434765919"), DataElement(.modality, .cs, "CT")],
///     transferSyntax: .explicitVRLittleEndian, to: "/tmp/a.dcm",
///     sopClassUID: "1.2.840.10008.5.1.4.1.1.2", sopInstanceUID: "2.25.1")
/// ```
public enum DICOMWriter {
    /// Implementation Class UID (0002,0012) written in the File Meta Information: a UUID-derived UID
    /// (PS3.5 §B.2) fixed for TrustMesh.
    public static let implementationClassUID = "2.25.233140285170453373402402393420617498385"
    /// Implementation Version Name (0002,0013) written in the File Meta Information.
    public static let implementationVersionName = "TRUSTMESH_1"

    /// Encodes a Part 10 file in memory.
    ///
    /// Group 0002 elements in `dataset` replace or add to the generated File Meta Information. SOP Class UID
    /// (0008,0016) and SOP Instance UID (0008,0018) are added to the data set if it lacks them.
    /// - Parameters:
    ///   - dataset: The data elements, in any order.
    ///   - transferSyntax: How to encode the data set.
    ///   - preamble: Whether to start with the 128-byte preamble and `DICM` (PS3.10 §7.1).
    ///   - metaGroup: Whether to write the File Meta Information. `preamble: true, metaGroup: false` makes a
    ///     deliberately invalid file, for tests.
    ///   - sopClassUID: Media Storage SOP Class UID (0002,0002).
    ///   - sopInstanceUID: Media Storage SOP Instance UID (0002,0003).
    /// - Returns: The file's bytes.
    /// - Throws: ``DICOMError/Kind/unencodable`` if a value does not fit its VR, length field or character set.
    public static func encode(
        _ dataset: [DataElement], transferSyntax: TransferSyntax, preamble: Bool = true, metaGroup: Bool = true,
        sopClassUID: String, sopInstanceUID: String
    ) throws(DICOMError) -> [UInt8] {
        var out: [UInt8] = []
        try encode(
            dataset, transferSyntax: transferSyntax, preamble: preamble, metaGroup: metaGroup,
            sopClassUID: sopClassUID, sopInstanceUID: sopInstanceUID, into: &out)
        return out
    }

    /// Encodes a Part 10 file and writes it to `path`, replacing any file there.
    /// - Parameters:
    ///   - dataset: The data elements, in any order.
    ///   - transferSyntax: How to encode the data set.
    ///   - path: Where to write.
    ///   - preamble: Whether to start with the 128-byte preamble and `DICM`.
    ///   - metaGroup: Whether to write the File Meta Information.
    ///   - sopClassUID: Media Storage SOP Class UID (0002,0002).
    ///   - sopInstanceUID: Media Storage SOP Instance UID (0002,0003).
    /// - Throws: ``DICOMError`` of kind ``DICOMError/Kind/unencodable`` or ``DICOMError/Kind/io``.
    public static func write(
        _ dataset: [DataElement], transferSyntax: TransferSyntax, to path: String, preamble: Bool = true,
        metaGroup: Bool = true, sopClassUID: String, sopInstanceUID: String
    ) throws(DICOMError) {
        let bytes = try encode(
            dataset, transferSyntax: transferSyntax, preamble: preamble, metaGroup: metaGroup,
            sopClassUID: sopClassUID, sopInstanceUID: sopInstanceUID)
        let file = try OutputFile(path: path)
        try file.write(bytes)
        try file.close()
    }

    /// Writes a file whose Pixel Data (7FE0,0010, OW) is `pixelDataLength` zero bytes, without holding them:
    /// the header is written, then the file is extended with `ftruncate`, which leaves a sparse hole.
    ///
    /// For tests of huge files: a 1 GB file costs no memory and almost no disk.
    ///
    /// ```swift
    /// let offset = try DICOMWriter.writeLargePixelDataFile(path: "/tmp/large.dcm", pixelDataLength: 1 << 30)
    /// ```
    /// - Parameters:
    ///   - path: Where to write.
    ///   - pixelDataLength: The pixel data's length in bytes: even, below 4 GiB.
    ///   - dataset: Data elements, none at or after Pixel Data; nil writes a small CT header
    ///     (``largeFileDataSet``).
    ///   - transferSyntax: An uncompressed, non-deflated transfer syntax.
    ///   - sopClassUID: Media Storage SOP Class UID (0002,0002).
    ///   - sopInstanceUID: Media Storage SOP Instance UID (0002,0003).
    /// - Returns: The byte offset of the Pixel Data element's header.
    /// - Throws: ``DICOMError/Kind/unencodable`` for a bad length, syntax or element; ``DICOMError/Kind/io``.
    @discardableResult
    public static func writeLargePixelDataFile(
        path: String, pixelDataLength: Int, dataset: [DataElement]? = nil,
        transferSyntax: TransferSyntax = .explicitVRLittleEndian,
        sopClassUID: String = SyntheticStudy.ctImageStorage, sopInstanceUID: String = largeFileSOPInstanceUID
    ) throws(DICOMError) -> Int {
        guard !transferSyntax.isDeflated, !transferSyntax.isEncapsulated else {
            throw .unencodable(tag: .pixelData, "a large pixel data file needs an uncompressed transfer syntax")
        }
        guard pixelDataLength >= 0, pixelDataLength % 2 == 0, pixelDataLength < 0xFFFF_FFFF else {
            throw .unencodable(tag: .pixelData, "pixel data length \(pixelDataLength) is odd, negative or over 4 GiB")
        }
        let dataset = dataset ?? largeFileDataSet
        if let late = dataset.first(where: { $0.tag >= .pixelData }) {
            throw .unencodable(tag: late.tag, "the data set may not hold elements at or after Pixel Data")
        }
        var header = try encode(
            dataset, transferSyntax: transferSyntax, sopClassUID: sopClassUID, sopInstanceUID: sopInstanceUID)
        let pixelDataOffset = header.count
        var encoder = DataSetEncoder(transferSyntax: transferSyntax, latin1: false)
        try encoder.header(tag: .pixelData, vr: .ow, length: UInt32(pixelDataLength))
        header.append(contentsOf: encoder.out)
        let file = try OutputFile(path: path)
        try file.write(header)
        try file.extend(to: header.count + pixelDataLength)
        try file.close()
        return pixelDataOffset
    }

    /// The SOP Instance UID ``writeLargePixelDataFile(path:pixelDataLength:dataset:transferSyntax:sopClassUID:sopInstanceUID:)``
    /// uses by default.
    public static let largeFileSOPInstanceUID = "2.25.318153441408347395632458730106522915840"

    /// The header ``writeLargePixelDataFile(path:pixelDataLength:dataset:transferSyntax:sopClassUID:sopInstanceUID:)``
    /// writes by default: a CT patient, study and series, 16-bit monochrome, no Rows or Columns (the pixel data
    /// length is arbitrary).
    public static let largeFileDataSet: [DataElement] = [
        DataElement(.studyDate, .da, "20260115"),
        DataElement(.modality, .cs, "CT"),
        DataElement(.patientName, .pn, "LARGE^FILE"),
        DataElement(.patientID, .lo, "9434765919"),
        DataElement(.studyInstanceUID, .ui, "2.25.318153441408347395632458730106522915841"),
        DataElement(.seriesInstanceUID, .ui, "2.25.318153441408347395632458730106522915842"),
        DataElement(.seriesNumber, .is, "1"),
        DataElement(.instanceNumber, .is, "1"),
        DataElement(.samplesPerPixel, .us, .uint16([1])),
        DataElement(.photometricInterpretation, .cs, "MONOCHROME2"),
        DataElement(.bitsAllocated, .us, .uint16([16])),
        DataElement(.bitsStored, .us, .uint16([16])),
        DataElement(.highBit, .us, .uint16([15])),
        DataElement(.pixelRepresentation, .us, .uint16([0])),
    ]

    private static func encode(
        _ dataset: [DataElement], transferSyntax: TransferSyntax, preamble: Bool, metaGroup: Bool,
        sopClassUID: String, sopInstanceUID: String, into out: inout [UInt8]
    ) throws(DICOMError) {
        var body = dataset.filter { $0.tag.group != 0x0002 }
        if !body.contains(where: { $0.tag == .sopClassUID }) {
            body.append(DataElement(.sopClassUID, .ui, .string(sopClassUID)))
        }
        if !body.contains(where: { $0.tag == .sopInstanceUID }) {
            body.append(DataElement(.sopInstanceUID, .ui, .string(sopInstanceUID)))
        }
        let latin1 = body.contains { element in
            guard element.tag == .specificCharacterSet, case .string(let text) = element.value else { return false }
            return text.contains("IR 100")
        }

        if preamble {
            out.append(contentsOf: repeatElement(0, count: 128))
            out.append(contentsOf: Array("DICM".utf8))
        }
        if metaGroup {
            var meta: [DataElement] = [
                DataElement(.fileMetaInformationVersion, .ob, .bytes([0x00, 0x01])),
                DataElement(.mediaStorageSOPClassUID, .ui, .string(sopClassUID)),
                DataElement(.mediaStorageSOPInstanceUID, .ui, .string(sopInstanceUID)),
                DataElement(.transferSyntaxUID, .ui, .string(transferSyntax.uid)),
                DataElement(.implementationClassUID, .ui, .string(implementationClassUID)),
                DataElement(.implementationVersionName, .sh, .string(implementationVersionName)),
            ]
            for element in dataset where element.tag.group == 0x0002 && element.tag != .fileMetaInformationGroupLength {
                meta.removeAll { $0.tag == element.tag }
                meta.append(element)
            }
            // PS3.10 §7.1: the meta group is always Explicit VR Little Endian, led by its group length.
            var encoder = DataSetEncoder(transferSyntax: .explicitVRLittleEndian, latin1: false)
            try encoder.elements(meta)
            var lengthEncoder = DataSetEncoder(transferSyntax: .explicitVRLittleEndian, latin1: false)
            try lengthEncoder.element(
                DataElement(.fileMetaInformationGroupLength, .ul, .uint32([UInt32(encoder.out.count)])))
            out.append(contentsOf: lengthEncoder.out)
            out.append(contentsOf: encoder.out)
        }
        var encoder = DataSetEncoder(transferSyntax: transferSyntax, latin1: latin1)
        encoder.out.reserveCapacity(body.reduce(0) { $0 + $1.estimatedSize })
        try encoder.elements(body)
        if transferSyntax.isDeflated {
            let deflated = try Deflater.rawDeflate(encoder.out)
            out.append(contentsOf: deflated)
            // Keep the file an even length, as pydicom and dcmtk do for deflated data sets.
            if deflated.count % 2 == 1 { out.append(0) }
        } else if out.isEmpty {
            out = encoder.out
        } else {
            out.append(contentsOf: encoder.out)
        }
    }
}

extension DataElement {
    /// A rough size, to reserve the output buffer once.
    fileprivate var estimatedSize: Int {
        switch value {
        case .bytes(let bytes): 12 + bytes.count
        case .string(let text): 12 + text.utf8.count
        case .uint16(let values): 12 + 2 * values.count
        case .uint32(let values): 12 + 4 * values.count
        case .fragments(let fragments): 24 + fragments.reduce(0) { $0 + 8 + $1.count }
        case .sequence: 64
        }
    }
}

/// A file opened for writing, closed on `close()` or when released.
private final class OutputFile {
    private var fd: Int32
    private let path: String

    init(path: String) throws(DICOMError) {
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        self.path = path
        guard fd >= 0 else { throw .io("open", path: path, errno: errno) }
    }

    deinit { if fd >= 0 { _ = systemClose(fd) } }

    func write(_ bytes: [UInt8]) throws(DICOMError) {
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { systemWrite(fd, $0.baseAddress! + written, bytes.count - written) }
            if result < 0 {
                if errno == EINTR { continue }
                throw .io("write", path: path, errno: errno)
            }
            written += result
        }
    }

    func extend(to size: Int) throws(DICOMError) {
        guard ftruncate(fd, off_t(size)) == 0 else { throw .io("ftruncate", path: path, errno: errno) }
    }

    func close() throws(DICOMError) {
        let result = systemClose(fd)
        fd = -1
        guard result == 0 else { throw .io("close", path: path, errno: errno) }
    }
}

// `close(2)` and `write(2)`, named apart from OutputFile's methods, which would shadow them inside the class.
private func systemClose(_ fd: Int32) -> Int32 { close(fd) }
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buffer, count) }
