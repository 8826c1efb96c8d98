import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import TrustMeshFetch
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshTesting
import TrustMeshWeb

/// The page, the prior-imaging API, FHIR search and the metrics, against real node processes: the
/// page as people signed in through the test identity provider's login form see it, the API, FHIR
/// and metrics with a bearer access token.
@Suite(.serialized, .timeLimit(.minutes(5))) struct WebTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let patient = "9434765919"
    static let optedOut = "4010232137"

    /// A DICOM date `months` months before today (UTC).
    static func date(monthsAgo months: Int) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let day = calendar.date(byAdding: .month, value: -months, to: Date())!
        let parts = calendar.dateComponents([.year, .month, .day], from: day)
        return String(format: "%04d%02d%02d", parts.year!, parts.month!, parts.day!)
    }

    /// Makes and ingests a study at `code`.
    static func ingest(
        _ network: TestNetwork, at code: String, uid: String, patient: String = patient, date: String,
        modality: String = "CT", bodyPart: String = "CHEST", description: String, instances: Int = 6,
        size: Int = 128
    ) async throws {
        let input = network.directory.appending("in-\(uid)")
        let made = try await CommandRunner.trustmesh([
            "synthesize", "--out", input, "--patient-id", patient, "--date", date, "--modality", modality,
            "--body-part", bodyPart, "--description", description, "--instances", "\(instances)", "--size",
            "\(size)", "--study-uid", uid, "--accession", "ACC\(uid.suffix(3))",
        ])
        #expect(made.status == 0, "\(made.stderr)")
        let ingested = try await CommandRunner.trustmesh(["ingest", "--data", network.dataDirectory(code), input])
        #expect(ingested.status == 0, "\(ingested.stdout)\(ingested.stderr)")
    }

    static func waitForStudies(_ network: TestNetwork, at code: String, count: Int, nhs: String = patient)
        async throws
    {
        try await poll("\(code) to list \(count) studies", deadline: .seconds(30)) {
            let result = try? await LocalAPIClient.query(node: network.api(code), nhs: NHSNumber(nhs))
            return result?.studies.count == count
        }
    }

    /// One GET, redirects not followed (a page without a session answers 303 to the sign-in).
    /// - Parameter headers: a session's (``TestNetwork/PageSession/headers``) or ``bearer(_:_:)``.
    static func get(_ url: String, headers: [String: String] = [:]) async throws -> (
        status: Int, type: String, body: String
    ) {
        let answer = try await TestNetwork.request(.GET, url, headers: headers)
        return (answer.status, header(answer, "content-type") ?? "", answer.body)
    }

    /// A header of an answer, by name in any case.
    static func header(_ answer: TestNetwork.Answer, _ name: String) -> String? {
        answer.headers.first { $0.key.lowercased() == name }?.value
    }

    /// `Authorization: Bearer` with node `code`'s test token (the JSON API, FHIR, metrics).
    static func bearer(_ network: TestNetwork, _ code: String) -> [String: String] {
        ["Authorization": "Bearer " + network.testToken(code)]
    }

    /// A form posted from the page by a signed-in person: their cookie, the page's Origin and the
    /// session's CSRF token. Answers the answer itself, not where a redirect leads.
    static func post(_ url: String, form: [String: String], as session: TestNetwork.PageSession) async throws -> (
        status: Int, location: String, body: String
    ) {
        let answer = try await TestNetwork.postForm(url, form, as: session)
        return (answer.status, header(answer, "location") ?? "", answer.body)
    }

    /// The value of one sample line of the Prometheus text format, 0 when absent.
    static func sample(_ metrics: String, _ prefix: String) -> Double {
        for line in metrics.split(separator: "\n") where line.hasPrefix(prefix + " ") {
            return Double(line.split(separator: " ").last!) ?? 0
        }
        return 0
    }

    @Test func fhirSearchAnswersASearchsetThatValidatesAsR4AndRefusesBadParameters() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"])
        try await network.start("RRK")
        try await network.start("RKB")
        try await Self.ingest(
            network, at: "RRK", uid: "1.2.826.0.1.3680043.10.77.1", date: Self.date(monthsAgo: 2),
            description: "CT CHEST")
        try await Self.ingest(
            network, at: "RKB", uid: "1.2.826.0.1.3680043.10.77.2", date: Self.date(monthsAgo: 30), modality: "MR",
            bodyPart: "HEAD", description: "MR HEAD")
        try await Self.waitForStudies(network, at: "RKB", count: 2)

        let base = network.url("RKB") + "/fhir/ImagingStudy"
        let token = Self.bearer(network, "RKB")
        for query in [
            "?patient.identifier=https://fhir.nhs.uk/Id/nhs-number%7C\(Self.patient)",
            "?subject:identifier=https://fhir.nhs.uk/Id/nhs-number%7C\(Self.patient)",
        ] {
            let answer = try await Self.get(base + query, headers: token)
            #expect(answer.status == 200, "\(answer.body)")
            #expect(answer.type.hasPrefix("application/fhir+json"))
            let path = network.directory.appending("bundle-\(UUID().uuidString).json")
            try Data(answer.body.utf8).write(to: URL(fileURLWithPath: path))
            let validation = try await CommandRunner.run(
                "/usr/bin/env", ["python3", Self.root + "/Scripts/validate-fhir.py", path, Self.patient])
            #expect(validation.status == 0, "\(validation.stdout)\(validation.stderr)")
            #expect(validation.stdout.contains("2 ImagingStudy resource(s) conform"), "\(validation.stdout)")
            #expect(answer.body.contains("\"value\":\"urn:oid:1.2.826.0.1.3680043.10.77.1\""))
            #expect(
                answer.body.contains("\"system\":\"https://fhir.nhs.uk/Id/ods-organization-code\",\"value\":\"RRK\""))
        }

        for bad in [
            "", "?patient.identifier=http://example.org/mrn%7C123", "?patient.identifier=9434765918",
            "?name=SMITH", "?patient.identifier=\(Self.patient)&subject:identifier=\(Self.patient)",
        ] {
            let answer = try await Self.get(base + bad, headers: token)
            #expect(answer.status == 400, "\(bad): \(answer.body)")
            #expect(answer.body.contains("\"resourceType\":\"OperationOutcome\""), "\(bad)")
        }
    }

    @Test func thePriorImagingAPIListsComparableStudiesMostRecentFirst() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"])
        try await network.start("RRK")
        try await network.start("RKB")
        try await Self.ingest(
            network, at: "RRK", uid: "1.2.826.0.1.3680043.10.78.1", date: Self.date(monthsAgo: 3),
            description: "CT CHEST RECENT")
        try await Self.ingest(
            network, at: "RKB", uid: "1.2.826.0.1.3680043.10.78.2", date: Self.date(monthsAgo: 1), bodyPart: "Chest",
            description: "CT CHEST NEWEST")
        try await Self.ingest(
            network, at: "RRK", uid: "1.2.826.0.1.3680043.10.78.3", date: Self.date(monthsAgo: 20),
            description: "CT CHEST OLD")
        try await Self.ingest(
            network, at: "RRK", uid: "1.2.826.0.1.3680043.10.78.4", date: Self.date(monthsAgo: 2), modality: "MR",
            description: "MR CHEST")
        try await Self.waitForStudies(network, at: "RKB", count: 4)

        let token = Self.bearer(network, "RKB")
        let answer = try await Self.get(
            network.url("RKB") + "/api/v1/priors?nhs=943+476+5919&modality=ct&bodyPart=chest", headers: token)
        #expect(answer.status == 200, "\(answer.body)")
        let priors = try JSONDecoder().decode(PriorImaging.self, from: Data(answer.body.utf8))
        #expect(priors.months == 12)
        #expect(
            priors.priors.map(\.studyInstanceUID) == ["1.2.826.0.1.3680043.10.78.2", "1.2.826.0.1.3680043.10.78.1"])
        #expect(priors.priors.first?.localCopy == true)

        let longer = try await Self.get(
            network.url("RKB") + "/api/v1/priors?nhs=9434765919&modality=CT&bodyPart=CHEST&months=24", headers: token)
        #expect(try JSONDecoder().decode(PriorImaging.self, from: Data(longer.body.utf8)).priors.count == 3)

        for bad in ["nhs=9434765918&modality=CT", "nhs=9434765919", "nhs=9434765919&modality=CT&months=0"] {
            let refused = try await Self.get(network.url("RKB") + "/api/v1/priors?" + bad, headers: token)
            #expect(refused.status == 400, "\(bad): \(refused.body)")
        }
        let priya = try await network.signIn("RKB", user: "priya")
        let page = try await Self.get(
            network.url("RKB") + "/priors?nhs=9434765919&modality=CT&bodyPart=chest", headers: priya.headers)
        #expect(page.status == 200)
        #expect(page.body.contains("2 comparable Chest CT studies already exist"), "\(page.body)")
    }

    @Test func thePageWorksWithPlainFormsAndMetricsCountTheWork() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"])
        try await network.start("RRK")
        try await network.start("RKB")
        let study = "1.2.826.0.1.3680043.10.79.1"
        try await Self.ingest(network, at: "RRK", uid: study, date: Self.date(monthsAgo: 1), description: "CT CHEST")
        try await Self.waitForStudies(network, at: "RKB", count: 1)
        let node = network.url("RKB")
        let token = Self.bearer(network, "RKB")
        let before = try await Self.get(node + "/metrics", headers: token).body
        // A clinician signed in through the provider's login form; the operator and information
        // governance views are theirs.
        let priya = try await network.signIn("RKB", user: "priya")
        #expect(!priya.csrf.isEmpty, "the signed-in page carries the CSRF token")

        let invalid = try await Self.get(node + "/patient?nhs=943+476+5918", headers: priya.headers)
        #expect(invalid.status == 400)
        #expect(invalid.body.contains("check digit is wrong"))
        let found = try await Self.get(node + "/patient?nhs=943+476+5919", headers: priya.headers)
        #expect(found.status == 200)
        #expect(found.body.contains("data-study=\"\(study)\""))
        #expect(found.body.contains("Signed in as <strong>Dr Priya Shah</strong>"), "\(found.body.prefix(2000))")
        #expect(!found.body.contains("http://") && !found.body.contains("https://"), "nothing from elsewhere")

        let refused = try await Self.post(
            node + "/fetch", form: ["study": study, "from": "RRK", "nhs": Self.patient], as: priya)
        #expect(refused.status == 409)
        #expect(refused.body.contains("no care relationship was presented"))

        let care = try await Self.post(
            node + "/care",
            form: ["nhs": Self.patient, "kind": "mdt", "reason": "Lung nodule follow-up at MDT", "expires": ""],
            as: priya)
        #expect(care.status == 303, "\(care.body.prefix(500))")
        #expect(care.location.hasPrefix("/patient?nhs=\(Self.patient)"))
        let listed = try await Self.get(node + care.location, headers: priya.headers)
        #expect(listed.body.contains("Mdt — Dr Priya Shah"), "the relationship names the signed-in clinician")
        let badCare = try await Self.post(
            node + "/care",
            form: ["nhs": Self.patient, "kind": "mdt", "reason": "Lung nodule", "expires": "2001-01-01"], as: priya)
        #expect(badCare.status == 400)
        #expect(badCare.body.contains("End date: 2001-01-01 is in the past."))

        let started = try await Self.post(
            node + "/fetch", form: ["study": study, "from": "RRK", "nhs": Self.patient], as: priya)
        #expect(started.status == 303)
        let id = String(started.location.split(separator: "#fetch-").last ?? "")
        try await poll("the fetch to complete", deadline: .seconds(60)) {
            (try? await LocalAPIClient.fetchProgress(node: network.api("RKB"), id: id))?.state == .completed
        }
        let viewer = try await Self.get(node + "/study?uid=\(study)", headers: priya.headers)
        #expect(viewer.status == 200)
        let sops = viewer.body.components(separatedBy: "src=\"/thumbnail/").dropFirst()
            .map { String($0.prefix { $0 != "\"" }) }
        #expect(sops.count == 6)
        var picture = HTTPClientRequest(url: node + "/thumbnail/" + sops[0])
        for (name, value) in priya.headers { picture.headers.add(name: name, value: value) }
        let thumbnail = try await HTTPClient.shared.execute(picture, timeout: .seconds(30))
        #expect(thumbnail.headers.first(name: "content-type") == "image/png")
        let png = try await thumbnail.body.collect(upTo: 1 << 20)
        #expect(Array(buffer: png).prefix(8) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let unknown = try await Self.get(node + "/study?uid=1.2.3.4", headers: priya.headers)
        #expect(unknown.status == 404)
        #expect(unknown.body.contains("This node does not hold that study."))
        let olu = try await network.signIn("RKB", user: "olu")
        let ines = try await network.signIn("RKB", user: "ines")
        for (page, session) in [
            ("/", priya), ("/fetches", priya), ("/operator", olu), ("/audit?nhs=9434765919", ines),
            ("/priors", priya), ("/assets/app.js", priya),
        ] {
            let answer = try await Self.get(node + page, headers: session.headers)
            #expect(answer.status == 200, "\(page): \(answer.body.prefix(300))")
        }
        let audit = try await Self.get(node + "/audit?nhs=9434765919", headers: ines.headers)
        #expect(audit.body.contains("entries verify"))
        #expect(audit.body.contains("fetchCompleted"))
        #expect(audit.body.contains("<td>Dr Priya Shah</td>"), "the audit trail names the signed-in clinician")

        let after = try await Self.get(node + "/metrics", headers: token)
        #expect(after.type.hasPrefix("text/plain"))
        for counter in [
            "trustmesh_gossip_rounds_total", "trustmesh_audit_appends_total", "trustmesh_fetch_bytes_total",
            "trustmesh_fetches_total{outcome=\"completed\"}",
            "trustmesh_http_requests_total{area=\"page\",method=\"GET\",status=\"200\"}",
            "trustmesh_fetch_duration_seconds_count", "trustmesh_fetch_refusals_total{rule=\"noCareRelationship\"}",
        ] {
            #expect(Self.sample(after.body, counter) > Self.sample(before, counter), "\(counter) did not move")
        }
        #expect(Self.sample(after.body, "trustmesh_index_records{origin=\"RRK\"}") >= 1)
        #expect(Self.sample(after.body, "trustmesh_ingested_instances") == 6)

        // A peer request with a bad signature is refused and counted by reason.
        var forged = HTTPClientRequest(url: network.peerURL("RKB") + "/peer/v1/gossip")
        forged.method = .POST
        forged.headers.add(name: "TrustMesh-Protocol", value: "2")  // a version it speaks, then no sender
        forged.body = .bytes(ByteBuffer(string: "not sealed"))
        _ = try await HTTPClient.shared.execute(forged, timeout: .seconds(10))
        let last = try await Self.get(node + "/metrics", headers: token)
        #expect(Self.sample(last.body, "trustmesh_peer_refusals_total{reason=\"badEnvelope\"}") >= 1, "\(last.body)")
    }

    @Test func aClinicianSearchesRecordsCareFetchesViewsAndIsAlertedInARealBrowser() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"])
        // A small chunk batch on the requester, so the fetch takes long enough for progress to show.
        try await network.start("RRK")
        try await network.start("RKB", arguments: ["--fetch-batch-kb", "64"])
        let study = "1.2.826.0.1.3680043.10.80.1"
        try await Self.ingest(
            network, at: "RRK", uid: study, date: Self.date(monthsAgo: 2), description: "CT CHEST WITH CONTRAST",
            instances: 40, size: 384)
        try await Self.ingest(
            network, at: "RRK", uid: "1.2.826.0.1.3680043.10.80.2", patient: Self.optedOut,
            date: Self.date(monthsAgo: 1),
            bodyPart: "HEAD", description: "CT HEAD")
        let optOut = try await CommandRunner.trustmesh([
            "optout", "--data", network.dataDirectory("RRK"), "--nhs", Self.optedOut, "--reference",
            "Opt-out form OPT-1",
        ])
        #expect(optOut.status == 0, "\(optOut.stderr)")
        try await Self.waitForStudies(network, at: "RKB", count: 1)
        try await poll("RKB to learn of the opt-out", deadline: .seconds(30)) {
            (try? await LocalAPIClient.query(node: network.api("RKB"), nhs: NHSNumber(Self.optedOut)))?.optedOut == true
        }

        let screenshots = Self.root + "/out/screenshots"
        let result = try await CommandRunner.run(
            "/usr/bin/env",
            [
                "python3", Self.root + "/Scripts/browser-test.py", "--base", network.url("RKB"), "--nhs", Self.patient,
                "--study", study, "--holder", "RRK", "--opted-out", Self.optedOut, "--out", screenshots,
                "--issuer", try await network.issuer(),
            ])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(network.log("RKB").suffix(3000))")
        #expect(result.stdout.contains("browser-test: all checks passed"))
    }
}
