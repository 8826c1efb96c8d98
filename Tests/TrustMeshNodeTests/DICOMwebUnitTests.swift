import Foundation
import Testing
import TrustMeshDICOM
import TrustMeshDICOMweb
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore

/// The pieces of the DICOMweb routes that need no server: DICOM JSON, query parsing, multipart.
@Suite struct DICOMwebUnitTests {
    // MARK: DICOM JSON (PS3.18 F.2)

    @Test func dicomJSONWritesTagsVRsAndTypedValues() throws {
        var object = DICOMJSONObject()
        object.set(0x0020_000D, .ui, "1.2.3")
        object.set(0x0010_0010, .pn, "DOE^JANE")
        object.set(0x0020_1208, .is, ["12"])
        object.set(0x0028_1050, .ds, ["-40.5"])
        object.set(0x0008_0061, .cs, ["CT", "MR"])
        object.set(0x0008_0050, .sh, [])  // present, empty: no "Value" (F.2.5)
        object.set(0x0008_0020, .da, nil as String?)  // absent: left out
        var item = DICOMJSONObject()
        item.set(0x0008_1197, .us, integer: 0xC000)
        object.set(0x0008_1198, items: [item])
        let json = String(decoding: DICOMJSONObject.encode(object), as: UTF8.self)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: [String: Any]])
        #expect(parsed["0020000D"]?["vr"] as? String == "UI")
        #expect(parsed["0020000D"]?["Value"] as? [String] == ["1.2.3"])
        #expect((parsed["00100010"]?["Value"] as? [[String: String]])?.first == ["Alphabetic": "DOE^JANE"])
        #expect(parsed["00201208"]?["Value"] as? [Int] == [12])
        #expect(parsed["00281050"]?["Value"] as? [Double] == [-40.5])
        #expect(parsed["00080061"]?["Value"] as? [String] == ["CT", "MR"])
        #expect(parsed["00080050"]?["vr"] as? String == "SH")
        #expect(parsed["00080050"]?["Value"] == nil)
        #expect(parsed["00080020"] == nil)
        let failed = try #require(parsed["00081198"]?["Value"] as? [[String: [String: Any]]])
        #expect(failed.first?["00081197"]?["Value"] as? [Int] == [49152])
        // Keys in tag order, hex upper case, eight digits.
        let keys = json.matches(of: /"([0-9A-F]{8})":/).map { String($0.1) }
        #expect(keys.first == "00080050")
        #expect(keys.contains("0020000D"))
    }

    @Test func dicomJSONIsWrittenByteForByte() throws {
        var object = DICOMJSONObject()
        object.set(0x0010_0010, .pn, "Müller^Zoë==MYULER^ZOE")
        object.set(0x0008_1030, .lo, "CT \"head\" C:\\scan/2\n\u{1}end")
        object.set(0x0020_1208, .is, integer: -3)
        object.set(0x0028_0030, .ds, values: [.decimal(0.5), .decimal(.nan), .decimal(1e-5)])
        object.set(0x0028_1052, .ds, values: [.decimal(.infinity)])
        object.set(0x7FE0_0010, .ob, inlineBinary: [0, 1, 2, 255])
        var item = DICOMJSONObject()
        item.set(0x0008_1150, .ui, "1.2")
        object.set(0xFFFE_E000, items: [item, DICOMJSONObject()])
        let expected =
            #"{"00081030":{"Value":["CT \"head\" C:\\scan/2\n\u0001end"],"vr":"LO"},"#
            + #""00100010":{"Value":[{"Alphabetic":"Müller^Zoë","Phonetic":"MYULER^ZOE"}],"vr":"PN"},"#
            + #""00201208":{"Value":[-3],"vr":"IS"},"00280030":{"Value":[0.5,1e-05],"vr":"DS"},"#
            + #""00281052":{"vr":"DS"},"7FE00010":{"InlineBinary":"AAEC/w==","vr":"OB"},"#
            + #""FFFEE000":{"Value":[{"00081150":{"Value":["1.2"],"vr":"UI"}},{}],"vr":"SQ"}}"#
        let written = String(decoding: DICOMJSONObject.encode(object), as: UTF8.self)
        #expect(written == expected)
        // Valid JSON, which reads back to the same texts.
        let parsed = try #require(
            try JSONSerialization.jsonObject(with: Data(written.utf8)) as? [String: [String: Any]])
        #expect(parsed["00081030"]?["Value"] as? [String] == ["CT \"head\" C:\\scan/2\n\u{1}end"])
        #expect(String(decoding: DICOMJSONObject.encode([object, item]), as: UTF8.self).hasPrefix("[{\"0008"))
        #expect(DICOMJSONObject.encode([]) == Array("[]".utf8))
    }

    @Test func numbersThatDoNotParseAreDroppedNotSentAsStrings() {
        var object = DICOMJSONObject()
        object.set(0x0020_0013, .is, ["seven", "+7", " 8 "])
        #expect(object.attributes[0x0020_0013]?.values == [.integer(7), .integer(8)])
    }

    // MARK: Metadata from a full header dump

    static func dataset() -> [DataElement] {
        [
            DataElement(.specificCharacterSet, .cs, "ISO_IR 192"),
            DataElement(.imageType, .cs, "ORIGINAL\\PRIMARY\\AXIAL"),
            DataElement(.patientName, .pn, "Müller^Zoë=ミュラー^ゾエ"),
            DataElement(.patientID, .lo, "9434765919"),
            DataElement(
                .otherPatientIDsSequence, .sq,
                .sequence(
                    [[DataElement(.patientID, .lo, "4010232137"), DataElement(.issuerOfPatientID, .lo, "NHS")]],
                    undefinedLength: true)),
            DataElement(.studyInstanceUID, .ui, "1.2.3"),
            DataElement(.imagePositionPatient, .ds, "-125\\-125.5\\30"),
            DataElement(.rows, .us, .uint16([64])),
            DataElement(.columns, .us, .uint16([48])),
            // (0054,0080); the writer swaps it for big endian.
            DataElement(Tag(0x0028, 0x0009), .at, .bytes([0x54, 0x00, 0x80, 0x00])),
            DataElement(Tag(0x0009, 0x0010), .lo, "PRIVATE CREATOR"),
            DataElement(.pixelData, .ow, .uint16(Array(repeating: 7, count: 64 * 48))),
        ]
    }

    @Test(arguments: [TransferSyntax.explicitVRLittleEndian, .implicitVRLittleEndian, .explicitVRBigEndian])
    func metadataCarriesTheWholeHeaderTypedAndLeavesPixelDataOut(syntax: TransferSyntax) throws {
        let bytes = try DICOMWriter.encode(
            Self.dataset(), transferSyntax: syntax, sopClassUID: "1.2.840.10008.5.1.4.1.1.2", sopInstanceUID: "1.2.3.4")
        var source = BytesSource(bytes)
        let dump = try DataSetDump.read(source: &source)
        let object = DICOMJSONObject(dump.elements, dump: dump)
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(DICOMJSONObject.encode(object))) as? [String: [String: Any]])
        #expect(json["00080008"]?["Value"] as? [String] == ["ORIGINAL", "PRIMARY", "AXIAL"])
        let name = (json["00100010"]?["Value"] as? [[String: String]])?.first
        #expect(name == ["Alphabetic": "Müller^Zoë", "Ideographic": "ミュラー^ゾエ"])
        #expect(json["00200032"]?["Value"] as? [Double] == [-125, -125.5, 30])
        #expect(json["00280010"]?["Value"] as? [Int] == [64])
        #expect(json["00280011"]?["Value"] as? [Int] == [48])
        #expect(json["00080018"]?["Value"] as? [String] == ["1.2.3.4"])
        #expect(json["7FE00010"] == nil)
        let items = try #require(json["00101002"]?["Value"] as? [[String: [String: Any]]])
        #expect(items.first?["00100020"]?["Value"] as? [String] == ["4010232137"])
        if syntax != .implicitVRLittleEndian {
            // Explicit VR says what AT and a private element are; Implicit VR leaves the private one UN.
            #expect(json["00280009"]?["Value"] as? [String] == ["00540080"])
            #expect(json["00090010"]?["Value"] as? [String] == ["PRIVATE CREATOR"])
        } else {
            #expect(json["00090010"]?["vr"] as? String == "UN")
            #expect(json["00090010"]?["InlineBinary"] as? String == Data("PRIVATE CREATOR ".utf8).base64EncodedString())
        }
    }

    // MARK: QIDO query parameters

    func parse(_ pairs: [(String, String)], level: QIDOQuery.Level = .study) throws(DICOMwebError) -> QIDOQuery {
        try QIDOQuery.parse(pairs.map { (key: $0.0, value: $0.1) }, level: level)
    }

    @Test func queryKeysByKeywordOrTagWithRangesListsAndPaging() throws {
        let query = try parse([
            ("00100020", "943 476 5919"), ("StudyDate", "20240101-20241231"), ("ModalitiesInStudy", "CT,MR"),
            ("AccessionNumber", "ACC*"), ("StudyInstanceUID", "1.2.3,1.2.4"), ("limit", "5"), ("offset", "2"),
            ("includefield", "00081030,PatientName"), ("includefield", "all"), ("", ""), ("PatientName", "DOE*"),
        ])
        #expect(query.patientID?.digits == "9434765919")
        #expect(query.studyDateFrom == "20240101" && query.studyDateTo == "20241231")
        #expect(query.modalitiesInStudy == ["CT", "MR"])
        #expect(query.accessionNumber == "ACC*")
        #expect(query.studyUIDs == ["1.2.3", "1.2.4"])
        #expect(query.limit == 5 && query.offset == 2)
        #expect(query.includeAll && query.includeFields == [0x0008_1030, 0x0010_0010])
        #expect(query.ignored == ["PatientName"])

        let open = try parse([("StudyDate", "-20240101")])
        #expect(open.studyDateFrom == nil && open.studyDateTo == "20240101")
        let single = try parse([("StudyDate", "20240101")])
        #expect(single.studyDateFrom == "20240101" && single.studyDateTo == "20240101")
        #expect(try parse([("limit", "999999")]).limit == QIDOQuery.maximumLimit)
    }

    @Test(arguments: [
        ("PatientID", "123", "PatientID"),
        ("PatientID", "9434765918", "PatientID"),
        ("StudyDate", "2024-01-01", "StudyDate"),
        ("StudyDate", "20241301", "not a date"),
        ("StudyDate", "20241231-20240101", "ends before it starts"),
        ("ModalitiesInStudy", "ct", "code string"),
        ("StudyInstanceUID", "1.2.abc", "is not a valid UID"),
        ("StudyInstanceUID", "1.02.3", "is not a valid UID"),
        ("AccessionNumber", "A\\B", "AccessionNumber"),
        ("limit", "-1", "limit"),
        ("offset", "ten", "offset"),
        ("fuzzymatching", "yes", "fuzzymatching"),
        ("includefield", "NoSuchKeyword", "includefield"),
        ("Foo", "1", "unknown query parameter"),
    ])
    func badQueryValuesAreRefusedNamingTheParameter(key: String, value: String, mention: String) {
        #expect {
            try parse([(key, value)])
        } throws: { error in
            let error = error as? DICOMwebError
            return error?.status == 400 && error?.message.contains(mention) == true
        }
    }

    @Test func studyMatchingAppliesEveryKey() throws {
        let query = try parse([
            ("StudyDate", "20240101-"), ("ModalitiesInStudy", "MR,CT"), ("AccessionNumber", "AC?0*"),
        ])
        #expect(
            query.matchesStudy(
                nhsNumber: nil, studyUID: "1.2", studyDate: "20240315", modalities: ["CT"], accession: "ACC0001"))
        #expect(
            !query.matchesStudy(
                nhsNumber: nil, studyUID: "1.2", studyDate: "20231231", modalities: ["CT"], accession: "ACC0001"))
        #expect(
            !query.matchesStudy(
                nhsNumber: nil, studyUID: "1.2", studyDate: "20240315", modalities: ["US"], accession: "ACC0001"))
        #expect(
            !query.matchesStudy(
                nhsNumber: nil, studyUID: "1.2", studyDate: "20240315", modalities: ["CT"], accession: "XCC0001"))
        #expect(
            !query.matchesStudy(nhsNumber: nil, studyUID: "1.2", studyDate: nil, modalities: ["CT"], accession: "ACC0"))
        #expect(DICOMMatching.wildcard("*", matches: ""))
        #expect(DICOMMatching.wildcard("A*B?D", matches: "AxxBcD"))
        #expect(!DICOMMatching.wildcard("A*B?D", matches: "AxxBD"))
    }

    // MARK: Multipart

    static let boundary = "0f3cf5c0-70e0-41ef"

    static func body(_ parts: [[UInt8]], leadingCRLF: Bool = false, close: Bool = true) -> [UInt8] {
        var body: [UInt8] = leadingCRLF ? Array("\r\n".utf8) : []
        for (index, part) in parts.enumerated() {
            body += Array(
                ((index == 0 ? "" : "\r\n") + "--\(boundary)\r\nContent-Type: application/dicom\r\n\r\n").utf8)
            body += part
        }
        if close { body += Array("\r\n--\(boundary)--\r\n".utf8) }
        return body
    }

    /// The parts as the parser reports them, feeding `body` in the given piece sizes.
    static func split(_ body: [UInt8], pieces: [Int]) throws -> [(
        headers: [String: String], bytes: [UInt8], complete: Bool
    )] {
        var parser = MultipartParser(boundary: boundary)
        var parts: [(headers: [String: String], bytes: [UInt8], complete: Bool)] = []
        func take(_ events: [MultipartParser.Event]) {
            for event in events {
                switch event {
                case .begin(let headers): parts.append((headers, [], false))
                case .content(let bytes): parts[parts.count - 1].bytes += bytes
                case .end(let complete): parts[parts.count - 1].complete = complete
                }
            }
        }
        var offset = 0
        var index = 0
        while offset < body.count {
            let size = max(1, pieces[index % pieces.count])
            take(try parser.feed(body[offset..<min(body.count, offset + size)]))
            offset += size
            index += 1
        }
        take(try parser.finish())
        return parts
    }

    @Test func multipartGivesTheSamePartsWholeByteByByteAndAtRandomSplits() throws {
        // Part contents that look like the delimiter's beginnings, and CRLFs at the edges.
        let contents: [[UInt8]] = [
            Array("DICM\r\n--0f3cf5c0-70e0-41e\r\n--".utf8), [], Array(repeating: 0x2D, count: 5000) + [13, 10],
            (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31) },
        ]
        for leadingCRLF in [false, true] {
            let body = Self.body(contents, leadingCRLF: leadingCRLF)
            var generator = SystemRandomNumberGenerator()
            let randomPieces = (0..<64).map { _ in Int.random(in: 1...9000, using: &generator) }
            for pieces in [[body.count], [1], [2, 3, 5, 7], randomPieces] {
                let parts = try Self.split(body, pieces: pieces)
                #expect(parts.map(\.bytes) == contents, "pieces \(pieces.prefix(4))")
                #expect(parts.allSatisfy { $0.complete })
                #expect(parts.first?.headers["content-type"] == "application/dicom")
            }
        }
    }

    @Test func aBodyCutShortMarksOnlyItsLastPartIncomplete() throws {
        let body = Self.body([Array("first".utf8), Array("second, cut".utf8)], close: false)
        let parts = try Self.split(body, pieces: [7])
        #expect(parts.count == 2)
        #expect(parts[0].complete && parts[0].bytes == Array("first".utf8))
        #expect(!parts[1].complete)
    }

    @Test func aBodyWithoutItsBoundaryIsRefused() throws {
        #expect(throws: DICOMwebError.self) { try Self.split(Array("no parts here".utf8), pieces: [4]) }
        var parser = MultipartParser(boundary: Self.boundary)
        #expect(throws: DICOMwebError.self) {
            _ = try parser.feed(Array("--\(Self.boundary)garbage\r\n".utf8))
        }
    }

    @Test func mediaTypesAndAcceptListsParseQuotedParameters() {
        let type = MediaType("Multipart/Related; type=\"application/dicom\"; boundary=\"a;b\"")
        #expect(type?.type == "multipart/related")
        #expect(type?.parameters["type"] == "application/dicom")
        #expect(type?.parameters["boundary"] == "a;b")
        let list = MediaType.list("application/dicom+json, multipart/related; type=\"application/dicom\", */*;q=0")
        #expect(list.map(\.type) == ["application/dicom+json", "multipart/related", "*/*"])
        #expect(list.last?.parameters["q"] == "0")
    }
}
