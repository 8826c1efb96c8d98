import Foundation
import Testing
import TrustMeshDICOM
import TrustMeshTesting

/// Damaged and hostile input: every case throws a `DICOMError` naming an offset; nothing traps.
@Suite struct MalformedInputTests {
    static func error(_ bytes: [UInt8]) -> DICOMError? {
        do {
            _ = try Fixtures.read(bytes)
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: Fixtures.uncompressedSyntaxes)
    func everyTruncationEitherParsesAPrefixOrThrowsWithAnOffset(syntax: TransferSyntax) throws {
        let bytes = try Fixtures.encode(Fixtures.richDataSet(characterSet: "ISO_IR 192"), syntax)
        let full = try Fixtures.read(bytes)
        var parsed = 0
        for cut in 0..<bytes.count {
            let prefix = Array(bytes[..<cut])
            do {
                let info = try Fixtures.read(prefix)
                // Only a cut between two top-level elements leaves a valid file.
                parsed += 1
                #expect(info.fileSize == cut)
                if let pixelData = full.pixelDataOffset { #expect(cut <= pixelData || cut == bytes.count) }
            } catch {
                #expect(error.offset != nil, "cut at \(cut): \(error)")
                if !syntax.isDeflated { #expect(error.offset! <= cut, "cut at \(cut): \(error)") }
            }
        }
        #expect(parsed < bytes.count / 4)
    }

    @Test func aLengthPastTheEndNamesTheOffsetTagAndFileSize() throws {
        var bytes = try Fixtures.encode(
            [DataElement(.patientName, .pn, "Doe^Jane"), DataElement(.patientID, .lo, "9434765919")],
            .explicitVRLittleEndian)
        // Make Patient ID claim 4000 bytes (its explicit VR header has a 16-bit length at +6).
        let offset = try #require(Fixtures.offset(of: Fixtures.tagBytes(.patientID) + Array("LO".utf8), in: bytes))
        bytes[offset + 6] = 0xA0
        bytes[offset + 7] = 0x0F
        let error = try #require(Self.error(bytes))
        #expect(error.kind == .truncated)
        #expect(error.offset == offset)
        #expect(error.tag == .patientID)
        #expect(
            error.description
                == "byte \(offset), tag (0010,0020): value length 4000 runs past the end of the file (\(bytes.count) bytes)"
        )
        // The value is never shown.
        #expect(!error.description.contains("9434765919"))
    }

    @Test func aHugeClaimedLengthAllocatesNothingAndThrows() throws {
        var bytes = try Fixtures.encode([DataElement(.patientID, .lo, "9434765919")], .implicitVRLittleEndian)
        let offset = try #require(Fixtures.offset(of: Fixtures.tagBytes(.patientID), in: bytes, from: 132 + 12))
        bytes.replaceSubrange(offset + 4..<offset + 8, with: [0xF0, 0xFF, 0xFF, 0x7F])
        let error = try #require(Self.error(bytes))
        #expect(error.kind == .valueTooLarge || error.kind == .truncated)
        #expect(error.offset == offset)
        // The same for a value the reader skips.
        bytes = try Fixtures.encode([DataElement(.studyID, .sh, "1")], .implicitVRLittleEndian)
        let skipped = try #require(Fixtures.offset(of: Fixtures.tagBytes(.studyID), in: bytes, from: 132))
        bytes.replaceSubrange(skipped + 4..<skipped + 8, with: [0xF0, 0xFF, 0xFF, 0x7F])
        #expect(Self.error(bytes)?.kind == .truncated)
    }

    @Test func anOversizedKeptValueIsRefused() throws {
        // Implicit VR has 32-bit lengths, so a 2 MiB Patient ID can be written.
        let bytes = try Fixtures.encode(
            [DataElement(.patientID, .lo, .bytes([UInt8](repeating: 0x41, count: 2 << 20)))], .implicitVRLittleEndian)
        let error = try #require(Self.error(bytes))
        #expect(error.kind == .valueTooLarge && error.tag == .patientID)
        // Values the reader does not keep may be any size.
        let large = try Fixtures.encode(
            [DataElement(.studyID, .sh, .bytes([UInt8](repeating: 0x41, count: 2 << 20)))], .implicitVRLittleEndian)
        #expect(Self.error(large) == nil)
    }

    @Test func badVRBytesAreNamed() throws {
        var bytes = try Fixtures.encode(Fixtures.richDataSet(), .explicitVRLittleEndian)
        let offset = try #require(Fixtures.offset(of: Fixtures.tagBytes(.modality) + Array("CS".utf8), in: bytes))
        bytes[offset + 4] = 0x3F
        bytes[offset + 5] = 0x01
        let error = try #require(Self.error(bytes))
        #expect(error.kind == .invalidVR)
        #expect(error.offset == offset && error.tag == .modality)
        #expect(error.description.hasSuffix("invalid VR \"?.\" (3F 01)"))
    }

    @Test func aDICMPrefixWithoutMetaInformationIsRefused() throws {
        let bytes = try Fixtures.encode(Fixtures.richDataSet(), .explicitVRLittleEndian, metaGroup: false)
        let error = try #require(Self.error(bytes))
        #expect(error.kind == .missingMetaInformation && error.offset == 132)
        #expect(Self.error(Array(bytes[..<132]))?.kind == .missingMetaInformation)
    }

    @Test func metaInformationWithoutTransferSyntaxIsRefused() throws {
        var bytes = try Fixtures.encode(Fixtures.richDataSet(), .explicitVRLittleEndian)
        let offset = try #require(Fixtures.offset(of: Fixtures.tagBytes(.transferSyntaxUID), in: bytes))
        bytes[offset + 2] = 0x11  // now (0002,0011), which is not the transfer syntax
        let error = try #require(Self.error(bytes))
        #expect(error.kind == .missingMetaInformation && error.tag == .transferSyntaxUID)
    }

    @Test func garbageIsNotDICOM() throws {
        #expect(Self.error([])?.kind == .notDICOM)
        #expect(Self.error(Array("hello, this is not an image\n".utf8))?.kind == .notDICOM)
        #expect(Self.error(Array("DICM".utf8))?.kind == .missingMetaInformation)
        var seeded = SeededGenerator(seed: 42)
        for length in [1, 7, 8, 131, 132, 200, 4096] {
            for _ in 0..<20 {
                let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &seeded) }
                let error = try #require(Self.error(bytes), "random bytes parsed")
                #expect(error.offset != nil)
            }
        }
    }

