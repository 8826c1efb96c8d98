import Foundation
import Testing
import TrustMeshAudit
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshNodeCore
import TrustMeshStore
import TrustMeshTesting

/// `trustmesh audit export --format fhir|dicom` on a real node's log holding every mapped kind,
/// checked by independent tools: fhir.resources (R4B models) and fhirpathpy for FHIR and IHE BALP,
/// jing with the PS3.15 A.5.1 schema for DICOM (Scripts/check-audit-standards.py).
@Suite(.timeLimit(.minutes(3))) struct AuditStandardFormatsTests {
    typealias F = Fixtures

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let checker = root + "/Scripts/check-audit-standards.py"
    static let schema = root + "/docs/schemas/dicom-audit-message.rnc"
    static let otherStudy = "1.2.826.0.1.3680043.10.999.2"
    static let transfer = "0123456789abcdef0123456789abcdef"

    /// What each entry must become: its kind, the FHIR AuditEvent type code, the BALP profile (if
    /// any), the outcome, and the DICOM EventID.
    struct Expected {
        var kind: String
        var fhirType: String
        var profile: String?
        var outcome: String
        var dicomEvent: String
    }

    /// A real node (RRK) whose log holds every kind the export maps, in order.
    struct Setup {
        let dir: TemporaryDirectory
        let node: LocalNode
        let expected: [Expected]

        init() throws {
            dir = try TemporaryDirectory(prefix: "trustmesh-audit-formats")
            let created = try LocalNode.create(
                directory: dir.appending("rrk"), trust: F.rrk, name: "Royal Kent & Canterbury")
            node = created
            let key = try created.signingKey()
            let patel = Actor.person(F.patel(at: F.rrk), session: "s-4f2a")
            let nhs = F.patient.digits
            var minute = 0
            var wants: [Expected] = []
            func add(
                _ kind: AuditEntry.Kind, _ actor: Actor, _ subject: [AuditEntry.SubjectKey: String],
                details: String? = nil, _ want: Expected
            ) throws {
                minute += 1
                try created.store.audit.append(
                    AuditEntry.Draft(
                        trust: F.rrk, time: F.time(minute), kind: kind, actor: actor.displayName,
                        subject: subject.merging(actor.auditSubject) { $1 }, details: details), key: key)
                wants.append(want)
            }
            let system = Actor.system("node")
            let alice = Actor.system("operating-system user alice (local operator)")
            try add(
                .nodeStarted, system, [:],
                .init(kind: "nodeStarted", fhirType: "110100", outcome: "0", dicomEvent: "110100"))
            try add(
                .ingest, alice, [.studyUID: F.study, .nhsNumber: nhs],
                .init(kind: "ingest", fhirType: "110107", outcome: "0", dicomEvent: "110104"))
            try add(
                .query, patel, [.nhsNumber: nhs], details: "web page query",
                .init(kind: "query", fhirType: "rest", profile: "PatientQuery", outcome: "0", dicomEvent: "110112"))
            try add(
                .query, .system("FHIR client at 127.0.0.1:50123"), [:],
                details: "DICOMweb listing without a patient: <all>",
                .init(kind: "query", fhirType: "rest", profile: "Query", outcome: "0", dicomEvent: "110112"))
            try add(
                .view, patel, [.nhsNumber: nhs, .studyUID: F.study], details: "study page",
                .init(kind: "view", fhirType: "rest", profile: "PatientRead", outcome: "0", dicomEvent: "110103"))
            try add(
                .fetchRequested, patel,
                [
                    .peer: "RQ3", .studyUID: otherStudy, .nhsNumber: F.otherPatient.digits, .careID: "c1",
                    .careKind: "admission",
                ],
                .init(kind: "fetchRequested", fhirType: "110102", outcome: "0", dicomEvent: "110102"))
            try add(
                .fetchCompleted, patel,
                [.peer: "RQ3", .studyUID: otherStudy, .transferID: transfer, .bytes: "123456", .chunks: "2"],
                .init(
                    kind: "fetchCompleted", fhirType: "110107", profile: "PrivacyDisclosure.Recipient", outcome: "0",
                    dicomEvent: "110104"))
            try add(
                .fetchServed, .system("peer RQ3"),
                [
                    .peer: "RQ3", .studyUID: F.study, .nhsNumber: nhs, .transferID: transfer, .careID: "c2",
                    .careKind: "emergency", .expiryEffective: F.time(600),
                ],
                details: F.json(F.care(kind: .emergency)),
                .init(
                    kind: "fetchServed", fhirType: "110106", profile: "PrivacyDisclosure.Source", outcome: "0",
                    dicomEvent: "110102"))
            // An emergency push: pushed by patel to RQ3, one pushed here by RQ3, one refused.
            try add(
                .studyPushed, patel, [.peer: "RQ3", .studyUID: F.study, .nhsNumber: nhs, .pushID: "p1"],
                .init(
                    kind: "studyPushed", fhirType: "110106", profile: "PrivacyDisclosure.Source", outcome: "0",
                    dicomEvent: "110102"))
            try add(
                .pushReceived, .system("peer RQ3"),
                [.peer: "RQ3", .studyUID: otherStudy, .nhsNumber: nhs, .pushID: "p2"],
                .init(
                    kind: "pushReceived", fhirType: "110107", profile: "PrivacyDisclosure.Recipient", outcome: "0",
                    dicomEvent: "110102"))
            try add(
                .pushRefused, .system("peer RXK"),
                [.peer: "RXK", .studyUID: F.study, .pushID: "p3", .rule: "pushNotAllowed"],
                details: "this trust does not accept pushes from the sending trust",
                .init(kind: "pushRefused", fhirType: "110113", outcome: "4", dicomEvent: "110113"))
            try add(
                .fetchRefused, .system("peer RXK"), [.peer: "RXK", .studyUID: F.study, .rule: "noCareRelationship"],
                .init(kind: "fetchRefused", fhirType: "110113", outcome: "4", dicomEvent: "110113"))
            try add(
                .fetchAbandoned, patel, [.peer: "RQ3", .studyUID: otherStudy, .rule: "optedOut"],
                .init(kind: "fetchAbandoned", fhirType: "110104", outcome: "8", dicomEvent: "110104"))
            try add(
                .retrieve, .system("DICOM PACS1 at 10.0.0.5:4242"),
                [.studyUID: F.study, .nhsNumber: nhs, .instances: "3"],
                .init(
                    kind: "retrieve", fhirType: "110106", profile: "PrivacyDisclosure.Source", outcome: "0",
                    dicomEvent: "110102"))
            try add(
                .peerRefused, .system("unauthenticated 10.1.2.3"), [.peer: "RXK", .rule: "badSignature"],
                .init(kind: "peerRefused", fhirType: "110113", outcome: "4", dicomEvent: "110113"))
            try add(
                .ingestRefused, .system("DICOM MODALITY at 127.0.0.1:50000"), [:],
                details: "C-STORE 1.2.3: <identity conflict> & \"quoted\"\nsecond line",
                .init(kind: "ingestRefused", fhirType: "110107", outcome: "4", dicomEvent: "110104"))
            try add(
                .careAdded, patel, [.careID: "c1", .nhsNumber: nhs, .careKind: "admission"],
                details: F.json(F.care(trust: F.rrk)),
                .init(kind: "careAdded", fhirType: "110110", outcome: "0", dicomEvent: "110110"))
            try add(
                .optOut, patel, [.nhsNumber: nhs, .recordSequence: "4"], details: "letter 2026-11-01",
                .init(kind: "optOut", fhirType: "110110", outcome: "0", dicomEvent: "110110"))
            try add(
                .optOutWithdrawn, patel, [.nhsNumber: nhs, .recordSequence: "5"], details: "letter 2026-11-20",
                .init(kind: "optOutWithdrawn", fhirType: "110110", outcome: "0", dicomEvent: "110110"))
            try add(
                .optOutRefused, .system("gossip"),
                [.nhsNumber: nhs, .origin: "RXK", .recordKind: "optOut", .rule: "noImagingOrCare"],
                .init(kind: "optOutRefused", fhirType: "110113", outcome: "4", dicomEvent: "110113"))
            try add(
                .dicomRefused, .system("DICOM peer at 127.0.0.1:50001"), [.peer: "127.0.0.1:50001"],
                details: "A-ASSOCIATE-RJ: calling AE not allowed",
                .init(kind: "dicomRefused", fhirType: "110113", outcome: "4", dicomEvent: "110113"))
            try add(
                .export, alice, [.studyUID: F.study, .nhsNumber: nhs, .instances: "3", .bytes: "99"],
                details: "/tmp/export folder/CT",
                .init(
                    kind: "export", fhirType: "110106", profile: "PrivacyDisclosure.Source", outcome: "0",
                    dicomEvent: "110106"))
            try add(
                .checkpoint, system, [.peer: "RRK", .sequence: "19", .headHash: String(repeating: "ab", count: 32)],
                .init(kind: "checkpoint", fhirType: "110100", outcome: "0", dicomEvent: "110100"))
            try add(
                "somethingNew", patel, [.nhsNumber: nhs, .studyUID: F.study, "colour": "blue"],
                .init(kind: "somethingNew", fhirType: "110100", outcome: "0", dicomEvent: "110100"))
            try add(
                .auditProofWritten, alice, [.sequence: "3", "destination": "file"], details: "/tmp/proof.json",
                .init(kind: "auditProofWritten", fhirType: "110101", outcome: "0", dicomEvent: "110101"))
            try add(
                .treeHeadConflict, .system("audit gossip"), [.peer: "RXK", .rule: "equivocation", "treeSize": "12"],
                details: #"{"reason":"two roots for size 12"}"#,
                .init(kind: "treeHeadConflict", fhirType: "110113", outcome: "8", dicomEvent: "110113"))
            try add(
                .nodeStopped, system, [:],
                .init(kind: "nodeStopped", fhirType: "110100", outcome: "0", dicomEvent: "110100"))
            // `audit export` audits itself before writing: the last entry of each export.
            wants.append(.init(kind: "auditExported", fhirType: "110101", outcome: "0", dicomEvent: "110101"))
            expected = wants
        }

        /// Runs the real `trustmesh audit export --format FORMAT`.
        func export(_ format: String) async throws -> String {
            let out = dir.appending("rrk-\(format)-\(UUID().uuidString.prefix(6))")
            let result = try await CommandRunner.trustmesh([
                "audit", "export", "--data", dir.appending("rrk"), "--format", format, "--out", out,
            ])
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            return out
        }
    }

    static func check(_ arguments: [String]) async throws -> (status: Int32, report: [String: Any], output: String) {
        let result = try await CommandRunner.run("/usr/bin/env", ["python3", checker] + arguments)
        let report = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any] ?? [:]
        return (result.status, report, result.stdout + result.stderr)
    }

    @Test func theCheckersToolsAreInstalled() async throws {
        let python = try await CommandRunner.run(
            "/usr/bin/env", ["python3", "-c", "import fhir.resources.R4B.auditevent, fhirpathpy"])
        #expect(python.status == 0, "install fhir.resources and fhirpathpy (Scripts/setup): \(python.stderr)")
        let jing = try await CommandRunner.run("/usr/bin/env", ["sh", "-c", "command -v jing"])
        #expect(jing.status == 0, "install Debian's jing (Scripts/setup)")
    }

    @Test func everyAuditEventValidatesAndKeepsTheBALPConstraints() async throws {
        let setup = try Setup()
        let file = try await setup.export("fhir")
        let (status, report, output) = try await Self.check(["fhir", file])
        #expect(status == 0, "\(output)")
        let resources = try #require(report["resources"] as? [[String: Any]], "\(output)")
        #expect(resources.count == setup.expected.count)
        for (resource, want) in zip(resources, setup.expected) {
            let id = resource["id"] as? String ?? "?"
            #expect(resource["kind"] as? String == want.kind, "\(id)")
            #expect(resource["type"] as? String == want.fhirType, "\(id) \(want.kind)")
            #expect(resource["profile"] as? String == want.profile, "\(id) \(want.kind)")
            #expect(resource["outcome"] as? String == want.outcome, "\(id) \(want.kind)")
            #expect((resource["violations"] as? [String] ?? ["?"]).isEmpty, "\(id) \(want.kind): \(resource)")
        }
        func resource(_ kind: String, _ index: Int = 0) throws -> [String: Any] {
            try #require(resources.filter { $0["kind"] as? String == kind }.dropFirst(index).first)
        }
        func agent(_ resource: [String: Any], _ code: String) -> [String: Any]? {
            (resource["agents"] as? [[String: Any]])?.first { ($0["type"] as? [String])?.contains(code) == true }
        }
        func entityIDs(_ resource: [String: Any]) -> [String] {
            (resource["entities"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        }
        // The holder disclosed to RQ3, whose clinician the care relationship names.
        let served = try resource("fetchServed")
        #expect(agent(served, "110153")?["who"] as? String == "RRK")
        #expect(agent(served, "110152")?["who"] as? String == "RQ3")
        #expect(agent(served, "IRCP")?["who"] as? String == "910000000001")
        #expect(entityIDs(served) == [F.patient.digits, "urn:oid:" + F.study])
        #expect((served["subtype"] as? [String])?.contains("disclose") == true)
        // The requester received from RQ3; the patient comes from the request that named it.
        let completed = try resource("fetchCompleted")
        #expect(agent(completed, "110153")?["who"] as? String == "RQ3")
        #expect(agent(completed, "110152")?["who"] as? String == "RRK")
        #expect(entityIDs(completed) == [F.otherPatient.digits, "urn:oid:" + Self.otherStudy])
        // Queries and views name the person as the user and the trusts as organisations.
        let query = try resource("query")
        #expect(agent(query, "IRCP")?["who"] as? String == "910000000001")
        #expect(agent(query, "PROV")?["who"] as? String == "RRK")
        #expect((query["subtype"] as? [String]) == ["search-type"])
        #expect((try resource("view")["subtype"] as? [String]) == ["read"])
        // A refusal names who was refused as the requestor, and the rule.
        let refused = try resource("fetchRefused")
        #expect(agent(refused, "110153")?["who"] as? String == "RXK")
        #expect(agent(refused, "110153")?["requestor"] as? Bool == true)
        #expect((refused["subtype"] as? [String]) == ["110132"])
        #expect((try resource("peerRefused")["subtype"] as? [String]) == ["110126"])

        let bundle =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as! [String: Any]
        #expect(bundle["resourceType"] as? String == "Bundle")
        #expect(bundle["type"] as? String == "collection")
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(text.contains("\"outcomeDesc\":\"rule noCareRelationship\""))
        #expect(text.contains("\"code\":\"ETREAT\""))
    }

    /// The checker itself must catch a wrong mapping: roles swapped, a profile's code changed, a
    /// patient named by another identifier.
    @Test func aWrongMappingFailsTheChecks() async throws {
        let setup = try Setup()
        let file = try await setup.export("fhir")
        let original = try String(contentsOfFile: file, encoding: .utf8)
        let wrongs: [(String, (inout [String: Any]) -> Void, String)] = [
            (
                "disclosure with source and recipient swapped",
                { resource in
                    guard var agents = resource["agent"] as? [[String: Any]] else { return }
                    for index in agents.indices {
                        let text = "\(agents[index]["type"] ?? "")"
                        let code = text.contains("110153") ? "110152" : text.contains("110152") ? "110153" : nil
                        if let code {
                            agents[index]["type"] = [
                                "coding": [["system": "http://dicom.nema.org/resources/ontology/DCM", "code": code]]
                            ]
                        }
                    }
                    resource["agent"] = agents
                }, "fetchServed"
            ),
            ("query as a read", { $0["action"] = "R" }, "query"),
            (
                "patient by a local identifier",
                { resource in
                    guard var entities = resource["entity"] as? [[String: Any]] else { return }
                    entities[0]["what"] = ["type": "Patient", "identifier": ["system": "urn:local", "value": "42"]]
                    resource["entity"] = entities
                }, "view"
            ),
            (
                "view without an agent's requestor",
                { resource in
                    guard var agents = resource["agent"] as? [[String: Any]] else { return }
                    agents[0]["requestor"] = nil
                    resource["agent"] = agents
                }, "view"
            ),
        ]
        for (name, change, kind) in wrongs {
            var bundle = try JSONSerialization.jsonObject(with: Data(original.utf8)) as! [String: Any]
            var entries = bundle["entry"] as! [[String: Any]]
            let index = try #require(
                entries.firstIndex { "\(($0["resource"] as? [String: Any])?["subtype"] ?? "")".contains(kind) })
            var resource = entries[index]["resource"] as! [String: Any]
            change(&resource)
            entries[index]["resource"] = resource
            bundle["entry"] = entries
            let path = setup.dir.appending("wrong-\(name.replacingOccurrences(of: " ", with: "-")).json")
            try JSONSerialization.data(withJSONObject: bundle).write(to: URL(fileURLWithPath: path))
            let (status, _, output) = try await Self.check(["fhir", path])
            #expect(status == 1, "\(name) passed the checks")
            #expect(output.contains("\"violations\": [\n    \""), "\(name): \(output.prefix(2000))")
        }
    }

    @Test func everyDICOMMessageValidatesAgainstTheSchemaWithTheRightEvent() async throws {
        let setup = try Setup()
        let file = try await setup.export("dicom")
        let (status, report, output) = try await Self.check(["dicom", file, Self.schema])
        #expect(status == 0, "\(output)")
        let messages = try #require(report["messages"] as? [[String: Any]], "\(output)")
        #expect(messages.count == setup.expected.count)
        for (message, want) in zip(messages, setup.expected) {
            let types = (message["eventTypes"] as? [[String]] ?? []).map { $0.joined(separator: " ") }
            #expect(types.contains("99TRUSTMESH \(want.kind)"), "line \(message["line"] ?? "?"): \(types)")
            #expect(message["eventID"] as? String == want.dicomEvent, "\(want.kind)")
            #expect(message["outcome"] as? String == want.outcome, "\(want.kind)")
        }
        func message(_ kind: String) throws -> [String: Any] {
            let index = try #require(setup.expected.firstIndex { $0.kind == kind })
            return messages[index]
        }
        func participant(_ message: [String: Any], role: String) -> String? {
            (message["participants"] as? [[String: Any]])?.first {
                ($0["roles"] as? [String])?.contains(role) == true
            }?[
                "user"] as? String
        }
        // Transfers name source and destination: the holder sends, the requester receives.
        let served = try message("fetchServed")
        #expect(participant(served, role: "110153") == "RRK")
        #expect(participant(served, role: "110152") == "RQ3")
        let completed = try message("fetchCompleted")
        #expect(completed["action"] as? String == "C")
        #expect(participant(completed, role: "110153") == "RQ3")
        #expect(participant(completed, role: "110152") == "RRK")
        let objects = completed["objects"] as? [[String: Any]] ?? []
        #expect(
            objects.map { $0["id"] as? String } == [
                Self.otherStudy, F.otherPatient.digits + "^^^&2.16.840.1.113883.2.1.4.1&ISO",
            ])
        #expect(objects.map { $0["idType"] as? String } == ["110180", "2"])
        // Export names the destination media; refusals are security alerts.
        #expect(participant(try message("export"), role: "110154") == "file:///tmp/export%20folder/CT")
        let refused = try message("fetchRefused")
        #expect((refused["eventTypes"] as? [[String]])?.first == ["DCM", "110132"])
        let query = try message("query")
        #expect((query["objects"] as? [[String: Any]])?.first?["role"] as? String == "24")

        // The escaping holds: the refused ingest's details come back intact from the XML.
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == setup.expected.count)
        let ingestRefused = try #require(lines.first { $0.contains("ingestRefused") })
        #expect(ingestRefused.contains("&lt;identity conflict&gt; &amp; &quot;quoted&quot;&#10;second line"))
    }

    @Test func aMessageOutsideTheSchemaIsRefused() async throws {
        let setup = try Setup()
        let file = try await setup.export("dicom")
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
        let broken = lines.enumerated().map { index, line in
            index == 2
                ? line.replacingOccurrences(of: "EventOutcomeIndicator=\"0\"", with: "EventOutcomeIndicator=\"1\"")
                : line
        }
        let path = setup.dir.appending("broken.xml")
        try Data((broken.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path))
        let (status, report, output) = try await Self.check(["dicom", path, Self.schema])
        #expect(status == 1)
        let errors = report["errors"] as? [String] ?? []
        #expect(errors.count == 1, "\(output)")
        #expect(errors.first?.hasPrefix("line 3: ") == true, "\(errors)")
    }

    @Test func theExportIsAuditedBeforeTheFileAndJSONLinesStayVerifiable() async throws {
        let setup = try Setup()
        let out = setup.dir.appending("rrk.jsonl")
        let result = try await CommandRunner.trustmesh([
            "audit", "export", "--data", setup.dir.appending("rrk"), "--out", out,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let count = setup.expected.count
        #expect(result.stdout.contains("Exported \(count) audit entries of RRK (#1–#\(count), head "))
        let entries = try AuditExport.parse(Array(try Data(contentsOf: URL(fileURLWithPath: out)))).entries
        let last = try #require(entries.last)
        #expect(last.kind == .auditExported)
        #expect(last.actor.hasPrefix("operating-system user "))
        #expect(last[.format] == "jsonl")
        #expect(last[.entries] == "\(count)")
        #expect(last.details == URL(fileURLWithPath: out).standardizedFileURL.path)

        // A refused export (the file exists) writes nothing to the log.
        let again = try await CommandRunner.trustmesh([
            "audit", "export", "--data", setup.dir.appending("rrk"), "--format", "fhir", "--out", out,
        ])
        #expect(again.status != 0)
        #expect(again.stderr.contains("must not exist"))
        #expect(try setup.node.store.audit.count() == count)
    }
}
