import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshStore
import TrustMeshTesting

/// Corrections follow the copies (issue 18): three real node processes; RRK (the origin) receives
/// IHE IOCM rejection notes (written by pydicom, sent with dcmtk's storescu and a STOW-RS POST), and
/// the copies RKB and RQ3 fetched are hidden, with the reason, from every door, and audited.
@Suite(.serialized, .timeLimit(.minutes(6))) struct CorrectionsTests {
    static let patient = "9434765919"
    static let whole = "1.2.826.0.1.3680043.10.18.1"
    static let partial = "1.2.826.0.1.3680043.10.18.2"

    /// Makes a study and ingests it at RRK; returns its files.
    func publish(_ network: TestNetwork, studyUID: String) async throws -> [String] {
        try await network.ingestSyntheticStudy(at: "RRK", patient: Self.patient, studyUID: studyUID)
    }

    func listed(_ network: TestNetwork, _ code: String, _ study: String) async throws -> FederatedQueryResult.Study? {
        try await LocalAPIClient.query(node: network.api(code), nhs: NHSNumber(Self.patient)).studies.first {
            $0.studyInstanceUID == study
        }
    }

    func fetch(_ network: TestNetwork, at code: String, study: String) async throws -> ProcessResult {
        try await network.cli(code, ["fetch", "--node", network.url(code), "--study", study, "--json"])
    }

    func audit(_ network: TestNetwork, _ code: String, _ kind: AuditEntry.Kind) throws -> [AuditEntry] {
        try LocalNode(directory: network.dataDirectory(code)).store.audit.entries(kinds: [kind])
    }

    func wado(_ network: TestNetwork, _ code: String, _ study: String) async throws -> TestNetwork.Answer {
        try await TestNetwork.request(
            .GET, network.url(code) + "/dicom-web/studies/" + study,
            headers: ["Authorization": "Bearer " + network.testToken(code), "Accept": "multipart/related"])
    }

    func qido(_ network: TestNetwork, _ code: String) async throws -> TestNetwork.Answer {
        try await TestNetwork.request(
            .GET, network.url(code) + "/dicom-web/studies?PatientID=" + Self.patient,
            headers: ["Authorization": "Bearer " + network.testToken(code), "Accept": "application/dicom+json"])
    }

    func stow(_ network: TestNetwork, _ code: String, _ file: String) async throws -> Int {
        var body = Array("--b0undary\r\nContent-Type: application/dicom\r\n\r\n".utf8)
        body += [UInt8](try Data(contentsOf: URL(fileURLWithPath: file))) + Array("\r\n--b0undary--\r\n".utf8)
        let answer = try await TestNetwork.request(
            .POST, network.url(code) + "/dicom-web/studies", body: Data(body),
            headers: [
                "Authorization": "Bearer " + network.testToken(code), "Accept": "application/dicom+json",
                "Content-Type": "multipart/related; type=\"application/dicom\"; boundary=b0undary",
            ])
        return answer.status
    }

    @Test func aRejectionNoteAtTheOriginHidesTheCopiesAtTwoOtherTrustsAndAPartialOneOffersAFetchAgain()
        async throws
    {
        let network = try TestNetwork(trusts: ["RRK", "RKB", "RQ3"])
        let port = try FreePorts.allocate(1)[0]
        try await network.start("RRK", arguments: ["--dicom-port", "\(port)"])
        try await network.start("RKB")
        try await network.start("RQ3")
        let wholeFiles = try await publish(network, studyUID: Self.whole)
        let partialFiles = try await publish(network, studyUID: Self.partial)
        for code in ["RKB", "RQ3"] {
            try await poll("\(code) to list both studies", deadline: .seconds(30)) {
                let a = try? await listed(network, code, Self.whole)
                let b = try? await listed(network, code, Self.partial)
                return a != nil && b != nil
            }
            // Care first, then the fetches.
            let care = try await network.cli(
                code, ["care", "add", "--node", network.url(code), "--nhs", Self.patient, "--kind", "referral"])
            #expect(care.status == 0, "\(care.stderr)")
            for study in [Self.whole, Self.partial] {
                let fetched = try await fetch(network, at: code, study: study)
                #expect(fetched.status == 0, "\(fetched.stderr)")
                #expect(try await listed(network, code, study)?.localCopy == true)
            }
            #expect(try await wado(network, code, Self.whole).status == 200)
        }

        // The whole study rejected for patient safety reasons, by C-STORE from a PACS.
        let note = network.directory.appending("reject-whole.dcm")
        try await RejectionNotes.write(to: note, rejecting: wholeFiles, options: .init(code: "113037"))
        try await poll("RRK's DICOM listener", deadline: .seconds(30)) {
            ((try? await LocalAPIClient.status(node: network.api("RRK")))?.dicom?.port ?? 0) > 0
        }
        let storescu =
            FileManager.default.isExecutableFile(atPath: "/usr/bin/storescu") ? "/usr/bin/storescu" : "storescu"
        let sent = try await CommandRunner.run(
            storescu, ["-aec", "TM_RRK", "-aet", "PACS", "127.0.0.1", "\(port)", note])
        #expect(sent.status == 0, "\(sent.stderr)")
        try await poll("RRK to withdraw the study", deadline: .seconds(30)) {
            (try? await listed(network, "RRK", Self.whole)) == nil
                && (try? audit(network, "RRK", .studyRejected).isEmpty) == false
        }
        let rejected = try #require(try audit(network, "RRK", .studyRejected).first)
        #expect(rejected[.studyUID] == Self.whole)
        #expect(rejected[.nhsNumber] == Self.patient)
        #expect(rejected.details?.contains("113037 Rejected for Patient Safety Reasons") == true)
        #expect(rejected.actor.contains("PACS"))
        let withdrawn = try LocalNode(directory: network.dataDirectory("RRK")).store.index
            .latest(origin: try TrustID("RRK"), studyUID: Self.whole)
        #expect(withdrawn?.kind == .withdrawn)

        for code in ["RKB", "RQ3"] {
            try await poll("\(code) to hide its copy", deadline: .seconds(30)) {
                (try? audit(network, code, .copyMarked).contains { $0[.studyUID] == Self.whole }) == true
            }
            // The API and QIDO-RS no longer list it; WADO and export refuse it with the note's reason.
            #expect(try await listed(network, code, Self.whole) == nil)
            let qido = try await self.qido(network, code)
            #expect(qido.status == 200)
            #expect(!qido.body.contains(Self.whole))
            #expect(qido.body.contains(Self.partial))
            let refused = try await wado(network, code, Self.whole)
            #expect(refused.status == 410)
            #expect(refused.body.contains("withdrawn by its origin RRK"), "\(refused.body)")
            #expect(refused.body.contains("Rejected for Patient Safety Reasons"), "\(refused.body)")
            let out = network.directory.appending("export-\(code)")
            let export = try await CommandRunner.trustmesh([
                "export", "--data", network.dataDirectory(code), "--study", Self.whole, "--out", out,
            ])
            #expect(export.status != 0)
            #expect(export.stderr.contains("withdrawn by its origin RRK"), "\(export.stderr)")
            #expect(network.log(code).contains("warning trustmesh.corrections"))
            // The other study is untouched.
            #expect(try await wado(network, code, Self.partial).status == 200)
        }

        // The page says why, and the operator page lists it (the test provider's people are RKB's).
        let priya = try await network.signIn("RKB", user: "priya")
        let page = try await TestNetwork.request(
            .GET, network.url("RKB") + "/study?uid=" + Self.whole, headers: priya.headers)
        #expect(page.status == 410)
        #expect(page.body.contains("withdrawn by its origin RRK"), "\(page.body)")
        let olu = try await network.signIn("RKB", user: "olu")
        let operatorPage = try await TestNetwork.request(.GET, network.url("RKB") + "/operator", headers: olu.headers)
        #expect(operatorPage.body.contains("hidden-copies"))
        #expect(operatorPage.body.contains(Self.whole))

        // Two of the other study's four instances rejected for quality reasons, by STOW-RS.
        let partialNote = network.directory.appending("reject-partial.dcm")
        try await RejectionNotes.write(
            to: partialNote, rejecting: Array(partialFiles.prefix(2)), options: .init(code: "113001"))
        #expect(try await stow(network, "RRK", partialNote) == 200)
        try await poll("RRK to re-announce the study", deadline: .seconds(30)) {
            (try? await listed(network, "RRK", Self.partial))?.instanceCount == 2
        }
        for code in ["RKB", "RQ3"] {
            try await poll("\(code) to mark its copy corrected", deadline: .seconds(30)) {
                (try? audit(network, code, .copyMarked).contains { $0[.studyUID] == Self.partial }) == true
            }
            let study = try await listed(network, code, Self.partial)
            #expect(study?.localCopy == false)
            #expect(study?.instanceCount == 2)
            #expect(try await wado(network, code, Self.partial).status == 410)
            // QIDO-RS lists it as held at its origin (NEARLINE: to fetch), not here (ONLINE).
            let qido = try await self.qido(network, code)
            #expect(qido.body.contains("NEARLINE") && !qido.body.contains("ONLINE"), "\(qido.body)")
        }
        let patientPage = try await TestNetwork.request(
            .GET, network.url("RKB") + "/patient?nhs=" + Self.patient, headers: priya.headers)
        #expect(patientPage.body.contains("corrected at the origin RRK"), "\(patientPage.body)")
        #expect(patientPage.body.contains("Fetch again"))
        // The fetch brings the new version, whole.
        let again = try await fetch(network, at: "RKB", study: Self.partial)
        #expect(again.status == 0, "\(again.stderr)")
        let refetched = try await listed(network, "RKB", Self.partial)
        #expect(refetched?.localCopy == true)
        #expect(try await wado(network, "RKB", Self.partial).status == 200)
        let held = try LocalNode(directory: network.dataDirectory("RKB")).store.study(uid: Self.partial)
        #expect(held?.instanceCount == 2)
    }
}
