import Foundation
import TrustMeshDICOM

/// Test data: data sets that exercise every structure the reader must handle.
enum Fixtures {
    static let ctImageStorage = "1.2.840.10008.5.1.4.1.1.2"
    static let sopInstanceUID = "2.25.111222333444555666777888999000111222"

    /// The four uncompressed transfer syntaxes.
    static let uncompressedSyntaxes: [TransferSyntax] = [
        .implicitVRLittleEndian, .explicitVRLittleEndian, .explicitVRBigEndian, .deflatedExplicitVRLittleEndian,
    ]

    /// A data set with a nested undefined-length sequence, a private block, an odd-length value, an
    /// Other Patient IDs Sequence (issuer NHS, and one qualified by Universal Entity ID), retired Other
    /// Patient IDs, multi-valued windows and a small 16-bit image.
    static func richDataSet(characterSet: String? = nil, patientName: String = "Doe^Jane") -> [DataElement] {
        var elements: [DataElement] = [
            DataElement(.imageType, .cs, "ORIGINAL\\PRIMARY\\AXIAL"),
            DataElement(.studyDate, .da, "20260115"),
            DataElement(.studyTime, .tm, "093000.123"),
            DataElement(.accessionNumber, .sh, "ACC-42"),
            DataElement(.modality, .cs, "CT"),
            DataElement(.institutionName, .lo, "St Elsewhere"),
            DataElement(.referringPhysicianName, .pn, "Who^Doctor"),
            // Odd length on purpose (PS3.5 requires even lengths; real files break the rule).
            DataElement(.studyDescription, .lo, .bytes(Array("ODD".utf8))),
            DataElement(.seriesDescription, .lo, "  padded both sides  "),
            // A nested sequence of undefined length: Referenced Image Sequence > Derivation Code Sequence.
            DataElement(
                Tag(0x0008, 0x1140), .sq,
                .sequence(
                    [
                        [
                            DataElement(Tag(0x0008, 0x1150), .ui, "1.2.840.10008.5.1.4.1.1.2"),
                            DataElement(Tag(0x0008, 0x1155), .ui, "2.25.42"),
                            // Attributes nested in sequences must not count as top-level ones.
                            DataElement(.patientID, .lo, "NESTED-NOT-TOP"),
                            DataElement(
                                Tag(0x0008, 0x9215), .sq,
                                .sequence(
                                    [
                                        [
                                            DataElement(Tag(0x0008, 0x0100), .sh, "113076"),
                                            DataElement(Tag(0x0008, 0x0102), .sh, "DCM"),
                                            DataElement(.modality, .cs, "MR"),
                                        ]
                                    ], undefinedLength: true)),
                        ],
                        [DataElement(Tag(0x0008, 0x1155), .ui, "2.25.43")],
                    ], undefinedLength: true)),
            // A private block (PS3.5 §7.8.1): creator, then its elements.
            DataElement(Tag(0x0009, 0x0010), .lo, "TRUSTMESH TEST"),
            DataElement(Tag(0x0009, 0x1001), .lo, "private text"),
            DataElement(Tag(0x0009, 0x1002), .ob, .bytes([1, 2, 3, 4, 5, 6])),
            DataElement(.patientName, .pn, .string(patientName)),
            DataElement(.patientID, .lo, "9434765919"),
            DataElement(.issuerOfPatientID, .lo, "HOSP"),
            DataElement(.patientBirthDate, .da, "19700101"),
            DataElement(.patientSex, .cs, "F"),
            DataElement(.otherPatientIDs, .lo, "MRN-1\\MRN-2"),
            DataElement(
                .otherPatientIDsSequence, .sq,
                .sequence(
                    [
                        [
                            DataElement(.patientID, .lo, "4010232137"),
                            DataElement(.issuerOfPatientID, .lo, "NHS"),
                            DataElement(.typeOfPatientID, .cs, "TEXT"),
                        ],
                        [
                            DataElement(.patientID, .lo, "X-77"),
                            DataElement(
                                .issuerOfPatientIDQualifiersSequence, .sq,
                                .sequence(
                                    [
                                        [
                                            DataElement(.universalEntityID, .ut, "2.16.840.1.113883.2.1.4.1"),
                                            DataElement(.universalEntityIDType, .cs, "ISO"),
                                        ]
                                    ], undefinedLength: false)),
                        ],
                    ], undefinedLength: false)),
            DataElement(.bodyPartExamined, .cs, "CHEST"),
            DataElement(.sliceThickness, .ds, "1.25"),
            DataElement(.studyInstanceUID, .ui, "2.25.1001"),
            DataElement(.seriesInstanceUID, .ui, "2.25.1002"),
            DataElement(.seriesNumber, .is, "3"),
            DataElement(.instanceNumber, .is, "17"),
            DataElement(.samplesPerPixel, .us, .uint16([1])),
            DataElement(.photometricInterpretation, .cs, "MONOCHROME2"),
            DataElement(.numberOfFrames, .is, "1"),
            DataElement(.rows, .us, .uint16([4])),
            DataElement(.columns, .us, .uint16([6])),
            DataElement(.bitsAllocated, .us, .uint16([16])),
            DataElement(.bitsStored, .us, .uint16([12])),
            DataElement(.highBit, .us, .uint16([11])),
            DataElement(.pixelRepresentation, .us, .uint16([0])),
            DataElement(.windowCenter, .ds, "40\\-600"),
            DataElement(.windowWidth, .ds, "400\\1500"),
            DataElement(.rescaleIntercept, .ds, "-1024"),
            DataElement(.rescaleSlope, .ds, "1"),
            DataElement(.pixelData, .ow, .uint16((0..<24).map { UInt16($0 * 100) })),
        ]
        if let characterSet { elements.append(DataElement(.specificCharacterSet, .cs, .string(characterSet))) }
        return elements
    }

