import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import TrustMeshCrypto
import TrustMeshDICOM
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshTesting

/// The identity of data against real node processes: each attack of issue 14's "Identity of data"
/// reproduced through a real door (STOW-RS, C-STORE, a fetch, the CLI, export) and shown refused,
/// with nothing stored, nothing re-filed, and an audit entry where the door audits.
@Suite(.serialized, .timeLimit(.minutes(5))) struct IdentityAttackTests {
    static let patientA = "9434765919"
    static let patientB = "4010232137"
    static let studyA = "1.2.826.0.1.3680043.10.14.1"

    // MARK: Helpers

    /// Synthesizes patient A's study (2 series of 3) and returns its files.
    func synthesize(_ network: TestNetwork, study: String = studyA, patient: String = patientA) async throws -> [String]
    {
        let folder = network.directory.appending("in-\(study)")
        let made = try await CommandRunner.trustmesh([
            "synthesize", "--out", folder, "--patient-id", patient, "--study-uid", study, "--series", "2",
            "--instances", "3", "--size", "64",
        ])
        #expect(made.status == 0, "\(made.stderr)")
        return Self.files(folder)
    }

    static func files(_ folder: String) -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: folder)
        var found: [String] = []
        while let relative = enumerator?.nextObject() as? String {
            if relative.hasSuffix(".dcm") { found.append(folder + "/" + relative) }
        }
        return found.sorted()
    }

    func ingest(_ network: TestNetwork, at code: String, _ paths: [String]) async throws -> ProcessResult {
        try await CommandRunner.trustmesh(["ingest", "--data", network.dataDirectory(code)] + paths)
    }

    /// A copy of `file` with attributes changed by dcmodify (dcmtk).
    static func modified(_ file: String, to path: String, _ changes: [String]) async throws -> String {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: file, toPath: path)
        let result = try await CommandRunner.run("dcmodify", ["-nb"] + changes.flatMap { ["-m", $0] } + [path])
        #expect(result.status == 0, "\(result.stderr)")
        return path
    }

    static func attributes(_ path: String) throws -> DICOMAttributes { try DICOMReader.read(path: path).attributes }

    /// Every file the node exports for a study, by SOP Instance UID, with the series folder each
    /// was written in; empty when the study is not held.
    func exported(_ network: TestNetwork, at code: String, study: String) async throws -> [String: (
        series: String, hash: String
    )] {
        let out = network.directory.appending("export-\(code)-\(UUID().uuidString.prefix(6))")
        let result = try await CommandRunner.trustmesh([
            "export", "--data", network.dataDirectory(code), "--study", study, "--out", out,
        ])
        guard result.status == 0 else { return [:] }
        var found: [String: (String, String)] = [:]
        for path in Self.files(out) {
            let parts = path.split(separator: "/")
            let sop = String(parts[parts.count - 1].dropLast(4))
            found[sop] = (
                String(parts[parts.count - 2]),
                BLAKE2b256.hash([UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))).hex
            )
        }
        return found
    }

    /// The node's audit entries, as exported (the log verifies).
    func audit(_ network: TestNetwork, _ code: String) async throws -> [[String: Any]] {
        let path = network.directory.appending("\(code)-\(UUID().uuidString.prefix(6)).audit.jsonl")
        let export = try await CommandRunner.trustmesh([
            "audit", "export", "--data", network.dataDirectory(code), "--out", path,
        ])
        #expect(export.status == 0, "\(export.stderr)")
        return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").compactMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    func entries(_ log: [[String: Any]], _ kind: String) -> [[String: Any]] {
        log.filter { $0["kind"] as? String == kind }
    }

    /// STOW-RS of `files` to `code` with its test token (an operator, among other roles).
    func stow(_ network: TestNetwork, _ code: String, _ files: [String]) async throws -> (
        status: Int, headers: [(String, String)], body: [String: Any]
    ) {
        var body: [UInt8] = []
        for file in files {
            body += Array("--b0undary\r\nContent-Type: application/dicom\r\n\r\n".utf8)
            body += [UInt8](try Data(contentsOf: URL(fileURLWithPath: file))) + Array("\r\n".utf8)
        }
        body += Array("--b0undary--\r\n".utf8)
        var request = HTTPClientRequest(url: network.url(code) + "/dicom-web/studies")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer " + network.testToken(code))
        request.headers.add(
            name: "Content-Type", value: "multipart/related; type=\"application/dicom\"; boundary=b0undary")
        request.headers.add(name: "Accept", value: "application/dicom+json")
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        let json = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
        return (Int(response.status.code), response.headers.map { ($0.name, $0.value) }, json)
    }

    /// FailureReason (0008,1197) of each item of a STOW-RS answer's FailedSOPSequence (0008,1198).
    static func failureReasons(_ body: [String: Any]) -> [Int] {
        let items = (body["00081198"] as? [String: Any])?["Value"] as? [[String: Any]] ?? []
        return items.compactMap { (($0["00081197"] as? [String: Any])?["Value"] as? [Int])?.first }
    }

    static func dcmtk(_ tool: String, _ arguments: [String]) async throws -> ProcessResult {
        let path = FileManager.default.isExecutableFile(atPath: "/usr/bin/" + tool) ? "/usr/bin/" + tool : tool
        return try await CommandRunner.run(path, arguments)
    }

    static func waitForDICOM(_ network: TestNetwork, _ code: String) async throws {
        let endpoint = network.api(code)
        try await poll("\(code)'s DICOM listener", deadline: .seconds(30)) {
            ((try? await LocalAPIClient.status(node: endpoint))?.dicom?.port ?? 0) > 0
        }
    }

    // MARK: Attacks

    /// One STOW-RS instance carrying patient A's SeriesInstanceUID, a new StudyInstanceUID and
    /// patient B's NHS number used to move A's whole series into a new "B" study, then published.
    @Test func aSTOWInstanceReusingAnotherPatientsSeriesIsRefusedNotRefiledAndAudited() async throws {
        let network = try TestNetwork(trusts: ["RKB", "RRK"])
        try await network.start("RKB")
        try await network.start("RRK")
        let files = try await synthesize(network)
        #expect(try await ingest(network, at: "RKB", files).status == 0)
        let before = try await exported(network, at: "RKB", study: Self.studyA)
        #expect(before.count == 6)

        let forged = try await Self.modified(
            files[0], to: network.directory.appending("attack/forged.dcm"),
            [
                "(0020,000D)=1.2.826.0.1.3680043.10.14.66", "(0008,0018)=1.2.826.0.1.3680043.10.14.66.1",
                "(0010,0020)=\(Self.patientB)",
            ])
        let answer = try await stow(network, "RKB", [forged])
        #expect(answer.status == 409, "\(answer.body)")
        #expect(Self.failureReasons(answer.body) == [0xA900])
        #expect(
            answer.headers.contains { $0.0.lowercased() == "warning" && $0.1.contains("a series is never re-filed") })

        // Nothing re-filed: A's six instances in their own series, no study for B, nothing published.
        let after = try await exported(network, at: "RKB", study: Self.studyA)
        #expect(after.mapValues(\.series) == before.mapValues(\.series))
        #expect(try await exported(network, at: "RKB", study: "1.2.826.0.1.3680043.10.14.66").isEmpty)
        let log = try await audit(network, "RKB")
        #expect(
            entries(log, "ingestRefused").contains {
                ($0["details"] as? String)?.contains("a series is never re-filed") == true
            })
        #expect(
            !entries(log, "recordPublished").contains {
                ($0["subject"] as? [String: String])?["nhsNumber"] == Self.patientB
            })
        try await poll("RRK to list A's study", deadline: .seconds(30)) {
            let listed = try? await LocalAPIClient.query(node: network.api("RRK"), nhs: NHSNumber(Self.patientA))
            return listed?.studies.contains { $0.studyInstanceUID == Self.studyA } == true
        }
        let forB = try await LocalAPIClient.query(node: network.api("RRK"), nhs: NHSNumber(Self.patientB))
        #expect(forB.studies.isEmpty)
    }

    /// STOW-RS of a held SOP Instance UID with other bytes returned 200 and WADO then served the new
    /// bytes. Now: under another study it is refused; in its own study it is a correction only the
    /// operator makes (STOW-RS with the operator role, audited with both manifest hashes, the index
    /// record republished); a DICOM peer (C-STORE) cannot make one.
    @Test func otherBytesUnderAHeldSOPInstanceUIDAreRefusedExceptAsTheOperatorsAuditedCorrection() async throws {
        let network = try TestNetwork(trusts: ["RKB"])
        let port = try FreePorts.allocate(1)[0]
        try await network.start("RKB", arguments: ["--dicom-port", "\(port)"])
        try await Self.waitForDICOM(network, "RKB")
        let files = try await synthesize(network)
        #expect(try await ingest(network, at: "RKB", files).status == 0)
        let before = try await exported(network, at: "RKB", study: Self.studyA)
        let target = try Self.attributes(files[0])
        let sop = try #require(target.sopInstanceUID)

        // Other pixel data under the same SOP Instance UID, filed in another study: refused.
        let other = try await synthesize(network, study: "1.2.826.0.1.3680043.10.14.67")
        let elsewhere = try await Self.modified(
            other[0], to: network.directory.appending("attack/elsewhere.dcm"), ["(0008,0018)=\(sop)"])
        let refused = try await stow(network, "RKB", [elsewhere])
        #expect(refused.status == 409)
        #expect(Self.failureReasons(refused.body) == [0xA900])
        #expect(
            try await exported(network, at: "RKB", study: Self.studyA).mapValues(\.hash) == before.mapValues(\.hash))

        // The same study, other bytes, by C-STORE: refused with 0xA900 and an Error Comment, audited.
        let changed = try await Self.modified(
            files[0], to: network.directory.appending("attack/changed.dcm"), ["(0010,0010)=CHANGED^BY^PACS"])
        // -d shows the status and the Error Comment.
        let store = try await Self.dcmtk("storescu", ["-d", "-aec", "TM_RKB", "127.0.0.1", "\(port)", changed])
        #expect(store.stderr.contains("0xa900: Error: Data Set does not match SOP Class"), "\(store.stderr)")
        #expect(store.stderr.contains("held bytes are not replaced"), "\(store.stderr)")
        #expect(
            try await exported(network, at: "RKB", study: Self.studyA).mapValues(\.hash) == before.mapValues(\.hash))
        var log = try await audit(network, "RKB")
        #expect(
            entries(log, "ingestRefused").contains {
                ($0["details"] as? String)?.contains("C-STORE refused (0xA900): held bytes are not replaced") == true
            })
        let published = entries(log, "recordPublished").count

        // The operator's STOW-RS of the same bytes: a correction, audited with both hashes, republished.
        let corrected = try await stow(network, "RKB", [changed])
        #expect(corrected.status == 200, "\(corrected.body)")
        let now = try await exported(network, at: "RKB", study: Self.studyA)
        #expect(now[sop]?.hash == BLAKE2b256.hash([UInt8](try Data(contentsOf: URL(fileURLWithPath: changed)))).hex)
        log = try await audit(network, "RKB")
        let correction = try #require(entries(log, "instanceCorrected").first)
        #expect((correction["subject"] as? [String: String])?["sopInstanceUID"] == sop)
        #expect((correction["actor"] as? String) == "Test user at RKB")
        let details = correction["details"] as? String ?? ""
        #expect(
            details.range(of: "^manifest [0-9a-f]{64} replaced by [0-9a-f]{64}$", options: .regularExpression) != nil)
        #expect(entries(log, "recordPublished").count == published + 1)
    }

    /// A third trust's study reusing A's series UID took that series out of a requester's copy of
    /// A's study when fetched. Now the fetch is refused with its reason and nothing is committed.
    @Test func aFetchedStudyReusingAHeldSeriesIsRefusedAndNothingIsCommitted() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB", "RQ3"])
        for code in ["RRK", "RKB", "RQ3"] { try await network.start(code) }
        let files = try await synthesize(network)
        #expect(try await ingest(network, at: "RRK", files).status == 0)
        // RQ3 files patient B's images under A's series UIDs, in a study of its own.
        var forged: [String] = []
        for (index, file) in files.enumerated() {
            forged.append(
                try await Self.modified(
                    file, to: network.directory.appending("rq3/\(index).dcm"),
                    [
                        "(0020,000D)=1.2.826.0.1.3680043.10.14.68",
                        "(0008,0018)=1.2.826.0.1.3680043.10.14.68.\(index + 1)",
                        "(0010,0020)=\(Self.patientB)",
                    ]))
        }
        #expect(try await ingest(network, at: "RQ3", forged).status == 0)
        try await poll("RKB to list both studies", deadline: .seconds(30)) {
            let a = try? await LocalAPIClient.query(node: network.api("RKB"), nhs: NHSNumber(Self.patientA))
            let b = try? await LocalAPIClient.query(node: network.api("RKB"), nhs: NHSNumber(Self.patientB))
            return a?.studies.isEmpty == false && b?.studies.isEmpty == false
        }
        for nhs in [Self.patientA, Self.patientB] {
            let care = try await network.cli(
                "RKB", ["care", "add", "--node", network.url("RKB"), "--nhs", nhs, "--kind", "referral"])
            #expect(care.status == 0, "\(care.stderr)")
        }
        let first = try await network.cli("RKB", ["fetch", "--node", network.url("RKB"), "--study", Self.studyA])
        #expect(first.status == 0, "\(first.stderr)")
        let before = try await exported(network, at: "RKB", study: Self.studyA)
        #expect(before.count == 6)

        let second = try await network.cli(
            "RKB", ["fetch", "--node", network.url("RKB"), "--study", "1.2.826.0.1.3680043.10.14.68"])
        #expect(second.status != 0)
        #expect(second.stderr.contains("a series is never re-filed"), "\(second.stdout)\(second.stderr)")
        #expect(
            try await exported(network, at: "RKB", study: Self.studyA).mapValues(\.series) == before.mapValues(\.series)
        )
        #expect(try await exported(network, at: "RKB", study: "1.2.826.0.1.3680043.10.14.68").isEmpty)
        let log = try await audit(network, "RKB")
        #expect(
            entries(log, "fetchAbandoned").contains {
                ($0["subject"] as? [String: String])?["studyUID"] == "1.2.826.0.1.3680043.10.14.68"
            })
    }

    /// A STOW with SeriesInstanceUID `../../../../../../outside/ESCAPED` made `trustmesh export`
    /// write outside its `--out` folder. Now that UID is refused at every ingest door (naming the
    /// attribute), at the DICOM query door, and export never follows a link planted in its folder.
    @Test func aUIDThatIsAPathIsRefusedAtEveryDoorAndExportStaysInItsFolder() async throws {
        let network = try TestNetwork(trusts: ["RKB"])
        let port = try FreePorts.allocate(1)[0]
        try await network.start("RKB", arguments: ["--dicom-port", "\(port)", "--query-retrieve-ae", "FINDSCU"])
        try await Self.waitForDICOM(network, "RKB")
        let files = try await synthesize(network)
        let escape = try await Self.modified(
            files[0], to: network.directory.appending("attack/escape.dcm"),
            ["(0020,000E)=../../../../../../outside/ESCAPED"])

        let stowed = try await stow(network, "RKB", [escape])
        #expect(stowed.status == 409)
        #expect(Self.failureReasons(stowed.body) == [0xC000])
        #expect(stowed.headers.contains { $0.1.contains("SeriesInstanceUID is not a valid UID") })
        let cli = try await ingest(network, at: "RKB", [escape])
        #expect(cli.status == 2)
        #expect(cli.stdout.contains("SeriesInstanceUID is not a valid UID"), "\(cli.stdout)")
        let cstore = try await Self.dcmtk("storescu", ["-d", "-aec", "TM_RKB", "127.0.0.1", "\(port)", escape])
        #expect(cstore.stderr.contains("0xc000"), "\(cstore.stderr)")
        #expect(cstore.stderr.contains("SeriesInstanceUID is not a valid UID"), "\(cstore.stderr)")
        #expect(try await LocalAPIClient.status(node: network.api("RKB")).instances == 0)
        let log = try await audit(network, "RKB")
        #expect(
            entries(log, "ingestRefused").filter {
                ($0["details"] as? String)?.contains("SeriesInstanceUID is not a valid UID") == true
            }
            .count == 3)  // STOW-RS, the CLI, C-STORE
        let find = try await Self.dcmtk(
            "findscu",
            [
                "-d", "-S", "-aet", "FINDSCU", "-aec", "TM_RKB", "-k", "QueryRetrieveLevel=STUDY", "-k",
                "StudyInstanceUID=../../x", "127.0.0.1", "\(port)",
            ])
        #expect(find.stderr.contains("0xa900"), "\(find.stderr)")
        #expect(find.stderr.contains("StudyInstanceUID is not a valid UID"), "\(find.stderr)")
        // The page, its thumbnails and the fetch API check the UID before looking anything up.
        let session = try await network.signIn("RKB", user: "priya")
        let page = try await TestNetwork.request(
            .GET, network.url("RKB") + "/study?uid=..%2F..%2Fx", headers: session.headers)
        #expect(page.status == 400 && page.body.contains("StudyInstanceUID is not a valid UID"), "\(page.body)")
        let thumbnail = try await TestNetwork.request(
            .GET, network.url("RKB") + "/thumbnail/..%2F..%2Fx", headers: session.headers)
        #expect(thumbnail.status == 400)
        await #expect {
            _ = try await LocalAPIClient.startFetch(node: network.api("RKB"), study: "../../x", from: nil)
        } throws: { "\($0)".contains("StudyInstanceUID is not a valid UID") }

        // A good study, exported into a folder where its series folder is a link to outside.
        #expect(try await ingest(network, at: "RKB", files).status == 0)
        let outside = network.directory.appending("outside")
        let out = network.directory.appending("out")
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let series = try #require(try Self.attributes(files[0]).seriesInstanceUID)
        try FileManager.default.createSymbolicLink(atPath: out + "/" + series, withDestinationPath: outside)
        let export = try await CommandRunner.trustmesh([
            "export", "--data", network.dataDirectory("RKB"), "--study", Self.studyA, "--out", out,
        ])
        #expect(export.status != 0)
        #expect(export.stderr.contains("symbolic link"), "\(export.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)
    }
}
