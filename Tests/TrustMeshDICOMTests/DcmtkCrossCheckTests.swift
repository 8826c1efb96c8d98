import Foundation
import Testing
import TrustMeshDICOM
import TrustMeshTesting

/// Our reader against dcmtk's `dcmdump`, on files written by our writer and by dcmtk's own tools.
@Suite(.timeLimit(.minutes(3))) struct DcmtkCrossCheckTests {
    /// Each string attribute we extract, by its DICOM keyword.
    static func ourValues(_ info: DICOMFileInfo) -> [String: String?] {
        let a = info.attributes
        return [
            "PatientID": a.patientID, "PatientName": a.patientName, "PatientBirthDate": a.patientBirthDate,
            "PatientSex": a.patientSex, "StudyInstanceUID": a.studyInstanceUID, "StudyDate": a.studyDate,
            "StudyTime": a.studyTime, "AccessionNumber": a.accessionNumber, "StudyDescription": a.studyDescription,
            "ReferringPhysicianName": a.referringPhysicianName, "InstitutionName": a.institutionName,
            "Modality": a.modality, "SeriesInstanceUID": a.seriesInstanceUID, "SeriesNumber": a.seriesNumber,
            "SeriesDescription": a.seriesDescription, "BodyPartExamined": a.bodyPartExamined,
            "SOPClassUID": a.sopClassUID, "SOPInstanceUID": a.sopInstanceUID, "InstanceNumber": a.instanceNumber,
            "NumberOfFrames": a.numberOfFrames, "TransferSyntaxUID": a.transferSyntaxUID,
            "SpecificCharacterSet": a.specificCharacterSet, "Rows": info.rows.map(String.init),
            "Columns": info.columns.map(String.init), "BitsAllocated": info.bitsAllocated.map(String.init),
            "BitsStored": info.bitsStored.map(String.init),
            "PixelRepresentation": info.pixelRepresentation.map(String.init),
            "SamplesPerPixel": info.samplesPerPixel.map(String.init),
            "PhotometricInterpretation": info.photometricInterpretation,
        ]
    }

    /// The other patient IDs as dcmdump shows them: Other Patient IDs Sequence items, then the retired
    /// Other Patient IDs values with the top-level issuer.
    static func dcmdumpOtherPatientIDs(_ elements: [Dcmtk.Element]) -> [OtherPatientID] {
        var result: [OtherPatientID] = []
        var inSequence = false
        var current: (id: String?, issuer: String?, entity: String?)?
        func flush() {
            if let item = current, let id = item.id?.trimmingCharacters(in: .whitespaces), !id.isEmpty {
                let entry = OtherPatientID(patientID: id, issuer: item.issuer ?? item.entity)
                if !result.contains(entry) { result.append(entry) }
            }
            current = nil
        }
        for element in elements {
            if element.depth == 0 {
                if inSequence { flush() }
                inSequence = element.keyword == "OtherPatientIDsSequence"
                continue
            }
            guard inSequence else { continue }
            if element.depth == 1 && element.keyword == "Item" {
                flush()
                current = (nil, nil, nil)
            } else if element.depth == 2 && element.keyword == "PatientID" {
                current?.id = element.value
            } else if element.depth == 2 && element.keyword == "IssuerOfPatientID" {
                current?.issuer = nonEmpty(element.value)
            } else if element.depth == 4 && element.keyword == "UniversalEntityID" && current?.entity == nil {
                current?.entity = nonEmpty(element.value)
            }
        }
        flush()
        let top = Dictionary(elements.filter { $0.depth == 0 }.map { ($0.keyword, $0.value) }) { first, _ in first }
        if let retired = top["OtherPatientIDs"] {
            for value in retired.split(separator: "\\") {
                let id = value.trimmingCharacters(in: .whitespaces)
                let entry = OtherPatientID(patientID: id, issuer: top["IssuerOfPatientID"].flatMap(nonEmpty))
                if !id.isEmpty && !result.contains(entry) { result.append(entry) }
            }
        }
        return result
    }

    static func nonEmpty(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: CharacterSet(charactersIn: " \0"))
        return trimmed.isEmpty ? nil : trimmed
    }

    /// Reads `path` with our reader and with dcmdump and checks that every attribute agrees.
    @discardableResult
    static func expectAgreement(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) throws
        -> DICOMFileInfo
    {
        let info = try DICOMReader.read(path: path)
        let elements = try Dcmtk.elements(path)
        let reference = Dictionary(elements.filter { $0.depth == 0 }.map { ($0.keyword, $0.value) }) { a, _ in a }
        // dcmdump +U8 reports every file as ISO_IR 192; callers check the character set themselves.
        for (keyword, ours) in ourValues(info) where keyword != "SpecificCharacterSet" {
            let theirs = reference[keyword].flatMap(nonEmpty)
            #expect(ours == theirs, "\(keyword) in \(path)", sourceLocation: sourceLocation)
        }
        for (keyword, ours) in [
            ("WindowCenter", info.windowCenter), ("WindowWidth", info.windowWidth),
            ("RescaleSlope", info.rescaleSlope), ("RescaleIntercept", info.rescaleIntercept),
        ] {
            let theirs = reference[keyword].flatMap(nonEmpty).flatMap {
                Double($0.split(separator: "\\").first.map(String.init) ?? "")
            }
            #expect(ours == theirs, "\(keyword) in \(path)", sourceLocation: sourceLocation)
        }
        #expect(
            info.attributes.otherPatientIDs == dcmdumpOtherPatientIDs(elements), "OtherPatientIDs in \(path)",
            sourceLocation: sourceLocation)
        #expect(info.fileSize == (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int))
        if let offset = info.pixelDataOffset {
            // The offset must point at the Pixel Data tag itself.
            let bytes = try Fixtures.bytes(of: path)
            let tag = Fixtures.tagBytes(.pixelData, bigEndian: info.transferSyntax.isBigEndian)
            #expect(Array(bytes[offset..<offset + 4]) == tag, sourceLocation: sourceLocation)
        }
        return info
    }

    static let characterSets: [(String?, String)] = [
        (nil, "Doe^Jane"), ("ISO_IR 100", "Müller^Zoë"), ("ISO_IR 192", "Ōkubo^Ĳ"),
    ]

    @Test(arguments: Fixtures.uncompressedSyntaxes)
    func ourFilesReadAsDcmdumpReadsThem(syntax: TransferSyntax) throws {
        let dir = try TemporaryDirectory(prefix: "dicom-cross")
        for (index, (characterSet, name)) in Self.characterSets.enumerated() {
            let path = dir.appending("rich-\(index).dcm")
            try DICOMWriter.write(
                Fixtures.richDataSet(characterSet: characterSet, patientName: name), transferSyntax: syntax,
                to: path, sopClassUID: Fixtures.ctImageStorage, sopInstanceUID: Fixtures.sopInstanceUID)
            let info = try Self.expectAgreement(path)
            #expect(info.attributes.patientName == name)
            #expect(info.attributes.specificCharacterSet == characterSet)
            #expect(info.attributes.patientID == "9434765919")
            #expect(info.attributes.modality == "CT")
            #expect(info.attributes.studyDescription == "ODD")
            #expect(info.attributes.seriesDescription == "padded both sides")
            #expect(info.transferSyntax == syntax)
            #expect(info.hasPreamble && info.hasMetaGroup)
            #expect(info.windowCenter == 40 && info.windowWidth == 400)
            #expect(
                info.attributes.otherPatientIDs == [
                    OtherPatientID(patientID: "4010232137", issuer: "NHS"),
                    OtherPatientID(patientID: "X-77", issuer: "2.16.840.1.113883.2.1.4.1"),
                    OtherPatientID(patientID: "MRN-1", issuer: "HOSP"),
                    OtherPatientID(patientID: "MRN-2", issuer: "HOSP"),
                ])
            #expect((info.pixelDataOffset == nil) == syntax.isDeflated)
        }
    }

    @Test(arguments: ["+ti", "+te", "+tb", "+td"])
    func filesConvertedByDcmconvReadTheSame(option: String) throws {
        let dir = try TemporaryDirectory(prefix: "dicom-dcmconv")
        for (index, (characterSet, name)) in Self.characterSets.enumerated() {
            let original = dir.appending("original-\(index).dcm")
            let converted = dir.appending("converted-\(index).dcm")
            try DICOMWriter.write(
                Fixtures.richDataSet(characterSet: characterSet, patientName: name),
                transferSyntax: .explicitVRLittleEndian, to: original, sopClassUID: Fixtures.ctImageStorage,
                sopInstanceUID: Fixtures.sopInstanceUID)
            try Dcmtk.run("dcmconv", [option, original, converted])
            let info = try Self.expectAgreement(converted)
            var expected = try DICOMReader.read(path: original).attributes
            expected.transferSyntaxUID = info.attributes.transferSyntaxUID
            #expect(info.attributes == expected)
        }
    }

    @Test func ourFilesWithoutPreambleOrMetaReadAsDcmdumpReadsThem() throws {
        let dir = try TemporaryDirectory(prefix: "dicom-bare")
        for syntax in [TransferSyntax.implicitVRLittleEndian, .explicitVRLittleEndian] {
            // Meta group at byte 0, no preamble.
            let noPreamble = dir.appending("no-preamble.dcm")
            try Fixtures.write(try Fixtures.encode(Fixtures.richDataSet(), syntax, preamble: false), to: noPreamble)
            let info = try Self.expectAgreement(noPreamble)
            #expect(!info.hasPreamble && info.hasMetaGroup && info.transferSyntax == syntax)

            // A bare data set: the encoding is guessed from the first element.
            let bare = dir.appending("bare.dcm")
            try Fixtures.write(
                try Fixtures.encode(Fixtures.richDataSet(), syntax, preamble: false, metaGroup: false), to: bare)
            let bareInfo = try DICOMReader.read(path: bare)
            #expect(!bareInfo.hasPreamble && !bareInfo.hasMetaGroup && bareInfo.transferSyntax == syntax)
            let reference = Dictionary(
                try Dcmtk.elements(bare, extraArguments: ["-f"]).filter { $0.depth == 0 }.map { ($0.keyword, $0.value) }
            ) { a, _ in a }
            #expect(bareInfo.attributes.patientID == reference["PatientID"])
            #expect(bareInfo.attributes.sopInstanceUID == reference["SOPInstanceUID"])
            var expected = info.attributes
            expected.transferSyntaxUID = nil
            #expect(bareInfo.attributes == expected)
        }
    }

    @Test func valuesInsertedByDcmodifyAreRead() throws {
        let dir = try TemporaryDirectory(prefix: "dicom-dcmodify")
        let path = dir.appending("modified.dcm")
        try DICOMWriter.write(
            [
                DataElement(.specificCharacterSet, .cs, "ISO_IR 192"),
                DataElement(.patientID, .lo, "OLD"),
                DataElement(.modality, .cs, "MR"),
            ], transferSyntax: .explicitVRLittleEndian, to: path, sopClassUID: Fixtures.ctImageStorage,
            sopInstanceUID: Fixtures.sopInstanceUID)
        try Dcmtk.run(
            "dcmodify",
            [
                "-nb", "-m", "PatientID=9434765919", "-i", "PatientName=Ødegård^Åse", "-i", "AccessionNumber=ACC9",
                "-i", "(0010,1000)=A1\\B2", "-i", "IssuerOfPatientID=TRUST",
                "-i", "OtherPatientIDsSequence[0].PatientID=4010232137",
                "-i", "OtherPatientIDsSequence[0].IssuerOfPatientID=NHS",
                "-i", "OtherPatientIDsSequence[1].PatientID=Q-1",
                "-i", "OtherPatientIDsSequence[1].IssuerOfPatientIDQualifiersSequence[0].UniversalEntityID=1.2.3",
                "-i", "(0011,0010)=ACME", path,
            ])
        let info = try Self.expectAgreement(path)
        #expect(info.attributes.patientID == "9434765919")
        #expect(info.attributes.patientName == "Ødegård^Åse")
        #expect(
            info.attributes.otherPatientIDs == [
                OtherPatientID(patientID: "4010232137", issuer: "NHS"),
                OtherPatientID(patientID: "Q-1", issuer: "1.2.3"),
                OtherPatientID(patientID: "A1", issuer: "TRUST"), OtherPatientID(patientID: "B2", issuer: "TRUST"),
            ])
    }

    @Test func img2dcmFileFromABitmapIsRead() throws {
        let dir = try TemporaryDirectory(prefix: "dicom-img2dcm")
        let bitmap = dir.appending("image.bmp")
        try Fixtures.write(Self.bitmap(width: 8, height: 6), to: bitmap)
        let path = dir.appending("bmp.dcm")
        try Dcmtk.run(
            "img2dcm", ["-i", "BMP", "-k", "PatientID=9434765919", "-k", "PatientName=Bitmap^Bea", bitmap, path])
        let info = try Self.expectAgreement(path)
        #expect(info.attributes.patientName == "Bitmap^Bea")
        #expect(info.rows == 6 && info.columns == 8)
        #expect(info.pixelDataOffset != nil)
    }

    @Test func encapsulatedJPEGFilesFromImg2dcmAndDcmcjpegAreRead() throws {
        let dir = try TemporaryDirectory(prefix: "dicom-jpeg")
        let study = SyntheticStudy(
            patientID: "9434765919", patientName: "Jpeg^Jo", instancesPerSeries: 1, seed: 5, rows: 64, columns: 64)
        let source = try #require(try study.write(to: dir.appending("in")).first)

        // JPEG Lossless (dcmcjpeg's default) and RLE Lossless re-encodings of our file.
        let lossless = dir.appending("lossless.dcm")
        try Dcmtk.run("dcmcjpeg", [source, lossless])
        let losslessInfo = try Self.expectAgreement(lossless)
        #expect(losslessInfo.transferSyntax.isEncapsulated)
        #expect(losslessInfo.attributes.patientName == "Jpeg^Jo")
        let rle = dir.appending("rle.dcm")
        try Dcmtk.run("dcmcrle", [source, rle])
        #expect(try Self.expectAgreement(rle).transferSyntax == .rleLossless)

        // A baseline JPEG wrapped by img2dcm: 8-bit, encapsulated as it is.
        let jpeg = dir.appending("image.jpg")
        try Dcmtk.run("dcmj2pnm", ["+oj", "--use-window", "1", source, jpeg])
        let wrapped = dir.appending("baseline.dcm")
        try Dcmtk.run("img2dcm", ["-i", "JPEG", "-k", "PatientID=4010232137", jpeg, wrapped])
        let baseline = try Self.expectAgreement(wrapped)
        #expect(baseline.transferSyntax == .jpegBaseline)
        #expect(baseline.attributes.patientID == "4010232137")
        #expect(baseline.pixelDataOffset != nil)
    }

    @Test func aSyntheticStudyIsValidCTForDcmtk() throws {
        let dir = try TemporaryDirectory(prefix: "dicom-synthetic")
        let study = SyntheticStudy(
            patientID: "9434765919", patientName: "Ōkubo^Ĳ", instancesPerSeries: 3, seed: 11, seriesCount: 2,
            rows: 128, columns: 96, otherPatientIDs: [OtherPatientID(patientID: "4010232137", issuer: "NHS")])
        let paths = try study.write(to: dir.appending("study"))
        #expect(paths.count == 6)
        var instances: Set<String> = []
        for path in paths {
            let info = try Self.expectAgreement(path)
            #expect(info.attributes.studyInstanceUID == study.studyInstanceUID)
            #expect(info.attributes.patientName == "Ōkubo^Ĳ")
            #expect(info.attributes.sopClassUID == SyntheticStudy.ctImageStorage)
            #expect(info.rows == 128 && info.columns == 96 && info.rescaleIntercept == -1024)
            #expect(info.attributes.otherPatientIDs == [OtherPatientID(patientID: "4010232137", issuer: "NHS")])
            instances.insert(try #require(info.attributes.sopInstanceUID))
        }
        #expect(instances.count == 6)
        // dcmtk can render the pixels: the image is well-formed.
        try Dcmtk.run("dcm2pnm", ["--use-window", "1", paths[0], dir.appending("slice.pgm")])
    }

    /// A 24-bit bottom-up BMP of a gradient.
    static func bitmap(width: Int, height: Int) -> [UInt8] {
        let rowSize = (width * 3 + 3) / 4 * 4
        let size = 54 + rowSize * height
        func le32(_ value: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        func le16(_ value: Int) -> [UInt8] { (0..<2).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        var bytes: [UInt8] = Array("BM".utf8) + le32(size) + le32(0) + le32(54)
        bytes += le32(40) + le32(width) + le32(height) + le16(1) + le16(24) + le32(0) + le32(rowSize * height)
        bytes += le32(2835) + le32(2835) + le32(0) + le32(0)
        for y in 0..<height {
            var row: [UInt8] = []
            for x in 0..<width {
                let value = UInt8((x * 255 / max(width - 1, 1) + y * 10) % 256)
                row += [value, value, value]
            }
            row += [UInt8](repeating: 0, count: rowSize - row.count)
            bytes += row
        }
        return bytes
    }
}
