import Foundation
import NIOHTTP1
import Testing
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshStore
import TrustMeshTesting

/// The FHIR R4 feed door of a real `trustmesh node run`: resources built and checked with the
/// `fhir.resources` models (Scripts/fhir-feed.py), posted over real HTTP on loopback by a hospital
/// system holding a client-credentials token from the test identity provider.
@Suite(.serialized, .timeLimit(.minutes(5))) struct FHIRFeedTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let patient = "9434765919"

    /// Starts `code` with a role map naming its `feed` client the hospital feed (and its `pacs` an operator).
    static func start(_ network: TestNetwork, _ code: String, arguments: [String] = []) async throws {
        let access = try await network.accessFile(code)
        let roles: [String: Any] = [
            "roles": ["R8000": "clinician", "R8008": "operator", "R8013": "informationGovernance"],
            "systems": [
                network.systemClient("feed", code): ["hospitalFeed"], network.systemClient("pacs", code): ["operator"],
            ],
        ]
        try JSONSerialization.data(withJSONObject: roles).write(
            to: URL(fileURLWithPath: network.networkDirectory + "/\(code)-roles.json"))
        try await network.start(code, arguments: ["--access", access] + arguments)
    }

    /// The hospital feed's token, with the scopes given.
    static func feedToken(
        _ network: TestNetwork, _ code: String, scope: String = "system/Appointment.c system/ServiceRequest.c"
    ) async throws -> String {
        try await network.token(code, user: "system:" + network.systemClient("feed", code), scope: scope)
    }

    /// The resources Scripts/fhir-feed.py builds: name → (body, what the fhir.resources models say).
    static func resources(start: String) async throws -> [String: (body: String, verdict: String)] {
        let result = try await CommandRunner.run(
            "/usr/bin/env", ["python3", root + "/Scripts/fhir-feed.py", "build", patient, start])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: [String: String]])
        return json.mapValues { ($0["body"] ?? "", $0["fhirResources"] ?? "") }
    }

    static func post(
        _ network: TestNetwork, _ code: String, _ path: String, _ body: String, token: String?,
        type: String = "application/fhir+json"
    ) async throws -> (status: Int, outcome: [String: Any], body: String) {
        var headers = ["Content-Type": type]
        if let token { headers["Authorization"] = "Bearer " + token }
        let answer = try await TestNetwork.request(
            .POST, network.url(code) + path, body: Data(body.utf8), headers: headers)
        let outcome = (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]) ?? [:]
        return (answer.status, outcome, answer.body)
    }

    /// Each issue's (code, first expression, diagnostics).
    static func issues(_ outcome: [String: Any]) -> [(code: String, expression: String, text: String)] {
        (outcome["issue"] as? [[String: Any]] ?? []).map {
            (
                $0["code"] as? String ?? "", ($0["expression"] as? [String])?.first ?? "",
                $0["diagnostics"] as? String ?? ""
            )
        }
    }

    /// The audit log's entries of `kind`, once the node has stopped.
    static func entries(_ network: TestNetwork, _ code: String, _ kind: String) async throws -> [[String: Any]] {
        let log = network.directory.appending("audit-\(code)-\(kind).jsonl")
        let exported = try await CommandRunner.trustmesh([
            "audit", "export", "--data", network.dataDirectory(code), "--out", log,
        ])
        #expect(exported.status == 0, "\(exported.stderr)")
        return try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").compactMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.filter { $0["kind"] as? String == kind }
    }

    /// Sends only a request's head announcing a 50 MB body, over a raw socket, and returns the status
    /// line the node answers with before any of the body is sent (or what went wrong).
    static func headOnly(_ address: String, _ path: String, authorization: String?) async throws -> String {
        let script = """
            import socket, sys
            host, port = sys.argv[1].rsplit(":", 1)
            s = socket.create_connection((host, int(port)), timeout=20)
            head = "POST " + sys.argv[2] + " HTTP/1.1\\r\\nHost: " + sys.argv[1] + "\\r\\n"
            head += "Content-Type: application/fhir+json\\r\\nContent-Length: 50000000\\r\\n"
            if sys.argv[3]: head += "Authorization: Bearer " + sys.argv[3] + "\\r\\n"
            s.sendall((head + "\\r\\n").encode())
            data = b""
            while b"\\r\\n" not in data:
                chunk = s.recv(4096)
                if not chunk: break
                data += chunk
            print(data.split(b"\\r\\n")[0].decode())
            """
        let result = try await CommandRunner.run(
            "/usr/bin/python3", ["-c", script, address, path, authorization ?? ""])
        return result.status == 0 ? result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : result.stderr
    }

    @Test func appointmentsAndOrdersArePostedAndValidatedAndInvalidOnesRefusedWithAnOperationOutcome() async throws {
        let network = try TestNetwork(trusts: ["RRK"])
        try await Self.start(network, "RRK")
        let token = try await Self.feedToken(network, "RRK")
        let start = "2026-12-07T09:00:00Z"
        let resources = try await Self.resources(start: start)
        func body(_ name: String) throws -> String { try #require(resources[name]?.body, "\(name)") }

        // The reference models agree with what FHIR refuses; the door's own rules go further.
        for name in ["noStatus", "badDate", "unknownElement", "noSubject", "notJSON"] {
            #expect(resources[name]?.verdict != "valid", "\(name): the models accept it")
        }
        for name in [
            "appointment", "serviceRequest", "notification", "handshake", "containedPatient", "badCheckDigit",
            "unresolvablePatient", "notificationOneBad", "notABundleType", "badCode", "duplicateKey",
        ] {
            #expect(resources[name]?.verdict == "valid", "\(name): \(resources[name]?.verdict ?? "missing")")
        }

        var outcomes: [[String: Any]] = []
        func post(_ path: String, _ name: String, expect status: Int, type: String = "application/fhir+json")
            async throws -> [(code: String, expression: String, text: String)]
        {
            let answer = try await Self.post(network, "RRK", path, try body(name), token: token, type: type)
            #expect(answer.status == status, "\(name): \(answer.body.prefix(600))")
            #expect(
                answer.outcome["resourceType"] as? String == "OperationOutcome", "\(name): \(answer.body.prefix(300))")
            outcomes.append(answer.outcome)
            return Self.issues(answer.outcome)
        }

        // Accepted: an appointment, an order, one whose patient is contained, a notification of two.
        let booked = try await post("/fhir/Appointment", "appointment", expect: 200)
        #expect(booked.first?.text == "Appointment/apt-100: accepted as appointmentBooked (reference APT-100)")
        #expect(booked.first?.expression == "Appointment")
        let resent = try await post("/fhir/Appointment", "appointment", expect: 200)
        #expect(resent.first?.code == "duplicate", "\(resent)")
        let ordered = try await post("/fhir/ServiceRequest", "serviceRequest", expect: 200)
        #expect(ordered.first?.text == "ServiceRequest/ord-200: accepted as imagingOrdered (reference ORD-200)")
        _ = try await post("/fhir/Appointment", "containedPatient", expect: 200)
        let notified = try await post("/fhir/notification", "notification", expect: 200)
        #expect(notified.map(\.expression) == ["Bundle.entry[1].resource", "Bundle.entry[2].resource"], "\(notified)")
        #expect(notified.first?.text.hasSuffix("accepted as appointmentCancelled (reference APT-100)") == true)
        #expect(notified.last?.text.hasSuffix("accepted as imagingOrdered (reference ORD-200)") == true)
        let handshake = try await post("/fhir/notification", "handshake", expect: 200)
        #expect(handshake.first?.text == "a handshake: received")

        // Refused, each issue naming the element.
        let refusals: [(path: String, name: String, status: Int, expression: String, text: String)] = [
            ("/fhir/Appointment", "noStatus", 400, "Appointment.status", "status is required"),
            ("/fhir/Appointment", "badDate", 400, "Appointment.start", "is not a FHIR instant"),
            ("/fhir/Appointment", "unknownElement", 400, "Appointment.colour", "is not an element of Appointment"),
            ("/fhir/ServiceRequest", "noSubject", 400, "ServiceRequest.subject", "subject is required"),
            (
                "/fhir/Appointment", "badCode", 400, "Appointment.participant[0].status",
                "is not a participant.status code"
            ),
            ("/fhir/Appointment", "notJSON", 400, "Appointment", "not valid JSON at byte"),
            ("/fhir/Appointment", "duplicateKey", 400, "Appointment", "the member 'status' is given twice"),
            (
                "/fhir/ServiceRequest", "appointment", 400, "ServiceRequest.resourceType",
                "this door takes ServiceRequest"
            ),
            (
                "/fhir/Appointment", "badCheckDigit", 422, "Appointment.participant[0].actor.identifier.value",
                "fails its check digit"
            ),
            (
                "/fhir/Appointment", "unresolvablePatient", 422, "Appointment.participant[0].actor",
                "the patient must be identified by NHS number"
            ),
            (
                "/fhir/notification", "notificationOneBad", 422, "Bundle.entry[2].resource.subject.identifier.value",
                "fails its check digit"
            ),
            ("/fhir/notification", "notABundleType", 422, "Bundle.type", "is not a Subscription notification"),
        ]
        for refusal in refusals {
            let found = try await post(refusal.path, refusal.name, expect: refusal.status)
            #expect(found.count == 1, "\(refusal.name): \(found)")
            #expect(found.first?.expression == refusal.expression, "\(refusal.name): \(found)")
            #expect(found.first?.text.contains(refusal.text) == true, "\(refusal.name): \(found)")
        }
        let xml = try await post("/fhir/Appointment", "appointment", expect: 415, type: "application/fhir+xml")
        #expect(xml.first?.text.contains("application/fhir+json") == true)
        let huge = try await Self.post(
            network, "RRK", "/fhir/Appointment", String(repeating: " ", count: (1 << 20) + 1), token: token)
        #expect(huge.status == 413, "\(huge.body.prefix(300))")
        #expect(Self.issues(huge.outcome).first?.code == "too-long")
        outcomes.append(huge.outcome)

        // Scopes: an order needs ServiceRequest.c, at its route and inside a notification.
        let appointmentsOnly = try await Self.feedToken(network, "RRK", scope: "system/Appointment.c")
        let narrow = try await Self.post(
            network, "RRK", "/fhir/ServiceRequest", try body("serviceRequest"), token: appointmentsOnly)
        #expect(narrow.status == 403)
        let narrowNotification = try await Self.post(
            network, "RRK", "/fhir/notification", try body("notification"), token: appointmentsOnly)
        #expect(narrowNotification.status == 403, "\(narrowNotification.body.prefix(300))")
        #expect(Self.issues(narrowNotification.outcome).map(\.expression) == ["Bundle.entry[2].resource"])
        outcomes.append(narrowNotification.outcome)

        // Uninvited callers are refused before a byte of the body is read: a head announcing 50 MB
        // is answered at once. No token; a clinician's (a person: never, whatever their roles); the
        // PACS (a system without the hospital-feed role).
        let address = network.localAddress("RRK")
        let pacs = try await network.token(
            "RRK", user: "system:" + network.systemClient("pacs", "RRK"), scope: "system/Appointment.c")
        for (who, credential, status) in [
            ("nobody", nil, "401"), ("a clinician", network.testToken("RRK"), "403"), ("the PACS", pacs, "403"),
        ] {
            let line = try await Self.headOnly(address, "/fhir/Appointment", authorization: credential)
            #expect(line.hasPrefix("HTTP/1.1 \(status)"), "\(who): \(line)")
        }
        // With the body, the clinician is told why.
        let clinician = try await Self.post(
            network, "RRK", "/fhir/Appointment", try body("appointment"), token: network.testToken("RRK"))
        #expect(clinician.status == 403)
        #expect(clinician.body.contains("this door takes a hospital system's token"), "\(clinician.body)")

        // Every answer is an OperationOutcome the reference models accept.
        let file = network.directory.appending("outcomes.json")
        try JSONSerialization.data(withJSONObject: outcomes).write(to: URL(fileURLWithPath: file))
        let checked = try await CommandRunner.run(
            "/usr/bin/env", ["python3", Self.root + "/Scripts/fhir-feed.py", "outcomes", file])
        #expect(checked.status == 0, "\(checked.stderr)")

        #expect(network.stop("RRK") == 0)
        // Five events delivered (the resend and the refused notification's valid entry not), each
        // audited with the system that posted as the actor, never a value from the body.
        let feed = "FHIR R4 system " + network.systemClient("feed", "RRK")
        let received = try await Self.entries(network, "RRK", "feedReceived")
        #expect(received.count == 5, "\(received.map { $0["details"] ?? "" })")
        #expect(received.allSatisfy { $0["actor"] as? String == feed })
        #expect(received.allSatisfy { ($0["subject"] as? [String: String])?["nhsNumber"] == Self.patient })
        let details = received.compactMap {
            try? JSONSerialization.jsonObject(with: Data(($0["details"] as? String ?? "").utf8)) as? [String: String]
        }
        #expect(details.first?["kind"] == "appointmentBooked")
        #expect(details.first?["at"] == start)
        #expect(details.first?["place"] == "Fracture clinic")
        #expect(details.first?["clinician"] == "Dr Aisha Khan")
        #expect(details.first?["messageID"] == "Appointment/apt-100/_history/1")
        #expect(details[1]["procedure"] == "169069000")
        #expect(details[1]["clinician"] == "Dr Ben Okafor")
        #expect(details.map { $0["kind"] ?? "" }.filter { $0 == "appointmentCancelled" }.count == 1)
        #expect(!details.contains { $0["messageID"] == "Appointment/apt-100/_history/5" })
        // Every refusal the door made audited, naming the element; the access guard's as accessRefused.
        let refused = try await Self.entries(network, "RRK", "feedRefused")
        #expect(refused.count == refusals.count + 3, "\(refused.map { $0["details"] ?? "" })")
        #expect(refused.allSatisfy { $0["actor"] as? String == feed })
        #expect(
            refused.contains {
                ($0["details"] as? String)?.hasPrefix(
                    "POST /fhir/Appointment: Appointment.participant[0].actor.identifier.value: NHS number") == true
            })
        let denied = try await Self.entries(network, "RRK", "accessRefused").map { $0["details"] as? String ?? "" }
        #expect(denied.contains { $0.contains("this door takes a hospital system's token") }, "\(denied)")
    }

    /// A booking posted as FHIR reaches the pre-fetch engine (a task waits for its time); its
    /// cancellation, in a Subscription notification, ends it.
    @Test func aPostedAppointmentIsPlannedByThePrefetcherAndItsCancellationEndsIt() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RQ3"])
        let study = "1.2.826.0.1.3680043.10.182.9001"
        try await network.ingestSyntheticStudy(
            at: "RQ3", patient: Self.patient, studyUID: study, instances: 2, size: 32)
        let rules = network.directory.appending("prefetch-rules.json")
        try Data(
            """
            { "rules": [ { "name": "Clinic priors", "events": ["appointmentBooked"], "lookBackMonths": 600,
                           "maxStudies": 3, "when": { "hoursBefore": 1 } } ] }
            """.utf8
        ).write(to: URL(fileURLWithPath: rules))
        try await Self.start(network, "RRK", arguments: ["--prefetch-rules", rules])
        try await network.start("RQ3")
        try await poll("RRK to list RQ3's study", deadline: .seconds(60)) {
            try await LocalAPIClient.status(node: network.api("RRK")).peers.reduce(0) { $0 + $1.records } >= 1
        }
        // Three days ahead: the task waits until an hour before.
        let formatter = ISO8601DateFormatter()
        let start = formatter.string(from: Date().addingTimeInterval(3 * 86_400))
        let resources = try await Self.resources(start: start)
        let token = try await Self.feedToken(network, "RRK")
        let booked = try await Self.post(
            network, "RRK", "/fhir/Appointment", try #require(resources["appointment"]?.body), token: token)
        #expect(booked.status == 200, "\(booked.body)")

        let node = try LocalNode(directory: network.dataDirectory("RRK"))
        let feed = "FHIR R4 system " + network.systemClient("feed", "RRK")
        var task: [String: Any] = [:]
        try await poll("a pre-fetch task for the booking", deadline: .seconds(30)) {
            let rows = try node.store.prefetch.tasks(nhsNumber: Self.patient)
            guard let row = rows.first, rows.count == 1 else { return false }
            task = try JSONSerialization.jsonObject(with: row.task) as? [String: Any] ?? [:]
            return row.state == "waiting"
        }
        #expect(task["studyUID"] as? String == study)
        #expect(task["source"] as? String == feed)
        #expect(task["reference"] as? String == "APT-100")
        #expect(task["clinician"] as? String == "Dr Aisha Khan")

        let cancelled = try await Self.post(
            network, "RRK", "/fhir/notification", try #require(resources["notification"]?.body), token: token)
        #expect(cancelled.status == 200, "\(cancelled.body)")
        try await poll("the cancellation to end the task", deadline: .seconds(30)) {
            try node.store.prefetch.tasks(nhsNumber: Self.patient).first?.state == "cancelled"
        }
        #expect(try !node.store.holds(studyUID: study))
    }
}
