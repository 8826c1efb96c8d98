import Foundation
import NIOCore
import Testing
import TrustMeshDICOM
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshTesting

@testable import TrustMeshDIMSE

/// Real `trustmesh` nodes with their DICOM listener on loopback, driven by dcmtk, pynetdicom and
/// a raw socket that misbehaves on purpose.
@Suite(.serialized, .timeLimit(.minutes(5))) struct DIMSENodeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let nhs = "9434765919"

    /// dcmtk by absolute path: pynetdicom installs its own `storescu`, `findscu`… that can shadow them.
    /// How many C-FIND answers in findscu's output carry a value for the element `prefix` begins.
    static func answers(_ output: String, _ prefix: String) -> Int {
        output.components(separatedBy: "\n").filter { $0.contains(prefix) }.count
    }

    static func dcmtk(_ tool: String, _ arguments: [String]) async throws -> ProcessResult {
        let path = FileManager.default.isExecutableFile(atPath: "/usr/bin/" + tool) ? "/usr/bin/" + tool : tool
        return try await CommandRunner.run(path, arguments)
    }

    static func waitForDICOM(_ net: TestNetwork, _ code: String) async throws {
        let endpoint = net.api(code)
        try await poll("\(code)'s DICOM listener", deadline: .seconds(30)) {
            ((try? await LocalAPIClient.status(node: endpoint))?.dicom?.port ?? 0) > 0
        }
    }

    static func status(_ net: TestNetwork, _ code: String) async throws -> NodeStatus {
        try await LocalAPIClient.status(node: net.api(code))
    }

    /// The bytes after a Part 10 file's File Meta Information: the data set as it travelled.
    static func dataSet(_ path: String) throws -> [UInt8] {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(Array(bytes[128..<132]) == Array("DICM".utf8))
        let length = Int(bytes[140]) | Int(bytes[141]) << 8 | Int(bytes[142]) << 16 | Int(bytes[143]) << 24
        return Array(bytes[(144 + length)...])
    }

    /// What the catalogue file itself holds, read by the sqlite3 CLI beside the running node: its
    /// instances counted, its kept totals, its audit kinds and the spool's leftovers. For a failure
    /// message, where the node's own answers disagree.
    static func catalogueCounts(_ dataDirectory: String) -> String {
        let sql = """
            SELECT 'counted', COUNT(*) FROM instance;
            SELECT 'kept', instances, studies FROM storeTotal;
            SELECT 'instance', sopInstanceUID, seriesUID, ingestedAt FROM instance;
            SELECT 'audit', sequence, kind FROM auditEntry WHERE sequence > 0;
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = ["-readonly", dataDirectory + "/catalogue.sqlite", sql]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        guard (try? process.run()) != nil else { return "(no sqlite3 to read the catalogue)" }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let left = (try? FileManager.default.contentsOfDirectory(atPath: dataDirectory + "/incoming/spool")) ?? []
        let quarantined =
            (try? FileManager.default.contentsOfDirectory(atPath: dataDirectory + "/incoming/quarantine")) ?? []
        return "the catalogue file:\n\(output)spool: \(left.sorted()); quarantine: \(quarantined.sorted())"
    }

    static func files(_ directory: String) -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: directory)
        var found: [String] = []
        while let name = enumerator?.nextObject() as? String {
            if name.hasSuffix(".dcm") { found.append(directory + "/" + name) }
        }
        return found.sorted()
    }

    @Test func dcmtkStoresAStudyInSeveralSyntaxesByteForByteAndFindsItFromAnotherTrust() async throws {
        let net = try TestNetwork(trusts: ["RRK", "RQ3"])
        let ports = try FreePorts.allocate(2)
        // findscu calls as FINDSCU: the workstation each node lets query (C-FIND).
        try await net.start("RRK", arguments: ["--dicom-port", "\(ports[0])", "--query-retrieve-ae", "FINDSCU"])
        try await net.start("RQ3", arguments: ["--dicom-port", "\(ports[1])", "--query-retrieve-ae", "FINDSCU"])
        try await Self.waitForDICOM(net, "RRK")
        try await Self.waitForDICOM(net, "RQ3")
        let rrk = ["127.0.0.1", "\(ports[0])"]

        let echo = try await Self.dcmtk("echoscu", ["-aec", "TM_RRK"] + rrk)
        #expect(echo.status == 0, "\(echo.stderr)")

        // Three series of three slices, sent in four transfer syntaxes: Implicit VR LE, RLE,
        // JPEG Lossless SV1 and Explicit VR LE, each proposed as the file has it.
        let uid = "1.2.826.0.1.3680043.10.606.1"
        let study = SyntheticStudy(
            patientID: Self.nhs, instancesPerSeries: 3, seed: 606, studyInstanceUID: uid, seriesCount: 3, rows: 64,
            columns: 64)
        let made = try study.write(to: net.directory.appending("made"))
        #expect(made.count == 9)
        var sent: [String] = []
        for (index, path) in made.enumerated() {
            let name = (path as NSString).lastPathComponent
            let (folder, tool, arguments): (String, String, [String]) =
                switch index / 3 {
                case 0: ("implicit", "dcmconv", ["+ti"])
                case 1: ("rle", "dcmcrle", [])
                default: index == 6 ? ("jpeg", "dcmcjpeg", ["+e1"]) : ("explicit", "", [])
                }
            let out = net.directory.appending("send/\(folder)/\(name)")
            try FileManager.default.createDirectory(
                atPath: (out as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if tool.isEmpty {
                try FileManager.default.copyItem(atPath: path, toPath: out)
            } else {
                let converted = try await Self.dcmtk(tool, arguments + [path, out])
                #expect(converted.status == 0, "\(converted.stderr)")
            }
            sent.append(out)
        }
        for (folder, propose) in [("implicit", "-xi"), ("rle", "-xr"), ("jpeg", "-xs"), ("explicit", "-xe")] {
            let store = try await Self.dcmtk(
                "storescu",
                ["-aec", "TM_RRK", propose, "+sd", "+r"] + rrk + [net.directory.appending("send/" + folder)])
            #expect(store.status == 0, "storescu \(folder): \(store.stderr)")
        }

        // Stored and listed at RRK. A record is published once an association's instances are
        // catalogued: at most one per storescu run here (two runs catalogued in one group commit
        // share one, as the spool worker may batch them under load), never one per instance; the
        // last lists all nine.
        var seen = "nothing yet"
        do {
            try await poll("RRK to list the study with its 9 instances", deadline: .seconds(30)) {
                let status = try await Self.status(net, "RRK")
                let listed = try await LocalAPIClient.query(node: net.api("RRK"), nhs: NHSNumber(Self.nhs))
                    .studies.first { $0.studyInstanceUID == uid }?.instanceCount
                seen = "\(status.instances) instances, \(status.ownRecords) records, the index lists \(listed ?? 0)"
                return status.instances == 9 && listed == 9
            }
        } catch {
            Issue.record("\(error); last seen: \(seen); \(Self.catalogueCounts(net.dataDirectory("RRK")))")
            throw error
        }
        let published = try await Self.status(net, "RRK").ownRecords
        #expect((1...4).contains(published), "\(published) records for 4 associations")
        let listener = try #require(try await Self.status(net, "RRK").dicom)
        #expect(listener.instancesStored == 9)
        #expect(listener.aeTitle == "TM_RRK")

        // Byte for byte: every data set exported is the one sent, in the syntax it was sent in.
        let export = try await CommandRunner.trustmesh([
            "export", "--data", net.dataDirectory("RRK"), "--study", uid, "--out", net.directory.appending("export"),
        ])
        #expect(export.status == 0, "\(export.stderr)")
        var original: [String: String] = [:]
        for path in sent { original[try DICOMReader.read(path: path).attributes.sopInstanceUID ?? ""] = path }
        let exported = Self.files(net.directory.appending("export"))
        #expect(exported.count == 9)
        var syntaxes: Set<String> = []
        for path in exported {
            let info = try DICOMReader.read(path: path)
            let source = try #require(original[info.attributes.sopInstanceUID ?? ""])
            #expect(try Self.dataSet(path) == Self.dataSet(source), "\(source)")
            syntaxes.insert(info.transferSyntax.uid)
        }
        #expect(
            syntaxes == ["1.2.840.10008.1.2", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.1"])

        // SERIES and IMAGE level at the holder, from its catalogue: one match per series (with its
        // instance count), one per instance of the series asked for.
        var perSeries: [String: Int] = [:]
        for path in exported {
            perSeries[try DICOMReader.read(path: path).attributes.seriesInstanceUID ?? "", default: 0] += 1
        }
        let seriesFind = try await Self.dcmtk(
            "findscu",
            [
                "-S", "-aec", "TM_RRK", "-k", "QueryRetrieveLevel=SERIES", "-k", "StudyInstanceUID=\(uid)", "-k",
                "SeriesInstanceUID", "-k", "Modality", "-k", "NumberOfSeriesRelatedInstances",
            ] + rrk)
        #expect(seriesFind.status == 0, "\(seriesFind.stderr)")
        let seriesAnswer = seriesFind.stdout + seriesFind.stderr
        #expect(Self.answers(seriesAnswer, "(0020,000e) UI [") == perSeries.count, "\(seriesAnswer)")
        #expect(Self.answers(seriesAnswer, "(0008,0060) CS [") == perSeries.count)
        for (series, count) in perSeries {
            let block = seriesAnswer.components(separatedBy: "(0020,000e) UI [\(series)").dropFirst().first ?? ""
            #expect(block.contains("(0020,1209) IS [\(count)"), "\(series): \(block.prefix(300))")
        }
        let (someSeries, itsCount) = try #require(perSeries.first)
        let imageFind = try await Self.dcmtk(
            "findscu",
            [
                "-S", "-aec", "TM_RRK", "-k", "QueryRetrieveLevel=IMAGE", "-k", "StudyInstanceUID=\(uid)", "-k",
                "SeriesInstanceUID=\(someSeries)", "-k", "SOPInstanceUID", "-k", "SOPClassUID", "-k", "InstanceNumber",
            ] + rrk)
        #expect(imageFind.status == 0, "\(imageFind.stderr)")
        let imageAnswer = imageFind.stdout + imageFind.stderr
        #expect(Self.answers(imageAnswer, "(0008,0018) UI [") == itsCount, "\(imageAnswer)")
        // A query for one instance finds just it; one without its study is declined with the reason.
        let oneUID = try #require(
            original.first { (try? DICOMReader.read(path: $0.value).attributes.seriesInstanceUID) == someSeries }?.key)
        let oneFind = try await Self.dcmtk(
            "findscu",
            [
                "-S", "-aec", "TM_RRK", "-k", "QueryRetrieveLevel=IMAGE", "-k", "StudyInstanceUID=\(uid)", "-k",
                "SeriesInstanceUID=\(someSeries)", "-k", "SOPInstanceUID=\(oneUID)",
            ] + rrk)
        #expect(Self.answers(oneFind.stdout + oneFind.stderr, "(0008,0018) UI [") == 1)
        let open = try await Self.dcmtk(
            "findscu",
            ["-v", "-S", "-aec", "TM_RRK", "-k", "QueryRetrieveLevel=SERIES", "-k", "SeriesInstanceUID"] + rrk)
        #expect((open.stdout + open.stderr).contains("Failed: UnableToProcess"), "\(open.stdout + open.stderr)")

        // Sending the study again stores nothing new and publishes nothing.
        let again = try await Self.dcmtk(
            "storescu", ["-aec", "TM_RRK", "-xe", "+sd", "+r"] + rrk + [net.directory.appending("send/explicit")])
        #expect(again.status == 0)

        // RQ3 learns of the study by gossip; a workstation asking RQ3 by NHS number sees it at RRK.
        try await poll("RQ3 to learn of RRK's study", deadline: .seconds(30)) {
            try await Self.status(net, "RQ3").peers.first { $0.ods == "RRK" }?.records == 4
        }
        let find = try await Self.dcmtk(
            "findscu",
            [
                "-S", "-aec", "TM_RQ3", "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientID=\(Self.nhs)", "-k",
                "StudyInstanceUID", "-k", "StudyDate", "-k", "ModalitiesInStudy", "-k", "NumberOfStudyRelatedInstances",
                "-k", "NumberOfStudyRelatedSeries", "-k", "AccessionNumber", "-k", "InstitutionName", "127.0.0.1",
                "\(ports[1])",
            ])
        #expect(find.status == 0, "\(find.stderr)")
        let answer = find.stdout + find.stderr
        #expect(answer.contains(uid))
        #expect(answer.contains("[TM_RRK]"))  // Retrieve AE Title: the holding trust's node
        #expect(answer.contains("(RRK)]"))  // Institution Name: the holding trust
        #expect(answer.contains("[NEARLINE]"))  // not held at RQ3
        #expect(answer.contains("IS [9 ]"))  // padded to even length (PS3.5 §6.2)
        #expect(answer.contains("IS [3 ]"))

        // RQ3 does not hold the study, so it knows none of its series: no matches (STUDY level said
        // where the study is).
        let elsewhere = try await Self.dcmtk(
            "findscu",
            [
                "-S", "-aec", "TM_RQ3", "-k", "QueryRetrieveLevel=SERIES", "-k", "StudyInstanceUID=\(uid)", "-k",
                "SeriesInstanceUID", "127.0.0.1", "\(ports[1])",
            ])
        #expect(elsewhere.status == 0, "\(elsewhere.stderr)")
        #expect(Self.answers(elsewhere.stdout + elsewhere.stderr, "(0020,000e) UI [") == 0)

        // Date ranges and modality filter; a range that excludes the study returns nothing.
        let studyDate = study.studyDate
        let inRange = try await Self.dcmtk(
            "findscu",
            [
                "-S", "-aec", "TM_RQ3", "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientID=\(Self.nhs)", "-k",
                "StudyDate=\(studyDate.prefix(4))0101-\(studyDate.prefix(4))1231", "-k", "ModalitiesInStudy=MR\\CT",
                "-k", "StudyInstanceUID", "127.0.0.1", "\(ports[1])",
            ])
        #expect((inRange.stdout + inRange.stderr).contains(uid))
        let outOfRange = try await Self.dcmtk(
            "findscu",
            [
                "-S", "-aec", "TM_RQ3", "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientID=\(Self.nhs)", "-k",
                "StudyDate=-19991231", "-k", "StudyInstanceUID", "127.0.0.1", "\(ports[1])",
            ])
        #expect(outOfRange.status == 0)
        #expect(!(outOfRange.stdout + outOfRange.stderr).contains(uid))

        // Patient Root, PATIENT level.
        let patient = try await Self.dcmtk(
            "findscu",
            [
                "-P", "-aec", "TM_RQ3", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=\(Self.nhs)", "-k",
                "NumberOfPatientRelatedStudies", "127.0.0.1", "\(ports[1])",
            ])
        #expect(patient.status == 0, "\(patient.stderr)")
        #expect((patient.stdout + patient.stderr).contains("NumberOfPatientRelatedStudies"))

        // A workstation not named by --query-retrieve-ae: Refused: Not Authorized (0124H), no match.
        let stranger = try await Self.dcmtk(
            "findscu",
            [
                "-v", "-S", "-aet", "WORKSTATION9", "-aec", "TM_RQ3", "-k", "QueryRetrieveLevel=STUDY", "-k",
                "PatientID=\(Self.nhs)", "-k", "StudyInstanceUID", "127.0.0.1", "\(ports[1])",
            ])
        let refusal = stranger.stdout + stranger.stderr
        // dcmtk has no name for 0124H in a C-FIND response: "Unknown Status: 0x124".
        #expect(refusal.contains("Final Find Response (Unknown Status: 0x124)"), "\(refusal)")
        #expect(!refusal.contains(uid), "\(refusal)")

        // Queries are audited at RQ3 with the calling AE title as the actor, the refusal too.
        let audit = try await CommandRunner.trustmesh([
            "audit", "export", "--data", net.dataDirectory("RQ3"), "--out", net.directory.appending("rq3.jsonl"),
        ])
        #expect(audit.status == 0, "\(audit.stderr)")
        let log = try String(contentsOfFile: net.directory.appending("rq3.jsonl"), encoding: .utf8)
        #expect(log.contains("DICOM FINDSCU at 127.0.0.1"))
        #expect(
            log.split(separator: "\n").contains { $0.contains("\"accessRefused\"") && $0.contains("WORKSTATION9") },
            "the refused C-FIND is audited")
        let rrkAudit = try await CommandRunner.trustmesh([
            "audit", "export", "--data", net.dataDirectory("RRK"), "--out", net.directory.appending("rrk.jsonl"),
        ])
        #expect(rrkAudit.status == 0)
        #expect(
            try String(contentsOfFile: net.directory.appending("rrk.jsonl"), encoding: .utf8).contains("DICOM STORESCU")
        )
        #expect(try await Self.status(net, "RRK").ownRecords == 4)
        #expect(net.stop("RRK") == 0)
        #expect(net.stop("RQ3") == 0)
    }

    /// The node's disk fills while a PACS sends: each instance that no longer fits is refused with
    /// 0xA700 (out of resources) and audited; what was stored is whole; the listener serves on. The
    /// audit trail is read by information governance (ines, at RKB) on the page.
    @Test(.enabled(if: CommandRunner.canMountTmpfs, "needs unshare -Urm to mount a small tmpfs"))
    func aFullDiskRefusesInstancesWithOutOfResourcesAndTheListenerServesOn() async throws {
        let net = try TestNetwork(trusts: ["RKB"])
        let port = try FreePorts.allocate(1)[0]
        try await net.start("RKB", arguments: ["--dicom-port", "\(port)"], diskKB: 2048)
        try await Self.waitForDICOM(net, "RKB")
        let study = SyntheticStudy(
            patientID: Self.nhs, instancesPerSeries: 20, seed: 61, studyInstanceUID: "1.2.826.0.1.3680043.10.606.7",
            rows: 512, columns: 512)
        let made = try study.write(to: net.directory.appending("pacs"))
        // storescu stops at the first refusal (exit status non-zero) and names it with -v.
        let store = try await Self.dcmtk(
            "storescu",
            ["-v", "-aec", "TM_RKB", "-xe", "+sd", "+r", "127.0.0.1", "\(port)", net.directory.appending("pacs")])
        #expect(store.status != 0)
        #expect(store.stderr.contains("Refused: OutOfResources"), "\(store.stderr.suffix(600))")
        let listener = try #require(try await Self.status(net, "RKB").dicom)
        #expect(listener.storesFailed == 1)
        #expect(listener.instancesStored > 0 && listener.instancesStored < made.count)
        // Refused before anything was answered that the disk could not take: every instance
        // answered Success is catalogued (by the spool's worker, after the answer).
        try await poll("every instance answered to be catalogued", deadline: .seconds(30)) {
            try await Self.status(net, "RKB").instances == listener.instancesStored
        }
        let echo = try await Self.dcmtk("echoscu", ["-aec", "TM_RKB", "127.0.0.1", "\(port)"])
        #expect(echo.status == 0, "\(echo.stderr)")
        let ines = try await net.signIn("RKB", user: "ines")
        let audit = try await CommandRunner.run(
            "/usr/bin/curl", ["-sS", "-f", "-H", "Cookie: \(ines.cookie)", net.url("RKB") + "/audit"])
        #expect(audit.status == 0, "\(audit.stderr)")
        #expect(audit.stdout.contains("ingestFailed"))
        #expect(!audit.stdout.contains("ingestRefused"), "the node's own failure is audited once, as ingestFailed")
        #expect(net.stop("RKB") == 0)
    }

    @Test func badPeersAreRefusedOrAbortedAndTheListenerKeepsServing() async throws {
        let net = try TestNetwork(trusts: ["RRK"])
        let port = try FreePorts.allocate(1)[0]
        try await net.start(
            "RRK",
            arguments: [
                "--dicom-port", "\(port)", "--allowed-ae", "ECHOSCU,RAWSCU", "--check-called-ae", "--dicom-timeout",
                "1",
            ])
        try await Self.waitForDICOM(net, "RRK")

        // A calling AE title not on the list: A-ASSOCIATE-RJ, "calling AE title not recognised".
        let intruder = try await Self.dcmtk("echoscu", ["-aet", "INTRUDER", "-aec", "TM_RRK", "127.0.0.1", "\(port)"])
        #expect(intruder.status != 0)
        #expect((intruder.stdout + intruder.stderr).contains("Calling AE Title Not Recognized"))
        let raw = try RawAssociation(port: port)
        try raw.send(
            .associateRequest(
                AssociateRequest(
                    calledAETitle: "TM_RRK", callingAETitle: "INTRUDER",
                    contexts: [
                        .init(id: 1, abstractSyntax: SOPClasses.verification, transferSyntaxes: ["1.2.840.10008.1.2"])
                    ],
                    user: .init(maximumLength: 0, implementationClassUID: "1.2"))))
        #expect(try raw.receive() == .associateReject(.callingAETitleNotRecognised))
        #expect(try raw.closedByNode())

        // The wrong called AE title: rejected, reason 7.
        let misaddressed = try RawAssociation(port: port)
        #expect(throws: (any Error).self) {
            try misaddressed.associate(calledAE: "ANY-SCP", abstractSyntaxes: [SOPClasses.verification])
        }

        // An unknown SOP class is refused in its presentation context only.
        let mixed = try RawAssociation(port: port)
        let accept = try mixed.associate(
            calledAE: "TM_RRK", abstractSyntaxes: ["1.2.3.4.5.6.7", SOPClasses.verification])
        #expect(accept.results.map(\.result) == [.abstractSyntaxNotSupported, .acceptance])
        #expect(accept.user.maximumLength == 256 << 10)
        try mixed.send(.releaseRequest)
        #expect(try mixed.receive() == .releaseResponse)

        // Garbage (an HTTP request): A-ABORT, unrecognised PDU.
        let garbage = try RawAssociation(port: port)
        try garbage.send(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(try garbage.receive() == .abort(Abort(source: 2, reason: 1)))
        #expect(try garbage.closedByNode())

        // A well-formed PDU of the wrong type first: A-ABORT, unexpected PDU.
        let early = try RawAssociation(port: port)
        try early.send(.releaseRequest)
        #expect(try early.receive() == .abort(Abort(source: 2, reason: 2)))

        // An oversized P-DATA-TF length: aborted before any of it is buffered.
        let huge = try RawAssociation(port: port)
        try huge.associate(calledAE: "TM_RRK", abstractSyntaxes: [SOPClasses.verification])
        try huge.send([0x04, 0x00, 0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0])
        #expect(try huge.receive() == .abort(Abort(source: 2, reason: 6)))
        #expect(try huge.closedByNode())

        // Half an A-ASSOCIATE-RQ, then silence: ARTIM closes the connection (1 s here).
        var request = ByteBuffer()
        PDU.associateRequest(
            AssociateRequest(
                calledAETitle: "TM_RRK", callingAETitle: "RAWSCU",
                contexts: [
                    .init(id: 1, abstractSyntax: SOPClasses.verification, transferSyntaxes: ["1.2.840.10008.1.2"])
                ],
                user: .init(maximumLength: 0, implementationClassUID: "1.2"))
        ).encode(into: &request)
        let stalled = try RawAssociation(port: port)
        try stalled.send(Array(request.readableBytesView.prefix(40)))
        #expect(try stalled.receive() == nil)

        // Associated and idle: A-ABORT after the timeout.
        let idle = try RawAssociation(port: port)
        try idle.associate(calledAE: "TM_RRK", abstractSyntaxes: [SOPClasses.verification])
        #expect(try idle.receive() == .abort(Abort(source: 2, reason: 0)))

        // A malformed data set is refused with a 0xC000-range status; the association stays usable.
        let ct = SyntheticStudy.ctImageStorage
        let store = try RawAssociation(port: port)
        try store.associate(calledAE: "TM_RRK", abstractSyntaxes: [ct, SOPClasses.verification])
        let command = DIMSECommand(
            field: DIMSECommand.Field.cStoreRQ, messageID: 1, affectedSOPClassUID: ct,
            affectedSOPInstanceUID: "1.2.826.0.1.3680043.10.606.9", priority: 0, hasDataSet: true)
        let junk = ByteBuffer(
            bytes: [0x10, 0x00, 0x20, 0x00, 0x4C, 0x4F, 0x04, 0x00] + Array("ABCD".utf8) + [0xFF, 0xFF])
        try store.send(.data([PDV(contextID: 1, isCommand: true, isLast: true, data: command.encode())]))
        try store.send(.data([PDV(contextID: 1, isCommand: false, isLast: true, data: junk)]))
        guard case .data(let values) = try store.receive() else {
            throw RawAssociation.RawError(message: "no C-STORE-RSP")
        }
        let response = try DIMSECommand.decode(values[0].data)
        #expect(response.field == DIMSECommand.Field.cStoreRSP)
        #expect((0xC000...0xCFFF).contains(response.status ?? 0))
        #expect(response.errorComment?.isEmpty == false)
        let echo = DIMSECommand(
            field: DIMSECommand.Field.cEchoRQ, messageID: 2, affectedSOPClassUID: SOPClasses.verification,
            hasDataSet: false)
        try store.send(.data([PDV(contextID: 3, isCommand: true, isLast: true, data: echo.encode())]))
        guard case .data(let echoed) = try store.receive() else {
            throw RawAssociation.RawError(message: "no C-ECHO-RSP")
        }
        #expect(try DIMSECommand.decode(echoed[0].data).status == 0)

        // A peer that drops in the middle of a C-STORE leaves nothing behind.
        let study = SyntheticStudy(patientID: Self.nhs, instancesPerSeries: 1, seed: 7, rows: 128, columns: 128)
        let path = try study.write(to: net.directory.appending("drop"))[0]
        let file = try DICOMReader.read(path: path)
        let full = try Self.dataSet(path)
        let abortedBefore = try await Self.status(net, "RRK").dicom?.associationsAborted ?? 0
        do {
            let dropper = try RawAssociation(port: port)
            try dropper.associate(calledAE: "TM_RRK", abstractSyntaxes: [ct])
            let storeCommand = DIMSECommand(
                field: DIMSECommand.Field.cStoreRQ, messageID: 1, affectedSOPClassUID: ct,
                affectedSOPInstanceUID: file.attributes.sopInstanceUID, priority: 0, hasDataSet: true)
            try dropper.send(.data([PDV(contextID: 1, isCommand: true, isLast: true, data: storeCommand.encode())]))
            let half = ByteBuffer(bytes: full.prefix(full.count / 2))
            try dropper.send(.data([PDV(contextID: 1, isCommand: false, isLast: false, data: half)]))
        }  // closed here
        // The abort is counted before the half-received file is removed: wait for both.
        let folder = net.dataDirectory("RRK") + "/incoming/spool"
        try await poll("the node to notice the dropped peer and remove its file", deadline: .seconds(30)) {
            let aborted = (try await Self.status(net, "RRK").dicom?.associationsAborted ?? 0) > abortedBefore
            let left = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter {
                $0.hasSuffix(".dcm")
            }
            return aborted && left.isEmpty
        }
        let after = try await Self.status(net, "RRK")
        #expect(after.instances == 0)
        #expect(after.studies == 0)
        // The dropped association's half-received file is gone, and nothing reached the spool
        // (instances are received into its folder and renamed there only once answered).
        let incoming = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        #expect(incoming.filter { $0.hasSuffix(".dcm") }.isEmpty, "\(incoming)")

        // After all of that, a good peer is served.
        let good = try await Self.dcmtk("echoscu", ["-aec", "TM_RRK", "127.0.0.1", "\(port)"])
        #expect(good.status == 0, "\(good.stderr)")
        let listener = try #require(after.dicom)
        #expect(listener.associationsRejected >= 3)
        #expect(net.stop("RRK") == 0)
        #expect(net.log("RRK").contains("calling AE title \"INTRUDER\" not recognised"))
        #expect(net.log("RRK").contains("no complete A-ASSOCIATE-RQ"))

        // Every refusal is in the signed audit log with its reason.
        let log = net.directory.appending("audit.jsonl")
        let exported = try await CommandRunner.trustmesh([
            "audit", "export", "--data", net.dataDirectory("RRK"), "--out", log,
        ])
        #expect(exported.status == 0, "\(exported.stderr)")
        let entries = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        let refusals = entries.filter { $0.contains("\"dicomRefused\"") }
        #expect(refusals.contains { $0.contains("INTRUDER") && $0.contains("rejected") })
        #expect(refusals.contains { $0.contains("aborted by the node") })
        #expect(entries.contains { $0.contains("\"ingestRefused\"") && $0.contains("C-STORE refused (0xC") })
    }

    @Test(
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/Orthanc"),
            "Orthanc is not installed (Debian package orthanc): the Orthanc C-STORE test is skipped"))
    func orthancSendsAStudyByCStore() async throws {
        let net = try TestNetwork(trusts: ["RWP"])
        let port = try FreePorts.allocate(1)[0]
        let uid = "1.2.826.0.1.3680043.10.606.3"
        let study = SyntheticStudy(
            patientID: Self.nhs, instancesPerSeries: 3, seed: 33, studyInstanceUID: uid, seriesCount: 2, rows: 64,
            columns: 64)
        let made = try study.write(to: net.directory.appending("pacs"))
        // Orthanc and the node run together in a loopback-only network namespace (the script says why).
        let run = try await CommandRunner.run(
            "bash",
            [
                Self.root + "/Scripts/dimse-orthanc-store", CommandRunner.trustmeshPath, net.dataDirectory("RWP"),
                net.topologyPath, net.directory.appending("pacs"), "\(port)",
            ])
        #expect(run.status == 0, "\(run.stderr)")
        let answer = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        #expect(answer?["InstancesCount"] as? Int == 6, "\(run.stdout)")
        #expect(answer?["FailedInstancesCount"] as? Int == 0)
        // The node has stopped; its store holds the study, byte for byte as Orthanc sent it.
        let export = try await CommandRunner.trustmesh([
            "export", "--data", net.dataDirectory("RWP"), "--study", uid, "--out", net.directory.appending("out"),
        ])
        #expect(export.status == 0, "\(export.stderr)")
        var original: [String: String] = [:]
        for path in made { original[try DICOMReader.read(path: path).attributes.sopInstanceUID ?? ""] = path }
        let exported = Self.files(net.directory.appending("out"))
        #expect(exported.count == 6)
        for path in exported {
            let source = try #require(original[try DICOMReader.read(path: path).attributes.sopInstanceUID ?? ""])
            #expect(try Self.dataSet(path) == Self.dataSet(source))
        }
    }

    @Test func pynetdicomEchoesStoresAndFinds() async throws {
        let net = try TestNetwork(trusts: ["RKB"])
        let port = try FreePorts.allocate(1)[0]
        try await net.start(
            "RKB",
            arguments: ["--dicom-port", "\(port)", "--ae-title", "COVENTRY", "--query-retrieve-ae", "PYNETDICOM"])
        try await Self.waitForDICOM(net, "RKB")
        let uid = "1.2.826.0.1.3680043.10.606.2"
        let study = SyntheticStudy(
            patientID: Self.nhs, instancesPerSeries: 2, seed: 9, studyInstanceUID: uid, seriesCount: 2, rows: 64,
            columns: 64)
        let paths = try study.write(to: net.directory.appending("study"))
        let result = try await CommandRunner.run(
            "python3",
            [Self.root + "/Scripts/dimse-pynetdicom.py", "127.0.0.1", "\(port)", "COVENTRY", Self.nhs] + paths)
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stderr)")
        #expect(json["echo"] as? Int == 0)
        #expect(json["stores"] as? [Int] == [0, 0, 0, 0])
        let matches = json["matches"] as? [[String: Any]] ?? []
        #expect(matches.count == 1)
        #expect(matches.first?["StudyInstanceUID"] as? String == uid)
        #expect(matches.first?["NumberOfStudyRelatedInstances"] as? Int == 4)
        #expect(matches.first?["RetrieveAETitle"] as? String == "COVENTRY")
        #expect(json["findStatus"] as? Int == 0)
        #expect(try await Self.status(net, "RKB").instances == 4)
        #expect(net.stop("RKB") == 0)
    }
}
