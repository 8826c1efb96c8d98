import Foundation
import Testing
import TrustMeshDICOM
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshTesting

/// C-STORE's spool against real processes: a node answers an instance once its file is durable in
/// `DIR/incoming/spool` and catalogues it afterwards; killed with SIGKILL part-way through a study,
/// it loses nothing it answered Success for.
@Suite(.serialized, .timeLimit(.minutes(5))) struct DICOMSpoolTests {
    static let nhs = "9434765919"

    /// The node, started by the test itself so that it can be killed with SIGKILL.
    static func startNode(_ net: TestNetwork, port: Int, log: String) async throws -> BackgroundProcess {
        let node = try BackgroundProcess(
            [
                "node", "run", "--topology", net.topologyPath, "--local-address", net.localAddress("RRK"), "--access",
                try await net.accessFile("RRK"), "--dicom-port", "\(port)", "--data", net.dataDirectory("RRK"),
            ], logPath: net.directory.appending(log), killHard: true)
        try await poll("RRK's DICOM listener", deadline: .seconds(30)) {
            guard node.isRunning else { throw CommandRunnerError(message: "RRK exited:\n\(node.log)") }
            return (try? await DIMSENodeTests.dcmtk("echoscu", ["-aec", "TM_RRK", "127.0.0.1", "\(port)"]))?.status == 0
        }
        return node
    }

    /// Files storescu was answered Success for, in the order sent, from its `-v` output: each
    /// "Sending file" is followed by its response.
    static func answeredSuccess(_ output: String) -> [String] {
        var current: String?
        var answered: [String] = []
        for line in output.split(separator: "\n") {
            if let range = line.range(of: "Sending file: ") {
                current = String(line[range.upperBound...]).trimmingCharacters(in: .whitespaces)
            } else if line.contains("Received Store Response (Success)"), let file = current {
                answered.append(file)
                current = nil
            }
        }
        return answered
    }

    /// Instances answered and waiting in the spool for the catalogue (journals aside).
    static func spooled(_ net: TestNetwork) -> [String] {
        let spool = net.dataDirectory("RRK") + "/incoming/spool"
        return ((try? FileManager.default.contentsOfDirectory(atPath: spool)) ?? []).filter {
            $0.hasSuffix(".dcm") && !$0.hasPrefix(".incoming-")
        }
    }

    static func spoolIsEmpty(_ net: TestNetwork) -> Bool {
        let spool = net.dataDirectory("RRK") + "/incoming/spool"
        return ((try? FileManager.default.contentsOfDirectory(atPath: spool)) ?? []).isEmpty
    }

    @Test func everyInstanceAnsweredSuccessBeforeAKillIsCataloguedOnceByteForByteAfterARestart() async throws {
        let net = try TestNetwork(trusts: ["RRK"])
        let port = try FreePorts.allocate(1)[0]
        let uid = "1.2.826.0.1.3680043.10.606.17"
        let study = SyntheticStudy(
            patientID: Self.nhs, instancesPerSeries: 300, seed: 1717, studyInstanceUID: uid, rows: 64, columns: 64)
        let made = try study.write(to: net.directory.appending("pacs"))
        #expect(made.count == 300)

        var node = try await Self.startNode(net, port: port, log: "RRK-1.log")
        let storescu = try BackgroundProcess(
            ["-v", "-aec", "TM_RRK", "-xe", "+sd", "+r", "127.0.0.1", "\(port)", net.directory.appending("pacs")],
            logPath: net.directory.appending("storescu.log"), executable: "/usr/bin/storescu", killHard: true)
        // Killed once 60 instances were answered and at least one answered instance waits in the
        // spool for the catalogue: the crash falls between an answer and its catalogue commit.
        try await poll(
            "60 instances answered, one of them not yet catalogued", deadline: .seconds(120), every: .milliseconds(2)
        ) {
            guard storescu.isRunning else {
                throw CommandRunnerError(message: "storescu ended before the kill:\n\(storescu.log.suffix(2000))")
            }
            return Self.answeredSuccess(storescu.log).count >= 60 && !Self.spooled(net).isEmpty
        }
        node.stop()
        let leftInSpool = Self.spooled(net).count
        try await poll("storescu to give up", deadline: .seconds(60)) { !storescu.isRunning }
        let answered = Self.answeredSuccess(storescu.log)
        #expect(answered.count >= 60 && answered.count < 300, "killed part-way: \(answered.count) answered")
        #expect(leftInSpool > 0, "the kill left answered instances to catalogue")
        print("DICOMSpoolTests: killed after \(answered.count) answered, \(leftInSpool) in the spool")
        let sops = Dictionary(
            uniqueKeysWithValues: try made.map { (try DICOMReader.read(path: $0).attributes.sopInstanceUID ?? "", $0) })

        // Restarted: the spool is taken up (before the listener serves) and emptied.
        node = try await Self.startNode(net, port: port, log: "RRK-2.log")
        try await poll("the spool to empty", deadline: .seconds(60)) { Self.spoolIsEmpty(net) }
        #expect(node.log.contains("taking up what the last run left"), "\(node.log.suffix(2000))")
        try await net.mintTestToken("RRK")
        let status = try await DIMSENodeTests.status(net, "RRK")
        #expect(status.ownRecords == 1, "the study is published once, after its instances are catalogued")

        // Every instance answered Success is held, byte for byte; nothing twice, nothing unsent.
        let exportDirectory = net.directory.appending("export")
        let export = try await CommandRunner.trustmesh([
            "export", "--data", net.dataDirectory("RRK"), "--study", uid, "--out", exportDirectory,
        ])
        #expect(export.status == 0, "\(export.stderr)")
        var exported: [String: String] = [:]
        for path in DIMSENodeTests.files(exportDirectory) {
            let sop = try #require(try DICOMReader.read(path: path).attributes.sopInstanceUID)
            #expect(exported[sop] == nil, "\(sop) exported twice")
            exported[sop] = path
        }
        #expect(status.instances == exported.count)
        print("DICOMSpoolTests: \(exported.count) held after the restart")
        #expect(exported.count >= answered.count)
        for sop in exported.keys { #expect(sops[sop] != nil, "\(sop) was never sent") }
        let bySource = Dictionary(uniqueKeysWithValues: sops.map { ($0.value, $0.key) })
        for file in answered {
            let sop = try #require(bySource[file], "\(file)")
            let held = try #require(exported[sop], "answered Success but not held: \(file)")
            #expect(try DIMSENodeTests.dataSet(held) == DIMSENodeTests.dataSet(file), "\(file)")
        }

        // The ingest is audited once, as sent by storescu (the journal's sender), and the record
        // is published once; a second restart publishes nothing more.
        node.stop()
        node = try await Self.startNode(net, port: port, log: "RRK-3.log")
        try await net.mintTestToken("RRK")
        #expect(try await DIMSENodeTests.status(net, "RRK").ownRecords == 1)
        let audit = try await CommandRunner.trustmesh([
            "audit", "export", "--data", net.dataDirectory("RRK"), "--out", net.directory.appending("audit.jsonl"),
        ])
        #expect(audit.status == 0, "\(audit.stderr)")
        let entries = try String(contentsOfFile: net.directory.appending("audit.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        let ingests = entries.filter { $0.contains("\"ingest\"") && $0.contains(uid) }
        #expect(ingests.count == 1, "\(ingests)")
        #expect(ingests.first?.contains("DICOM STORESCU at 127.0.0.1") == true, "\(ingests)")
        #expect(entries.filter { $0.contains("\"recordPublished\"") && $0.contains(uid) }.count == 1)

        // The whole study sent again: the instances held are answered by the ingest itself
        // (unchanged), the rest spooled; the study grew, so one more record.
        let again = try await DIMSENodeTests.dcmtk(
            "storescu", ["-aec", "TM_RRK", "-xe", "+sd", "+r", "127.0.0.1", "\(port)", net.directory.appending("pacs")])
        #expect(again.status == 0, "\(again.stderr.suffix(1000))")
        try await poll("the whole study to be held", deadline: .seconds(60)) {
            let status = try await DIMSENodeTests.status(net, "RRK")
            return status.instances == 300 && status.ownRecords == (exported.count == 300 ? 1 : 2)
        }
        node.stop()
    }
}

extension DICOMSpoolTests {
    /// What a crash can leave that the ingest then refuses is not lost silently: kept in
    /// `incoming/quarantine` with its reason, logged and audited with the journal's sender; the
    /// good instance beside it is catalogued and published as that sender's.
    @Test func spooledInstancesTheIngestRefusesAreQuarantinedLoggedAndAudited() async throws {
        let net = try TestNetwork(trusts: ["RRK"])
        let port = try FreePorts.allocate(1)[0]
        let spool = net.dataDirectory("RRK") + "/incoming/spool"
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        let study = SyntheticStudy(
            patientID: Self.nhs, instancesPerSeries: 1, seed: 1718, studyInstanceUID: "1.2.826.0.1.3680043.10.606.18",
            rows: 32, columns: 32)
        let made = try study.write(to: net.directory.appending("made"))[0]
        // As a killed node leaves them: a journal naming the sender, then instances in order. The
        // second re-files the first's SOP Instance UID under another study (refused at the commit);
        // the third is not DICOM (refused when the spool is read again).
        let key = "4A1B2C3D-0000-4000-8000-000000000017"
        let sender =
            #"{"sender":{"association":7,"calledAETitle":"TM_RRK","callingAETitle":"PACS1","peer":"127.0.0.1:4000","#
            + #""started":"2026-12-05T12:00:00Z"}}"# + "\n"
        try Data(sender.utf8).write(to: URL(fileURLWithPath: "\(spool)/\(key).journal"))
        try FileManager.default.copyItem(atPath: made, toPath: "\(spool)/\(key)-00000000.dcm")
        let refiled = "\(spool)/\(key)-00000001.dcm"
        try FileManager.default.copyItem(atPath: made, toPath: refiled)
        let moved = try await DIMSENodeTests.dcmtk(
            "dcmodify",
            [
                "-nb", "-m", "(0020,000D)=1.2.826.0.1.3680043.10.606.19", "-m",
                "(0020,000E)=1.2.826.0.1.3680043.10.606.19.1", refiled,
            ])
        #expect(moved.status == 0, "\(moved.stderr)")
        try Data("not DICOM at all".utf8).write(to: URL(fileURLWithPath: "\(spool)/\(key)-00000002.dcm"))
        // Never answered: removed.
        try Data("half an instance".utf8).write(to: URL(fileURLWithPath: "\(spool)/.incoming-X.dcm"))

        try await net.start("RRK", arguments: ["--dicom-port", "\(port)"])
        try await poll("the spool to empty", deadline: .seconds(60)) { Self.spoolIsEmpty(net) }
        let status = try await DIMSENodeTests.status(net, "RRK")
        #expect(status.instances == 1)
        #expect(status.ownRecords == 1)

        let quarantine = net.dataDirectory("RRK") + "/incoming/quarantine"
        let kept = try FileManager.default.contentsOfDirectory(atPath: quarantine).sorted()
        #expect(
            kept == [
                "\(key)-00000001.dcm", "\(key)-00000001.dcm.reason", "\(key)-00000002.dcm",
                "\(key)-00000002.dcm.reason",
            ], "\(kept)")
        let conflict = try String(contentsOfFile: "\(quarantine)/\(key)-00000001.dcm.reason", encoding: .utf8)
        #expect(conflict.contains("an instance is never re-filed"), "\(conflict)")
        let unreadable = try String(contentsOfFile: "\(quarantine)/\(key)-00000002.dcm.reason", encoding: .utf8)
        #expect(unreadable.contains("not a readable DICOM file"), "\(unreadable)")
        #expect(net.log("RRK").contains("kept in incoming/quarantine"))

        #expect(net.stop("RRK") == 0)
        let audit = try await CommandRunner.trustmesh([
            "audit", "export", "--data", net.dataDirectory("RRK"), "--out", net.directory.appending("audit.jsonl"),
        ])
        #expect(audit.status == 0, "\(audit.stderr)")
        let entries = try String(contentsOfFile: net.directory.appending("audit.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        let refused = entries.filter {
            $0.contains("\"ingestRefused\"") && $0.contains("DICOM PACS1 at 127.0.0.1:4000")
        }
        #expect(refused.count == 2, "\(refused)")
        #expect(refused.allSatisfy { $0.contains("incoming/quarantine/\(key)-0000000") })
        #expect(
            entries.contains { $0.contains("\"ingest\"") && $0.contains("DICOM PACS1 at 127.0.0.1:4000") },
            "the good instance is audited as the journal's sender's")
    }
}
