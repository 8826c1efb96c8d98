import Foundation
import Testing
import TrustMeshNodeTesting
import TrustMeshTesting

/// The HL7 v2 door of a real `trustmesh node run`, driven by a PAS played with python-hl7 over real
/// MLLP sockets on loopback (Scripts/hl7-feed.py).
@Suite(.serialized, .timeLimit(.minutes(5))) struct HL7FeedTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// The audit log's entries of `kind`, as JSON objects, once the node has stopped.
    static func entries(_ net: TestNetwork, _ code: String, _ kind: String) async throws -> [[String: Any]] {
        let log = net.directory.appending("audit-\(code)-\(kind).jsonl")
        let exported = try await CommandRunner.trustmesh([
            "audit", "export", "--data", net.dataDirectory(code), "--out", log,
        ])
        #expect(exported.status == 0, "\(exported.stderr)")
        return try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").compactMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.filter { $0["kind"] as? String == kind }
    }

    @Test func aClinicIsAcknowledgedAndAuditedOnceAndMalformedMessagesAreRefusedNamingTheFault() async throws {
        let net = try TestNetwork(trusts: ["RRK"])
        let port = try FreePorts.allocate(1)[0]
        try await net.start("RRK", arguments: ["--hl7-port", "\(port)", "--hl7-allow", "127.0.0.1/32"])
        try await poll("RRK's HL7 listener", deadline: .seconds(30)) {
            net.log("RRK").contains("HL7 v2 (MLLP) listening")
        }
        let result = try await CommandRunner.run(
            "/usr/bin/python3", [Self.root + "/Scripts/hl7-feed.py", "127.0.0.1", "\(port)", "127.0.0.2"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stderr)")
        func step(_ name: String) -> [String: String] { json[name] as? [String: String] ?? [:] }

        let clinic = json["clinic"] as? [[String: String]] ?? []
        #expect(clinic.count == 20)
        #expect(clinic.allSatisfy { $0["ack"] == "AA" }, "\(clinic)")
        #expect(clinic.enumerated().allSatisfy { $1["acknowledges"] == String(format: "CLINIC%03d", $0) })
        #expect(clinic.first?["receiver"] == "PAS", "sender and receiver swapped")
        #expect(step("cancel")["ack"] == "AA")
        #expect(step("resend")["ack"] == "AA")
        #expect(step("ignored")["ack"] == "AA")
        #expect(step("noNHS")["ack"] == "AE")
        #expect(step("noNHS")["text"] == "PID-3: no NHS number (identifier type NH, assigning authority NHS)")
        #expect(step("noNHS")["err"] == step("noNHS")["text"])
        let bad = json["badNumber"] as? String ?? "?"
        #expect(step("checkDigit")["ack"] == "AE")
        #expect(step("checkDigit")["text"] == "PID-3: NHS number \(bad) fails its check digit")
        #expect(step("badTime")["ack"] == "AE")
        #expect(
            step("badTime")["text"]?.hasPrefix("AIS-4: appointment time 20261306 is not a valid HL7 date/time") == true)
        #expect(step("noMSH")["ack"] == "AR")
        #expect(step("noMSH")["text"] == "MSH: the message does not start with an MSH segment")
        #expect(step("oversized")["ack"] == "AR")
        #expect(step("oversized")["acknowledges"] == "HUGE", "the reject still names the message")
        #expect(step("oversized")["text"]?.contains("larger than 1048576 bytes") == true)
        #expect(step("afterOversized")["ack"] == "closed")
        #expect(step("notAllowed")["ack"] == "closed")

        #expect(net.stop("RRK") == 0)
        // Each booking audited once (the resend not again), and the cancellation; the feed is the actor.
        let received = try await Self.entries(net, "RRK", "feedReceived")
        let patients = json["patients"] as? [String] ?? []
        #expect(received.count == 21, "\(received.count)")
        for nhs in patients.prefix(20) {
            let mine = received.filter { ($0["subject"] as? [String: String])?["nhsNumber"] == nhs }
            #expect(mine.count == (nhs == patients.first ? 2 : 1), "\(nhs)")
        }
        #expect(received.allSatisfy { $0["actor"] as? String == "HL7 v2 PAS^RRK from 127.0.0.1" })
        let first = try #require(received.first)
        let details = try #require(
            try JSONSerialization.jsonObject(with: Data((first["details"] as? String ?? "").utf8)) as? [String: String])
        #expect(details["kind"] == "appointmentBooked")
        #expect(details["reference"] == "APT-000")
        #expect(details["at"] == "2026-12-06T09:00:00Z")
        #expect(details["place"] == "Fracture clinic^Plaster room", "\\S\\ decoded")
        #expect(details["clinician"] == "Dr Aisha Khan")
        #expect(received.last.flatMap { ($0["details"] as? String)?.contains("appointmentCancelled") } == true)

        // Every refusal audited: four AE/AR messages, the oversized one, the address not allowed.
        let refused = try await Self.entries(net, "RRK", "feedRefused")
        let texts = refused.map { $0["details"] as? String ?? "" }
        #expect(refused.count == 6, "\(texts)")
        #expect(texts.contains { $0.hasPrefix("PID-3: no NHS number") })
        #expect(texts.contains { $0.hasPrefix("PID-3: NHS number \(bad) fails its check digit") })
        #expect(texts.contains { $0.hasPrefix("AIS-4:") })
        #expect(texts.contains { $0.hasPrefix("MSH: the message does not start") })
        #expect(texts.contains { $0.hasPrefix("MLLP: message larger than") })
        let sneak = refused.filter { $0["actor"] as? String == "HL7 v2 peer at 127.0.0.2" }
        #expect(sneak.count == 1)
        #expect((sneak.first?["subject"] as? [String: String])?["rule"] == "connection")
    }

    @Test func aPortWithoutAnAllowListRefusesToStart() async throws {
        let result = try await CommandRunner.trustmesh([
            "node", "run", "--data", "/nonexistent", "--topology", "/nonexistent", "--hl7-port", "2575",
        ])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--hl7-port needs --hl7-allow"), "\(result.stderr)")
    }
}
