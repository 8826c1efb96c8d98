import Foundation
import NIOHTTP1
import Testing
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshStore
import TrustMeshTesting

/// A clinic booked over HL7 v2 (python-hl7, real MLLP) at RRK, for patients whose imaging is at
/// RQ3 and RXK, pre-fetched by RRK's node in its off-peak window: real node processes on loopback.
@Suite(.serialized, .timeLimit(.minutes(6))) struct ClinicPrefetchTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// `count` valid NHS numbers (modulus 11) from `base` up.
    static func patients(_ count: Int, from base: Int = 401_023_200) -> [String] {
        var found: [String] = []
        var n = base
        while found.count < count {
            for check in 0...9 where (try? NHSNumber(String(n) + String(check))) != nil {
                found.append(String(n) + String(check))
            }
            n += 1
        }
        return Array(found.prefix(count))
    }

    static func uid(_ index: Int) -> String { "1.2.826.0.1.3680043.10.182.\(index + 1)" }

    @Test func aClinicOfTwentyIsFetchedInTheWindowOnceEachButNotCancelledOrOptedOut() async throws {
        let patients = Self.patients(20)
        let network = try TestNetwork(trusts: ["RRK", "RQ3", "RXK"])
        // Each patient's study at RQ3 (even) or RXK (odd).
        for (index, nhs) in patients.enumerated() {
            try await network.ingestSyntheticStudy(
                at: index.isMultiple(of: 2) ? "RQ3" : "RXK", patient: nhs, studyUID: Self.uid(index), instances: 2,
                size: 32)
        }
        // Patient 2 opts out at RQ3, which holds their imaging.
        let optOut = try await CommandRunner.trustmesh([
            "optout", "--data", network.dataDirectory("RQ3"), "--nhs", patients[2], "--reference", "Opt-out form OPT-7",
        ])
        #expect(optOut.status == 0, "\(optOut.stderr)")

        // The off-peak window opens at the next whole minute at least 45 s away, for three hours: if
        // the messages are in before then, the fetches wait for it; on a slow machine they start
        // when the gate opens, still in the window.
        var london = Calendar(identifier: .gregorian)
        london.timeZone = TimeZone(identifier: "Europe/London")!
        let soon = Date().addingTimeInterval(45)
        let opens = london.nextDate(
            after: soon, matching: DateComponents(second: 0), matchingPolicy: .nextTime)!
        let time = { (date: Date) in
            let parts = london.dateComponents([.hour, .minute], from: date)
            return String(format: "%02d:%02d", parts.hour!, parts.minute!)
        }
        let rules = network.directory.appending("prefetch-rules.json")
        try Data(
            """
            { "offPeak": { "from": "\(time(opens))", "to": "\(time(opens.addingTimeInterval(3 * 3600)))" },
              "rules": [ { "name": "Fracture clinic priors",
                "events": ["appointmentBooked", "appointmentRescheduled", "appointmentModified"],
                "places": ["Fracture clinic"], "lookBackMonths": 600, "maxStudies": 3, "when": "offPeak" } ] }
            """.utf8
        ).write(to: URL(fileURLWithPath: rules))
        let port = try FreePorts.allocate(1)[0]
        // The loop starts nothing until every message is in, however slow the machine: the gate.
        let gate = network.directory.appending("prefetch-gate")
        try await network.start(
            "RRK", arguments: ["--hl7-port", "\(port)", "--hl7-allow", "127.0.0.1", "--prefetch-rules", rules],
            environment: ["TRUSTMESH_FAULT_PREFETCH_GATE": gate])
        try await network.start("RQ3")
        try await network.start("RXK")
        try await poll("RRK to list every patient's study and the opt-out", deadline: .seconds(60)) {
            let status = try await LocalAPIClient.status(node: network.api("RRK"))
            let listed = status.peers.reduce(0) { $0 + $1.records }
            let optedOut = try await LocalAPIClient.query(node: network.api("RRK"), nhs: NHSNumber(patients[2]))
                .optedOut
            return listed >= 21 && optedOut
        }

        // Tomorrow's clinic, 09:00 on; patient 1 booked twice (two references); patient 3 cancelled.
        let tomorrow = london.date(byAdding: .day, value: 1, to: Date())!
        let day = london.dateComponents([.year, .month, .day], from: tomorrow)
        let date = String(format: "%04d%02d%02d", day.year!, day.month!, day.day!)
        var lines: [String] = []
        func line(_ kind: String, _ control: String, _ nhs: String, _ reference: String, _ when: String) {
            lines.append(
                #"{"kind": "\#(kind)", "control": "\#(control)", "nhs": "\#(nhs)", "reference": "\#(reference)", "when": "\#(when)"}"#
            )
        }
        for (index, nhs) in patients.enumerated() {
            line(
                "S12", "C\(index)", nhs, "APT-\(index)",
                date + String(format: "%02d%02d00", 9 + index / 4, index % 4 * 15))
        }
        line("S12", "C-DUP", patients[1], "APT-DUP", date + "150000")
        line("S15", "C-CANCEL", patients[3], "APT-3", "")
        let input = network.directory.appending("messages.jsonl")
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: input))
        let sent = try await CommandRunner.run(
            "/bin/sh", ["-c", "/usr/bin/python3 \(Self.root)/Scripts/hl7-send.py 127.0.0.1 \(port) < \(input)"])
        #expect(sent.status == 0, "\(sent.stderr)")
        let acks = try JSONSerialization.jsonObject(with: Data(sent.stdout.utf8)) as? [[String: String]] ?? []
        #expect(acks.count == 22 && acks.allSatisfy { $0["ack"] == "AA" }, "\(acks)")
        #expect(FileManager.default.createFile(atPath: gate, contents: Data()))

        // In the window: every patient's study but the cancelled and the opted-out one.
        let expected = patients.indices.filter { $0 != 2 && $0 != 3 }
        try await poll("RRK to hold the clinic's priors", deadline: .seconds(180)) {
            for index in expected {
                let answer = try await LocalAPIClient.query(node: network.api("RRK"), nhs: NHSNumber(patients[index]))
                guard answer.studies.contains(where: { $0.studyInstanceUID == Self.uid(index) && $0.localCopy }) else {
                    return false
                }
            }
            return true
        }
        let node = try LocalNode(directory: network.dataDirectory("RRK"))
        for index in [2, 3] { #expect(try !node.store.holds(studyUID: Self.uid(index)), "patient \(index)") }
        let audit = try node.store.audit.all()
        let requested = audit.filter { $0.kind == .fetchRequested }
        #expect(requested.count == expected.count, "each study once, the duplicate booking included")
        let clock = ISO8601DateFormatter()
        #expect(
            requested.allSatisfy { (clock.date(from: $0.time) ?? .distantPast) >= opens },
            "every fetch started in the window, which opened at \(opens)")
        #expect(
            audit.filter { $0.kind == .fetchCompleted && $0.subject[.studyUID] == Self.uid(1) }.count == 1)
        #expect(
            audit.filter { $0.kind == .careAdded }.allSatisfy { $0.actor.hasPrefix("HL7 v2 PAS^RRK from 127.0.0.1") })

        // The clinic's worklist at RRK, as a clinician there reads it: one line per booking.
        let ravi = try await network.signIn("RRK", user: "ravi")
        let isoDay = String(format: "%04d-%02d-%02d", day.year!, day.month!, day.day!)
        var rows: [(String, String?)] = []
        try await poll("RRK's worklist to show the clinic", deadline: .seconds(30)) {
            let page = try await TestNetwork.request(
                .GET, network.url("RRK") + "/worklist?day=\(isoDay)&place=Fracture%20clinic", headers: ravi.headers)
            rows = page.body.components(separatedBy: "<tr data-nhs=\"").dropFirst().map { row in
                (
                    String(row.prefix(10)),
                    row.range(of: "data-status=\"").map { String(row[$0.upperBound...].prefix { $0 != "\"" }) }
                )
            }
            return rows.count == 21 && rows.allSatisfy { $0.1 != "fetching" }
        }
        for (nhs, status) in rows {
            let index = patients.firstIndex(of: nhs)
            let expected = index == 2 ? "opted-out" : index == 3 ? "cancelled" : "ready"
            #expect(status == expected, "patient \(index ?? -1)")
        }
    }
}
