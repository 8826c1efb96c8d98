import Foundation
import Testing
import TrustMeshDICOM
import TrustMeshTesting

/// Behaviour of the reader beyond the dcmtk comparisons: streaming, UN sequences, JSON, value types.
@Suite(.timeLimit(.minutes(3))) struct ReaderTests {
    /// Counts the bytes handed out by `read`, as opposed to skipped.
    struct CountingSource<Base: ByteSource>: ByteSource {
        var base: Base
        var bytesRead = 0
        mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(DICOMError) -> Int {
            let count = try base.read(into: buffer)
            bytesRead += count
            return count
        }
        mutating func skip(_ count: Int) throws(DICOMError) -> Int { try base.skip(count) }
    }

    @Test(arguments: [TransferSyntax.explicitVRLittleEndian, .implicitVRLittleEndian, .explicitVRBigEndian])
    func aOneGigabyteSparseFileIsReadWithoutReadingItsPixels(syntax: TransferSyntax) throws {
        let dir = try TemporaryDirectory(prefix: "dicom-1gb")
        let path = dir.appending("large.dcm")
        let offset = try DICOMWriter.writeLargePixelDataFile(
            path: path, pixelDataLength: 1 << 30, transferSyntax: syntax)
        var source = CountingSource(base: try FileByteSource(path: path))
        let info = try DICOMReader.read(source: &source)
        let headerLength = syntax.isExplicitVR ? 12 : 8
        #expect(info.pixelDataOffset == offset)
        #expect(info.fileSize == offset + headerLength + (1 << 30))
        #expect(info.attributes.patientID == "9434765919")
        #expect(info.bitsAllocated == 16)
        #expect(source.bytesRead < 64 * 1024, "read \(source.bytesRead) bytes of a 1 GiB file")
        #expect(try DICOMReader.read(path: path) == info)
    }

    @Test func unknownVRWithUndefinedLengthIsReadAsAnImplicitSequence() throws {
        // PS3.5 §6.2.2: UN of undefined length holds Implicit VR Little Endian items. Other Patient IDs
        // Sequence arrives this way from systems that lost its VR.
        var bytes = try Fixtures.encode(
            [DataElement(.patientName, .pn, "Un^Known"), DataElement(.typeOfPatientID, .cs, "TEXT")],
            .explicitVRLittleEndian)
        func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
        func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        func implicitElement(_ tag: TrustMeshDICOM.Tag, _ text: String) -> [UInt8] {
            Fixtures.tagBytes(tag) + le32(UInt32(text.utf8.count)) + Array(text.utf8)
        }
        bytes += Fixtures.tagBytes(.otherPatientIDsSequence) + Array("UN".utf8) + [0, 0] + le32(0xFFFF_FFFF)
        bytes += Fixtures.tagBytes(.item) + le32(0xFFFF_FFFF)
        bytes += implicitElement(.patientID, "4010232137") + implicitElement(.issuerOfPatientID, "NHS ")
        bytes += Fixtures.tagBytes(.itemDelimitationItem) + le32(0)
        bytes += Fixtures.tagBytes(.sequenceDelimitationItem) + le32(0)
        bytes += Fixtures.tagBytes(Tag(0x0011, 0x0010)) + Array("LO".utf8) + le16(4) + Array("ACME".utf8)
        bytes += Fixtures.tagBytes(Tag(0x0011, 0x1010)) + Array("UN".utf8) + [0, 0] + le32(0xFFFF_FFFF)
        bytes += Fixtures.tagBytes(.item) + le32(0xFFFF_FFFF)
        bytes += implicitElement(Tag(0x0008, 0x0100), "113076")
        bytes += Fixtures.tagBytes(.itemDelimitationItem) + le32(0)
        bytes += Fixtures.tagBytes(.sequenceDelimitationItem) + le32(0)
        bytes += Fixtures.tagBytes(.studyInstanceUID) + Array("UI".utf8) + le16(6) + Array("2.25.5".utf8)
        let dir = try TemporaryDirectory(prefix: "dicom-un")
        let path = dir.appending("un.dcm")
        try Fixtures.write(bytes, to: path)
        let info = try DcmtkCrossCheckTests.expectAgreement(path)
        #expect(info.attributes.studyInstanceUID == "2.25.5")
        #expect(info.attributes.otherPatientIDs == [OtherPatientID(patientID: "4010232137", issuer: "NHS")])
        DripFeedTests.expectSameResultHoweverFed(bytes)
    }

    @Test func onlyTopLevelAttributesCount() throws {
        let info = try Fixtures.read(try Fixtures.encode(Fixtures.richDataSet(), .explicitVRLittleEndian))
        // The nested Referenced Image Sequence holds PatientID "NESTED-NOT-TOP" and Modality "MR".
        #expect(info.attributes.patientID == "9434765919")
        #expect(info.attributes.modality == "CT")
    }

    @Test func attributesEncodeToJSONWithDICOMKeywords() throws {
        let info = try Fixtures.read(
            try Fixtures.encode(Fixtures.richDataSet(characterSet: "ISO_IR 192"), .explicitVRLittleEndian))
        let json = try JSONEncoder().encode(info.attributes)
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        #expect(
            Set(object.keys) == [
                "PatientID", "PatientName", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
                "StudyTime", "AccessionNumber", "StudyDescription", "ReferringPhysicianName", "InstitutionName",
                "Modality", "SeriesInstanceUID", "SeriesNumber", "SeriesDescription", "BodyPartExamined",
                "SOPClassUID", "SOPInstanceUID", "InstanceNumber", "NumberOfFrames", "TransferSyntaxUID",
                "SpecificCharacterSet", "OtherPatientIDs",
            ])
        let others = try #require(object["OtherPatientIDs"] as? [[String: String]])
        #expect(others.first == ["PatientID": "4010232137", "IssuerOfPatientID": "NHS"])
        #expect(try JSONDecoder().decode(DICOMAttributes.self, from: json) == info.attributes)
        #expect(try JSONDecoder().decode(DICOMAttributes.self, from: Data("{}".utf8)) == DICOMAttributes())
    }

    @Test func tagsAndTransferSyntaxesDescribeThemselves() {
        #expect(Tag.patientID.description == "(0010,0020)")
        #expect(Tag(0x7FE0, 0x0010) == .pixelData && Tag.seriesDescription.description == "(0008,103E)")
        #expect(Tag(0x0008, 0x0010) < Tag(0x0010, 0x0000) && Tag(0x0009, 0x1001).isPrivate)
        let unknown = TransferSyntax(uid: "1.2.840.10008.1.2.4.201\0")
        #expect(unknown.uid == "1.2.840.10008.1.2.4.201")
        #expect(unknown.isExplicitVR && !unknown.isBigEndian && !unknown.isDeflated && unknown.isEncapsulated)
        #expect(!TransferSyntax.implicitVRLittleEndian.isExplicitVR && TransferSyntax.explicitVRBigEndian.isBigEndian)
        #expect(TransferSyntax.deflatedExplicitVRLittleEndian.isDeflated && TransferSyntax.rleLossless.isEncapsulated)
    }

    @Test func latin1AndUTF8NamesDecodeAndOtherCharacterSetsFallBack() throws {
        func name(_ characterSet: String?, _ value: [UInt8]) throws -> String? {
            var elements = [DataElement(.patientName, .pn, .bytes(value))]
            if let characterSet { elements.append(DataElement(.specificCharacterSet, .cs, .string(characterSet))) }
            return try Fixtures.read(try Fixtures.encode(elements, .explicitVRLittleEndian)).attributes.patientName
        }
        let latin1: [UInt8] = [0x4D, 0xFC, 0x6C, 0x6C, 0x65, 0x72]  // "Müller" in ISO 8859-1
        let utf8 = Array("Müller".utf8)
        #expect(try name("ISO_IR 100", latin1) == "Müller")
        #expect(try name("\\ISO 2022 IR 100", latin1) == "Müller")
        #expect(try name("ISO_IR 192", utf8) == "Müller")
        // Undeclared or unsupported sets: UTF-8 where valid, else Latin-1.
        #expect(try name(nil, utf8) == "Müller")
        #expect(try name(nil, latin1) == "Müller")
        #expect(try name("ISO_IR 144", latin1) == "Müller")
        #expect(try name("ISO_IR 100", Array("Doe^Jane \0".utf8)) == "Doe^Jane")
        #expect(try name(nil, Array("   ".utf8)) == nil)
    }

    @Test func theWriterSwapsBinaryValuesForBigEndian() throws {
        let dir = try TemporaryDirectory(prefix: "dicom-swap")
        var values: [String] = []
        for syntax in [TransferSyntax.explicitVRLittleEndian, .explicitVRBigEndian] {
            let path = dir.appending("swap.dcm")
            try DICOMWriter.write(
                Fixtures.richDataSet() + [
                    DataElement(Tag(0x0018, 0x1310), .us, .uint16([0, 512, 512, 0])),
                    DataElement(Tag(0x0028, 0x0106), .us, .bytes([0x34, 0x12])),
                    DataElement(Tag(0x0018, 0x9306), .fd, .bytes([0, 0, 0, 0, 0, 0, 0xF8, 0x3F])),
                ], transferSyntax: syntax, to: path, sopClassUID: Fixtures.ctImageStorage,
                sopInstanceUID: Fixtures.sopInstanceUID)
            values.append(
                try Dcmtk.run(
                    "dcmdump",
                    ["-q", "+L", "+P", "7fe0,0010", "+P", "0018,1310", "+P", "0028,0106", "+P", "0018,9306", path]))
        }
        #expect(values[0] == values[1])
        #expect(values[0].contains("US 4660") && values[0].contains("FD 1.5"))
        #expect(values[0].contains("OW 0000\\0064\\00c8"))
    }
}
