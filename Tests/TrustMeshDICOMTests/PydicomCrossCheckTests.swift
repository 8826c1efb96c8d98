import Foundation
import Testing
import TrustMeshDICOM
import TrustMeshTesting

/// pydicom as a second, independent reader of the files our writer makes.
@Suite(.timeLimit(.minutes(3))) struct PydicomCrossCheckTests {
    static let script = """
        import json, sys, pydicom
        out = []
        for path in sys.argv[1:]:
            ds = pydicom.dcmread(path)
            others = [{"PatientID": str(i.PatientID), "IssuerOfPatientID": str(i.get("IssuerOfPatientID", ""))}
                      for i in ds.get("OtherPatientIDsSequence", [])]
            out.append({"PatientName": str(ds.PatientName), "PatientID": str(ds.PatientID),
                        "StudyInstanceUID": str(ds.StudyInstanceUID), "Rows": int(ds.Rows),
                        "TransferSyntaxUID": str(ds.file_meta.TransferSyntaxUID), "Others": others})
        print(json.dumps(out))
        """

    @Test func pydicomReadsOurFilesAsWeDo() throws {
        let dir = try TemporaryDirectory(prefix: "dicom-pydicom")
        var paths: [String] = []
        var infos: [DICOMFileInfo] = []
        for syntax in Fixtures.uncompressedSyntaxes {
            for (characterSet, name) in DcmtkCrossCheckTests.characterSets {
                let path = dir.appending("\(paths.count).dcm")
                try DICOMWriter.write(
                    Fixtures.richDataSet(characterSet: characterSet, patientName: name), transferSyntax: syntax,
                    to: path, sopClassUID: Fixtures.ctImageStorage, sopInstanceUID: Fixtures.sopInstanceUID)
                paths.append(path)
                infos.append(try DICOMReader.read(path: path))
            }
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", Self.script] + paths
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "python3 with pydicom is needed (Scripts/setup)")
        let results = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        #expect(results.count == infos.count)
        for (theirs, ours) in zip(results, infos) {
            #expect(theirs["PatientName"] as? String == ours.attributes.patientName)
            #expect(theirs["PatientID"] as? String == ours.attributes.patientID)
            #expect(theirs["StudyInstanceUID"] as? String == ours.attributes.studyInstanceUID)
            #expect(theirs["Rows"] as? Int == ours.rows)
            #expect(theirs["TransferSyntaxUID"] as? String == ours.transferSyntax.uid)
            let others = try #require(theirs["Others"] as? [[String: String]])
            #expect(others.first == ["PatientID": "4010232137", "IssuerOfPatientID": "NHS"])
            #expect(ours.attributes.otherPatientIDs.first == OtherPatientID(patientID: "4010232137", issuer: "NHS"))
        }
    }
}
