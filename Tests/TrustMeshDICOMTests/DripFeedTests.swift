import Foundation
import Testing
import TrustMeshDICOM
import TrustMeshTesting

/// The drip-feed rule (STYLE.md §6): input fed whole, byte by byte, or at random splits gives identical output.
@Suite(.timeLimit(.minutes(3))) struct DripFeedTests {
    /// Reads `bytes` whole, one byte per call, and at several seeded random splits; all results must match,
    /// errors included.
    static func expectSameResultHoweverFed(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        let whole = describe { () throws(DICOMError) in try Fixtures.read(bytes) }
        let byteByByte = describe { () throws(DICOMError) in try Fixtures.read(bytes, maximumReadSize: 1) }
        #expect(byteByByte == whole, "byte by byte", sourceLocation: sourceLocation)
        for seed in UInt64(1)...5 {
            let split = describe { () throws(DICOMError) in
                var source = RandomSplitSource(bytes, seed: seed)
                return try DICOMReader.read(source: &source)
            }
            #expect(split == whole, "random splits, seed \(seed)", sourceLocation: sourceLocation)
        }
    }

    /// The result as a comparable value: the file info, or the error's full description.
    enum Outcome: Equatable {
        case info(DICOMFileInfo)
        case error(String)
    }

    static func describe(_ read: () throws(DICOMError) -> DICOMFileInfo) -> Outcome {
        do { return .info(try read()) } catch { return .error(error.description) }
    }

    @Test(arguments: Fixtures.uncompressedSyntaxes)
    func richFilesGiveIdenticalResultsHoweverFed(syntax: TransferSyntax) throws {
        for characterSet in [nil, "ISO_IR 100", "ISO_IR 192"] {
            let bytes = try Fixtures.encode(Fixtures.richDataSet(characterSet: characterSet), syntax)
            Self.expectSameResultHoweverFed(bytes)
            guard case .info(let info) = Self.describe({ () throws(DICOMError) in try Fixtures.read(bytes) }) else {
                Issue.record("the rich file did not parse")
                continue
            }
            #expect(info.attributes.patientID == "9434765919")
            #expect(info.fileSize == bytes.count)
        }
    }

    @Test func fileSourceGivesTheSameResultAsMemory() throws {
        let dir = try TemporaryDirectory(prefix: "dicom-drip")
        for syntax in Fixtures.uncompressedSyntaxes {
            let bytes = try Fixtures.encode(Fixtures.richDataSet(characterSet: "ISO_IR 192"), syntax)
            let path = dir.appending("file.dcm")
            try Fixtures.write(bytes, to: path)
            #expect(try DICOMReader.read(path: path) == (try Fixtures.read(bytes)))
            // A tiny buffer makes every read and skip cross buffer boundaries.
            var source = try FileByteSource(path: path, bufferSize: 3)
            #expect(try DICOMReader.read(source: &source) == (try Fixtures.read(bytes)))
        }
    }

    @Test func syntheticAndDcmtkFilesGiveIdenticalResultsHoweverFed() throws {
        let dir = try TemporaryDirectory(prefix: "dicom-drip-dcmtk")
        let study = SyntheticStudy(
            patientID: "9434765919", instancesPerSeries: 1, seed: 9, rows: 48, columns: 40,
            otherPatientIDs: [OtherPatientID(patientID: "4010232137", issuer: "NHS")])
        let source = try #require(try study.write(to: dir.path).first)
        Self.expectSameResultHoweverFed(try Fixtures.bytes(of: source))
        // Encapsulated pixel data (JPEG Lossless) and an undefined-length-everything encoding from dcmtk.
        let jpeg = dir.appending("jpeg.dcm")
        try Dcmtk.run("dcmcjpeg", [source, jpeg])
        Self.expectSameResultHoweverFed(try Fixtures.bytes(of: jpeg))
        let undefined = dir.appending("undefined.dcm")
        try Dcmtk.run("dcmconv", ["+ti", "-e", source, undefined])
        Self.expectSameResultHoweverFed(try Fixtures.bytes(of: undefined))
    }

    @Test func malformedFilesGiveIdenticalErrorsHoweverFed() throws {
        let bytes = try Fixtures.encode(Fixtures.richDataSet(), .explicitVRLittleEndian)
        for cut in stride(from: 0, to: bytes.count, by: 37) {
            Self.expectSameResultHoweverFed(Array(bytes[..<cut]))
        }
        let deflated = try Fixtures.encode(Fixtures.richDataSet(), .deflatedExplicitVRLittleEndian)
        for cut in stride(from: 0, to: deflated.count, by: 41) {
            Self.expectSameResultHoweverFed(Array(deflated[..<cut]))
        }
    }
}