    @Test func binaryValuesOfImpossibleLengthAreRefused() throws {
        let bytes = try Fixtures.encode([DataElement(.rows, .us, .bytes([1, 2, 3]))], .explicitVRLittleEndian)
        let error = try #require(Self.error(bytes))
        #expect(error.kind == .invalidLength && error.tag == .rows)
    }

    @Test func anElementWhereAnItemBelongsIsRefused() throws {
        var bytes = try Fixtures.encode(Fixtures.richDataSet(), .explicitVRLittleEndian)
        // The Other Patient IDs Sequence's first item tag becomes a plain element tag.
        let sequence = try #require(Fixtures.offset(of: Fixtures.tagBytes(.otherPatientIDsSequence), in: bytes))
        let item = sequence + 12
        #expect(Array(bytes[item..<item + 4]) == Fixtures.tagBytes(.item))
        bytes.replaceSubrange(item..<item + 4, with: Fixtures.tagBytes(.patientID))
        let error = try #require(Self.error(bytes))
        #expect(error.kind == .missingItem && error.offset == item && error.tag == .otherPatientIDsSequence)
        // A delimiter where an element belongs.
        var stray = try Fixtures.encode([DataElement(.patientID, .lo, "1")], .explicitVRLittleEndian)
        stray += Fixtures.tagBytes(.sequenceDelimitationItem) + [0, 0, 0, 0]
        #expect(Self.error(stray)?.kind == .invalidLength)
    }

    @Test func nestingDeeperThan64IsRefusedAnd60IsRead() throws {
        func nested(_ depth: Int) -> [DataElement] {
            var elements = [DataElement(Tag(0x0008, 0x0100), .sh, "LEAF")]
            for _ in 0..<depth {
                elements = [DataElement(Tag(0x0040, 0xA730), .sq, .sequence([elements], undefinedLength: true))]
            }
            return elements + [DataElement(.patientID, .lo, "9434765919")]
        }
        #expect(try Fixtures.read(try Fixtures.encode(nested(60), .explicitVRLittleEndian)).attributes.patientID != nil)
        let error = try #require(Self.error(try Fixtures.encode(nested(70), .explicitVRLittleEndian)))
        #expect(error.kind == .nestingTooDeep && error.tag == Tag(0x0040, 0xA730))
    }

    @Test(arguments: Fixtures.uncompressedSyntaxes)
    func randomByteFlipsNeverCrash(syntax: TransferSyntax) throws {
        let original = try Fixtures.encode(Fixtures.richDataSet(characterSet: "ISO_IR 100", patientName: "Zoë"), syntax)
        var generator = SeededGenerator(seed: 0xF1F0 ^ UInt64(syntax.uid.utf8.count))
        var failures = 0
        for round in 0..<1500 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let index = Int.random(in: 0..<bytes.count, using: &generator)
                bytes[index] = UInt8.random(in: 0...255, using: &generator)
            }
            if let error = Self.error(bytes) {
                failures += 1
                #expect(error.offset != nil, "round \(round): \(error)")
                #expect(!error.reason.isEmpty)
            }
            if round % 100 == 0 { DripFeedTests.expectSameResultHoweverFed(bytes) }
        }
        #expect(failures > 0)
    }

    @Test func aTruncatedLargeFileReportsItsRealSize() throws {
        let dir = try TemporaryDirectory(prefix: "dicom-large-truncated")
        let path = dir.appending("short.dcm")
        let offset = try DICOMWriter.writeLargePixelDataFile(path: path, pixelDataLength: 1 << 20)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(offset + 1000))
        try handle.close()
        do {
            _ = try DICOMReader.read(path: path)
            Issue.record("a truncated file parsed")
        } catch {
            #expect(error.kind == .truncated && error.offset == offset && error.tag == .pixelData)
            #expect(error.reason == "value length 1048576 runs past the end of the file (\(offset + 1000) bytes)")
        }
    }

    @Test func aMissingFileIsAnIOError() {
        #expect(throws: DICOMError.self) { try DICOMReader.read(path: "/nonexistent/trustmesh.dcm") }
        do {
            _ = try DICOMReader.read(path: "/nonexistent/trustmesh.dcm")
        } catch {
            #expect(error.kind == .io && error.offset == nil)
        }
    }
}

/// A seedable generator for reproducible fuzzing (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
