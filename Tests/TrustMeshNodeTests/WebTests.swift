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

/// The page, the prior-imaging API, FHIR search and the metrics, against real node processes.
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
    ) throws {
        let input = network.directory.appending("in-\(uid)")
        let made = try CommandRunner.trustmesh([
            "synthesize", "--out", input, "--patient-id", patient, "--date", date, "--modality", modality,
            "--body-part", bodyPart, "--description", description, "--instances", "\(instances)", "--size",
            "\(size)", "--study-uid", uid, "--accession", "ACC\(uid.suffix(3))",
        ])
        #expect(made.status == 0, "\(made.stderr)")
        let ingested = try CommandRunner.trustmesh(["ingest", "--data", network.dataDirectory(code), input])
        #expect(ingested.status == 0, "\(ingested.stdout)\(ingested.stderr)")
    }

    static func waitForStudies(_ network: TestNetwork, at code: String, count: Int, nhs: String = patient)
        async throws
    {
        try await poll("\(code) to list \(count) studies", deadline: .seconds(30)) {
            let result = try? await LocalAPIClient.query(node: network.url(code), nhs: NHSNumber(nhs))
            return result?.studies.count == count
        }
    }

    static func get(_ url: String) async throws -> (status: Int, type: String, body: String) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 16 << 20)
        return (Int(response.status.code), response.headers.first(name: "content-type") ?? "", String(buffer: body))
    }

    static func post(_ url: String, form: [String: String]) async throws -> (
        status: Int, location: String, body: String
    ) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let text = form.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed)!)" }
            .joined(separator: "&")
        request.body = .bytes(ByteBuffer(string: text))
        // The answer itself, not where a redirect leads.
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        do {
            let response = try await client.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 16 << 20)
            try await client.shutdown()
            return (Int(response.status.code), response.headers.first(name: "location") ?? "", String(buffer: body))
        } catch {
            try? await client.shutdown()
            throw error
        }
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
        try Self.ingest(
            network, at: "RRK", uid: "1.2.826.0.1.3680043.10.77.1", date: Self.date(monthsAgo: 2),
            description: "CT CHEST")
        try Self.ingest(
            network, at: "RKB", uid: "1.2.826.0.1.3680043.10.77.2", date: Self.date(monthsAgo: 30), modality: "MR",
            bodyPart: "HEAD", description: "MR HEAD")
        try await Self.waitForStudies(network, at: "RKB", count: 2)

        let base = network.url("RKB") + "/fhir/ImagingStudy"
        for query in [
            "?patient.identifier=https://fhir.nhs.uk/Id/nhs-number%7C\(Self.patient)",
            "?subject:identifier=https://fhir.nhs.uk/Id/nhs-number%7C\(Self.patient)",
        ] {
            let answer = try await Self.get(base + query)
            #expect(answer.status == 200, "\(answer.body)")
            #expect(answer.type.hasPrefix("application/fhir+json"))
            let path = network.directory.appending("bundle-\(UUID().uuidString).json")
            try Data(answer.body.utf8).write(to: URL(fileURLWithPath: path))
            let validation = try CommandRunner.run(
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
            let answer = try await Self.get(base + bad)
            #expect(answer.status == 400, "\(bad): \(answer.body)")
            #expect(answer.body.contains("\"resourceType\":\"OperationOutcome\""), "\(bad)")
        }
    }

    @Test func thePriorImagingAPIListsComparableStudiesMostRecentFirst() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"])
        try await network.start("RRK")
        try await network.start("RKB")
        try Self.ingest(
            network, at: "RRK", uid: "1.2.826.0.1.3680043.10.78.1", date: Self.date(monthsAgo: 3),
            description: "CT CHEST RECENT")
        try Self.ingest(
            network, at: "RKB", uid: "1.2.826.0.1.3680043.10.78.2", date: Self.date(monthsAgo: 1), bodyPart: "Chest",
            description: "CT CHEST NEWEST")
        try Self.ingest(
            network, at: "RRK", uid: "1.2.826.0.1.3680043.10.78.3", date: Self.date(monthsAgo: 20),
            description: "CT CHEST OLD")
        try Self.ingest(
            network, at: "RRK", uid: "1.2.826.0.1.3680043.10.78.4", date: Self.date(monthsAgo: 2), modality: "MR",
            description: "MR CHEST")
        try await Self.waitForStudies(network, at: "RKB", count: 4)

        let answer = try await Self.get(
            network.url("RKB") + "/api/v1/priors?nhs=943+476+5919&modality=ct&bodyPart=chest")
        #expect(answer.status == 200, "\(answer.body)")
        let priors = try JSONDecoder().decode(PriorImaging.self, from: Data(answer.body.utf8))
        #expect(priors.months == 12)
        #expect(
            priors.priors.map(\.studyInstanceUID) == ["1.2.826.0.1.3680043.10.78.2", "1.2.826.0.1.3680043.10.78.1"])
        #expect(priors.priors.first?.localCopy == true)

        let longer = try await Self.get(
            network.url("RKB") + "/api/v1/priors?nhs=9434765919&modality=CT&bodyPart=CHEST&months=24")
        #expect(try JSONDecoder().decode(PriorImaging.self, from: Data(longer.body.utf8)).priors.count == 3)

        for bad in ["nhs=9434765918&modality=CT", "nhs=9434765919", "nhs=9434765919&modality=CT&months=0"] {
            let refused = try await Self.get(network.url("RKB") + "/api/v1/priors?" + bad)
            #expect(refused.status == 400, "\(bad): \(refused.body)")
        }
        let page = try await Self.get(network.url("RKB") + "/priors?nhs=9434765919&modality=CT&bodyPart=chest")
        #expect(page.status == 200)
        #expect(page.body.contains("2 comparable Chest CT studies already exist"), "\(page.body)")
    }

    @Test func thePageWorksWithPlainFormsAndMetricsCountTheWork() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"])
        try await network.start("RRK")
        try await network.start("RKB")
        let study = "1.2.826.0.1.3680043.10.79.1"
        try Self.ingest(network, at: "RRK", uid: study, date: Self.date(monthsAgo: 1), description: "CT CHEST")
        try await Self.waitForStudies(network, at: "RKB", count: 1)
        let node = network.url("RKB")
        let before = try await Self.get(node + "/metrics").body

        let invalid = try await Self.get(node + "/patient?nhs=943+476+5918")
        #expect(invalid.status == 400)
        #expect(invalid.body.contains("check digit is wrong"))
        let found = try await Self.get(node + "/patient?nhs=943+476+5919")
        #expect(found.status == 200)
        #expect(found.body.contains("data-study=\"\(study)\""))
        #expect(!found.body.contains("http://") && !found.body.contains("https://"), "nothing from elsewhere")

        let refused = try await Self.post(node + "/fetch", form: ["study": study, "from": "RRK", "nhs": Self.patient])
        #expect(refused.status == 409)
        #expect(refused.body.contains("no care relationship was presented"))

        let care = try await Self.post(
            node + "/care", form: ["nhs": Self.patient, "clinician": "Dr Ada Lovelace", "kind": "mdt", "expires": ""])
        #expect(care.status == 303)
        #expect(care.location.hasPrefix("/patient?nhs=\(Self.patient)"))
        let badCare = try await Self.post(
            node + "/care", form: ["nhs": Self.patient, "clinician": "Dr A", "kind": "mdt", "expires": "2001-01-01"])
        #expect(badCare.status == 400)
        #expect(badCare.body.contains("End date: 2001-01-01 is in the past."))

        let started = try await Self.post(node + "/fetch", form: ["study": study, "from": "RRK", "nhs": Self.patient])
        #expect(started.status == 303)
        let id = String(started.location.split(separator: "#fetch-").last ?? "")
        try await poll("the fetch to complete", deadline: .seconds(60)) {
            (try? await LocalAPIClient.fetchProgress(node: node, id: id))?.state == .completed
        }
        let viewer = try await Self.get(node + "/study?uid=\(study)")
        #expect(viewer.status == 200)
        let sops = viewer.body.components(separatedBy: "src=\"/thumbnail/").dropFirst()
            .map { String($0.prefix { $0 != "\"" }) }
        #expect(sops.count == 6)
        let thumbnail = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: node + "/thumbnail/" + sops[0]), timeout: .seconds(30))
        #expect(thumbnail.headers.first(name: "content-type") == "image/png")
        let png = try await thumbnail.body.collect(upTo: 1 << 20)
        #expect(Array(buffer: png).prefix(8) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let unknown = try await Self.get(node + "/study?uid=1.2.3.4")
        #expect(unknown.status == 404)
        #expect(unknown.body.contains("This node does not hold that study."))
        for page in ["/", "/fetches", "/operator", "/audit?nhs=9434765919", "/priors", "/assets/app.js"] {
            let answer = try await Self.get(node + page)
            #expect(answer.status == 200, "\(page): \(answer.body.prefix(300))")
        }
        let audit = try await Self.get(node + "/audit?nhs=9434765919")
        #expect(audit.body.contains("entries verify"))
        #expect(audit.body.contains("fetchCompleted"))

        let after = try await Self.get(node + "/metrics")
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
        forged.body = .bytes(ByteBuffer(string: "not sealed"))
        _ = try await HTTPClient.shared.execute(forged, timeout: .seconds(10))
        let last = try await Self.get(node + "/metrics")
        #expect(Self.sample(last.body, "trustmesh_peer_refusals_total{reason=\"badEnvelope\"}") >= 1, "\(last.body)")
    }

    @Test func aClinicianSearchesRecordsCareFetchesViewsAndIsAlertedInARealBrowser() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"])
        // A small chunk batch on the requester, so the fetch takes long enough for progress to show.
        try await network.start("RRK")
        try await network.start("RKB", arguments: ["--fetch-batch-kb", "64"])
        let study = "1.2.826.0.1.3680043.10.80.1"
        try Self.ingest(
            network, at: "RRK", uid: study, date: Self.date(monthsAgo: 2), description: "CT CHEST WITH CONTRAST",
            instances: 40, size: 384)
        try Self.ingest(
            network, at: "RRK", uid: "1.2.826.0.1.3680043.10.80.2", patient: Self.optedOut,
            date: Self.date(monthsAgo: 1),
            bodyPart: "HEAD", description: "CT HEAD")
        let optOut = try CommandRunner.trustmesh([
            "optout", "--data", network.dataDirectory("RRK"), "--nhs", Self.optedOut,
        ])
        #expect(optOut.status == 0, "\(optOut.stderr)")
        try await Self.waitForStudies(network, at: "RKB", count: 1)
        try await poll("RKB to learn of the opt-out", deadline: .seconds(30)) {
            (try? await LocalAPIClient.query(node: network.url("RKB"), nhs: NHSNumber(Self.optedOut)))?.optedOut == true
        }

        let screenshots = Self.root + "/out/screenshots"
        let result = try CommandRunner.run(
            "/usr/bin/env",
            [
                "python3", Self.root + "/Scripts/browser-test.py", "--base", network.url("RKB"), "--nhs", Self.patient,
                "--study", study, "--holder", "RRK", "--opted-out", Self.optedOut, "--out", screenshots,
            ])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(network.log("RKB").suffix(3000))")
        #expect(result.stdout.contains("browser-test: all checks passed"))
    }
}
