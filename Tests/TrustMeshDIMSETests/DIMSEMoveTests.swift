import Foundation
import Testing
import TrustMeshDICOM
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshTesting

/// C-MOVE at real nodes on loopback: dcmtk's `movescu` and pynetdicom ask, dcmtk's `storescp`
/// receives.
@Suite(.serialized, .timeLimit(.minutes(5))) struct DIMSEMoveTests {
    static let nhs = DIMSENodeTests.nhs

    struct Exited: Error { let log: String }

    /// dcmtk's `storescp` in the background, writing what it receives, bit for bit, to `directory`.
    struct StoreSCP {
        let process: BackgroundProcess
        let directory: String
        let port: Int

        init(_ net: TestNetwork, name: String, port: Int) async throws {
            directory = net.directory.appending(name)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            self.port = port
            let executable =
                FileManager.default.isExecutableFile(atPath: "/usr/bin/storescp")
                ? "/usr/bin/storescp" : "storescp"
            process = try BackgroundProcess(
                ["-aet", name, "+xa", "+B", "-fe", ".dcm", "-od", directory, "\(port)"],
                logPath: net.directory.appending(name + ".log"), executable: executable,
                killHard: true)
            let process = process
            try await poll("storescp to listen", deadline: .seconds(30)) {
                guard process.isRunning else { throw Exited(log: process.log) }
                return (try? await DIMSENodeTests.dcmtk("echoscu", ["-aec", name, "127.0.0.1", "\(port)"]))?.status == 0
            }
        }

        var files: [String] { DIMSENodeTests.files(directory) }

        func clear() throws { for file in files { try FileManager.default.removeItem(atPath: file) } }
    }

    /// `movescu` at `port`; returns its output (the responses, with `-d`).
    static func movescu(
        _ port: Int, destination: String, _ keys: [String], patientRoot: Bool = false, callingAE: String = "MOVESCU"
    ) async throws -> String {
        let result = try await DIMSENodeTests.dcmtk(
            "movescu",
            [patientRoot ? "-P" : "-S", "-d", "-aet", callingAE, "-aec", "TM_RRK", "-aem", destination]
                + keys.flatMap { ["-k", $0] } + ["127.0.0.1", "\(port)"])
        return result.stdout + result.stderr
    }

    /// The value movescu's debug output (`-d`) gives a field of the last response, e.g.
    /// `DIMSE Status` → `0xa801: Refused: Move Destination unknown`.
    static func last(_ field: String, in output: String) -> String? {
        output.split(separator: "\n").last { $0.hasPrefix("D: " + field + " ") }
            .flatMap { $0.split(separator: ":", maxSplits: 2).dropFirst(2).first }
            .map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// A study written by ``SyntheticStudy``, each series converted to another transfer syntax with
    /// dcmtk, then ingested at `code` by the CLI (before the node starts).
    static func ingest(_ net: TestNetwork, _ code: String, uid: String, seed: UInt64) async throws -> [String: String] {
        let study = SyntheticStudy(
            patientID: nhs, instancesPerSeries: 2, seed: seed, studyInstanceUID: uid, seriesCount: 3, rows: 32,
            columns: 32)
        let made = try study.write(to: net.directory.appending("made-\(code)"))
        var original: [String: String] = [:]
        for (index, path) in made.enumerated() {
            let out = net.directory.appending("in-\(code)/\((path as NSString).lastPathComponent)")
            try FileManager.default.createDirectory(
                atPath: (out as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            switch index / 2 {
            case 0: #expect(try await DIMSENodeTests.dcmtk("dcmconv", ["+ti", path, out]).status == 0)
            case 1: #expect(try await DIMSENodeTests.dcmtk("dcmcrle", [path, out]).status == 0)
            default: try FileManager.default.copyItem(atPath: path, toPath: out)
            }
            original[try DICOMReader.read(path: out).attributes.sopInstanceUID ?? ""] = out
        }
        let ingest = try await CommandRunner.trustmesh([
            "ingest", "--data", net.dataDirectory(code), net.directory.appending("in-\(code)"),
        ])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        return original
    }

    @Test func movescuSendsHeldStudiesByteForByteAndRefusesWhatItCannotMove() async throws {
        let net = try TestNetwork(trusts: ["RRK", "RQ3"])
        let ports = try FreePorts.allocate(4)
        let (dicomPort, destinationPort, downPort, rq3Port) = (ports[0], ports[1], ports[2], ports[3])
        let local = "1.2.826.0.1.3680043.10.707.1"
        let remote = "1.2.826.0.1.3680043.10.707.2"
        let original = try await Self.ingest(net, "RRK", uid: local, seed: 707)
        _ = try await Self.ingest(net, "RQ3", uid: remote, seed: 708)
        // The destination table is checked before the node starts.
        for (value, reason) in [
            ("WAY_TOO_LONG_AE_TITLE=127.0.0.1:104", "1–16 ASCII characters"), ("BACK\\SLASH=h:104", "no backslash"),
            ("DEST=127.0.0.1:0", "port must be 1–65535"), ("DEST:104", "expected AE=HOST:PORT"),
        ] {
            let refused = try await CommandRunner.trustmesh([
                "node", "run", "--data", net.dataDirectory("RRK"), "--topology", net.topologyPath,
                "--move-destination", value,
            ])
            #expect(refused.status != 0)
            #expect(refused.stderr.contains(reason), "\(value): \(refused.stderr)")
        }
        let destination = try await StoreSCP(net, name: "DEST", port: destinationPort)
        try await net.start(
            "RRK",
            arguments: [
                "--dicom-port", "\(dicomPort)", "--move-destination", "DEST=127.0.0.1:\(destinationPort)",
                "--move-destination", "DOWN=127.0.0.1:\(downPort)", "--dicom-timeout", "5",
                "--query-retrieve-ae", "MOVESCU,PYNETDICOM",
            ])
        try await net.start("RQ3", arguments: ["--dicom-port", "\(rq3Port)"])
        try await DIMSENodeTests.waitForDICOM(net, "RRK")

        // The whole study: six instances in three transfer syntaxes, each data set as stored.
        let moved = try await Self.movescu(
            dicomPort, destination: "DEST", ["QueryRetrieveLevel=STUDY", "StudyInstanceUID=\(local)"])
        #expect(Self.last("DIMSE Status", in: moved)?.hasPrefix("0x0000") == true, "\(moved)")
        #expect(Self.last("Completed Suboperations", in: moved) == "6", "\(moved)")
        #expect(Self.last("Failed Suboperations", in: moved) == "0", "\(moved)")
        #expect(moved.contains("Received Move Response"))  // Pending, with the counts, on the way
        try await poll("storescp to write six files", deadline: .seconds(30)) { destination.files.count == 6 }
        var syntaxes: Set<String> = []
        for path in destination.files {
            let info = try DICOMReader.read(path: path)
            let source = try #require(original[info.attributes.sopInstanceUID ?? ""])
            #expect(try DIMSENodeTests.dataSet(path) == DIMSENodeTests.dataSet(source), "\(source)")
            syntaxes.insert(info.transferSyntax.uid)
        }
        #expect(syntaxes == ["1.2.840.10008.1.2", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.1"])

        // One series of the study, Patient Root.
        try destination.clear()
        let series = try DICOMReader.read(path: original.values.sorted()[0]).attributes.seriesInstanceUID ?? ""
        let seriesMove = try await Self.movescu(
            dicomPort, destination: "DEST",
            [
                "QueryRetrieveLevel=SERIES", "PatientID=\(Self.nhs)", "StudyInstanceUID=\(local)",
                "SeriesInstanceUID=\(series)",
            ], patientRoot: true)
        #expect(Self.last("DIMSE Status", in: seriesMove)?.hasPrefix("0x0000") == true, "\(seriesMove)")
        #expect(Self.last("Completed Suboperations", in: seriesMove) == "2", "\(seriesMove)")
        try await poll("storescp to write two files", deadline: .seconds(30)) { destination.files.count == 2 }
        for path in destination.files {
            #expect(try DICOMReader.read(path: path).attributes.seriesInstanceUID == series)
        }

        // A calling AE title not allowed to retrieve: Refused: Not Authorized (0124H), audited.
        let stranger = try await Self.movescu(
            dicomPort, destination: "DEST", ["QueryRetrieveLevel=STUDY", "StudyInstanceUID=\(local)"],
            callingAE: "WORKSTATION9")
        #expect(Self.last("DIMSE Status", in: stranger)?.hasPrefix("0x0124") == true, "\(stranger)")
        #expect(destination.files.count == 2)

        // An AE title not in the table: 0xA801.
        let unknown = try await Self.movescu(
            dicomPort, destination: "NOBODY", ["QueryRetrieveLevel=STUDY", "StudyInstanceUID=\(local)"])
        #expect(Self.last("DIMSE Status", in: unknown)?.hasPrefix("0xa801") == true, "\(unknown)")

        // A destination that is down: 0xA702, and the node goes on serving.
        let down = try await Self.movescu(
            dicomPort, destination: "DOWN", ["QueryRetrieveLevel=STUDY", "StudyInstanceUID=\(local)"])
        #expect(Self.last("DIMSE Status", in: down)?.hasPrefix("0xa702") == true, "\(down)")
        #expect(try await DIMSENodeTests.dcmtk("echoscu", ["-aec", "TM_RRK", "127.0.0.1", "\(dicomPort)"]).status == 0)

        // An unsupported level: 0xC000.
        let image = try await Self.movescu(
            dicomPort, destination: "DEST", ["QueryRetrieveLevel=PATIENT", "PatientID=\(Self.nhs)"], patientRoot: true)
        #expect(Self.last("DIMSE Status", in: image)?.hasPrefix("0xc000") == true, "\(image)")

        // A study held only at RQ3: not moved, and the answer says where it is.
        try await poll("RRK to learn of RQ3's study", deadline: .seconds(30)) {
            try await DIMSENodeTests.status(net, "RRK").peers.first { $0.ods == "RQ3" }?.records ?? 0 > 0
        }
        try destination.clear()
        let elsewhere = try await Self.movescu(
            dicomPort, destination: "DEST", ["QueryRetrieveLevel=STUDY", "StudyInstanceUID=\(remote)"])
        #expect(Self.last("DIMSE Status", in: elsewhere)?.hasPrefix("0xc001") == true, "\(elsewhere)")
        #expect(elsewhere.contains("held at RQ3"), "\(elsewhere)")
        // Both at once: the local study moves, the answer warns about the other.
        let both = try await Self.movescu(
            dicomPort, destination: "DEST", ["QueryRetrieveLevel=STUDY", "StudyInstanceUID=\(local)\\\(remote)"])
        #expect(Self.last("DIMSE Status", in: both)?.hasPrefix("0xb000") == true, "\(both)")
        #expect(Self.last("Completed Suboperations", in: both) == "6", "\(both)")
        #expect(both.contains("held at RQ3"), "\(both)")
        try await poll("storescp to write six files", deadline: .seconds(30)) { destination.files.count == 6 }

        // Audited: each move as a retrieve by the calling AE, with the destination; refusals too.
        let audit = try await CommandRunner.trustmesh([
            "audit", "export", "--data", net.dataDirectory("RRK"), "--out", net.directory.appending("rrk.jsonl"),
        ])
        #expect(audit.status == 0, "\(audit.stderr)")
        let entries = try String(contentsOfFile: net.directory.appending("rrk.jsonl"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        let retrieves = entries.filter { $0.contains("\"retrieve\"") }
        // Audited before the destination is reached: the move to DOWN too (then refused, 0xA702).
        #expect(retrieves.filter { $0.contains("C-MOVE to DEST at 127.0.0.1:\(destinationPort)") }.count == 3)
        #expect(retrieves.filter { $0.contains("C-MOVE to DOWN") }.count == 1)
        #expect(retrieves.count == 4)
        #expect(retrieves.allSatisfy { $0.contains("DICOM MOVESCU at 127.0.0.1") })
        #expect(retrieves.allSatisfy { $0.contains(local) && $0.contains(Self.nhs) })
        let refusals = entries.filter { $0.contains("\"dicomRefused\"") }
        #expect(refusals.contains { $0.contains("C-MOVE refused (0xA801)") })
        #expect(refusals.contains { $0.contains("C-MOVE refused (0xA702)") })
        #expect(refusals.contains { $0.contains("C-MOVE refused (0xC001)") })
        #expect(try await DIMSENodeTests.status(net, "RRK").dicom?.instancesSent == 14)

        // pynetdicom as a second, independent requester: Pending responses with counts, then Success.
        try destination.clear()
        let script = """
            import json, sys
            from pydicom.dataset import Dataset
            from pynetdicom import AE
            from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove as MOVE
            ae = AE(ae_title="PYNETDICOM")
            ae.add_requested_context(MOVE)
            assoc = ae.associate("127.0.0.1", int(sys.argv[1]), ae_title="TM_RRK")
            if not assoc.is_established:
                sys.exit("no association")
            query = Dataset()
            query.QueryRetrieveLevel = "STUDY"
            query.StudyInstanceUID = sys.argv[2]
            answers = []
            for status, _ in assoc.send_c_move(query, "DEST", MOVE):
                answers.append([status.Status, status.get("NumberOfCompletedSuboperations", None),
                                status.get("NumberOfRemainingSuboperations", None)])
            assoc.release()
            print(json.dumps(answers))
            """
        let python = try await CommandRunner.run("python3", ["-c", script, "\(dicomPort)", local])
        #expect(python.status == 0, "\(python.stderr)")
        let answers = try #require(
            try JSONSerialization.jsonObject(with: Data(python.stdout.utf8)) as? [[Any]], "\(python.stderr)")
        #expect(answers.last?.first as? Int == 0)
        #expect(answers.last?[1] as? Int == 6)
        #expect(answers.dropLast().contains { $0.first as? Int == 0xFF00 && $0[2] as? Int == 2 })
        try await poll("storescp to write six files", deadline: .seconds(30)) { destination.files.count == 6 }
        #expect(net.stop("RRK") == 0)
        #expect(net.stop("RQ3") == 0)
        destination.process.stop()
    }
}