    /// Encodes `dataset` as a Part 10 file in memory.
    static func encode(
        _ dataset: [DataElement], _ syntax: TransferSyntax, preamble: Bool = true, metaGroup: Bool = true
    ) throws -> [UInt8] {
        try DICOMWriter.encode(
            dataset, transferSyntax: syntax, preamble: preamble, metaGroup: metaGroup, sopClassUID: ctImageStorage,
            sopInstanceUID: sopInstanceUID)
    }

    /// Writes bytes to a file.
    static func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// Reads a file's bytes.
    static func bytes(of path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// Parses in-memory bytes.
    static func read(_ bytes: [UInt8], maximumReadSize: Int = .max) throws(DICOMError) -> DICOMFileInfo {
        var source = BytesSource(bytes, maximumReadSize: maximumReadSize)
        return try DICOMReader.read(source: &source)
    }

    /// The offset of the first occurrence of `needle` in `haystack`.
    static func offset(of needle: [UInt8], in haystack: [UInt8], from start: Int = 0) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        var index = start
        while index + needle.count <= haystack.count {
            if haystack[index] == needle[0] && Array(haystack[index..<index + needle.count]) == needle { return index }
            index += 1
        }
        return nil
    }

    /// The bytes of a tag as written in little endian.
    static func tagBytes(_ tag: Tag, bigEndian: Bool = false) -> [UInt8] {
        let g = [UInt8(tag.group & 0xFF), UInt8(tag.group >> 8)]
        let e = [UInt8(tag.element & 0xFF), UInt8(tag.element >> 8)]
        return bigEndian ? g.reversed() + e.reversed() : g + e
    }
}

/// A ``ByteSource`` that hands out bytes in seeded random amounts, for the drip-feed rule.
struct RandomSplitSource: ByteSource {
    let bytes: [UInt8]
    private var position = 0
    private var state: UInt64

    init(_ bytes: [UInt8], seed: UInt64) {
        self.bytes = bytes
        self.state = seed
    }

    private mutating func nextSize(_ limit: Int) -> Int {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let draw = Int((state >> 33) % 97)
        // Mostly small pieces, sometimes a large one.
        let size = draw < 90 ? draw % 13 + 1 : draw * 37
        return min(size, limit)
    }

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(DICOMError) -> Int {
        let count = nextSize(min(buffer.count, bytes.count - position))
        guard count > 0 else { return 0 }
        bytes.withUnsafeBytes { all in
            buffer.baseAddress!.copyMemory(from: all.baseAddress! + position, byteCount: count)
        }
        position += count
        return count
    }

    mutating func skip(_ count: Int) throws(DICOMError) -> Int {
        let skipped = nextSize(min(count, bytes.count - position))
        position += skipped
        return skipped
    }
}
