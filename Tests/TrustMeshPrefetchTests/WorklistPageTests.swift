import Foundation
import NIOHTTP1
import Testing
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshStore
import TrustMeshTesting

/// A clinic list uploaded on the page by a signed-in clinician at RKB, pre-fetched from RRK, and
/// the clinic's worklist with each patient's status: real node processes, the page's own forms.
@Suite(.timeLimit(.minutes(5))) struct WorklistPageTests {
    /// Patients: two with imaging at RRK, one with none anywhere, one opted out at RRK.
    static let withImaging = ["9434765919", "9434765870"]
    static let withNothing = "4010232137"
    static let optedOut = "9449305552"

    static func uid(_ index: Int) -> String { "1.2.826.0.1.3680043.10.183.\(index + 1)" }

    /// Each row's `data-status` on a worklist page, by NHS number.
    static func statuses(_ html: String) -> [String: String] {
        var found: [String: String] = [:]
        for row in html.components(separatedBy: "<tr data-nhs=\"").dropFirst() {
            let nhs = String(row.prefix(10))
            guard let start = row.range(of: "data-status=\"") else { continue }
            found[nhs] = String(row[start.upperBound...].prefix { $0 != "\"" })
        }
        return found
    }

    @Test func anUploadedClinicListIsPrefetchedAndItsWorklistShowsEachPatientsStatus() async throws {
        let network = try TestNetwork(trusts: ["RKB", "RRK"])
        for (index, nhs) in (Self.withImaging + [Self.optedOut]).enumerated() {
            try await network.ingestSyntheticStudy(
                at: "RRK", patient: nhs, studyUID: Self.uid(index), instances: 2, size: 32)
        }
        let optOut = try await CommandRunner.trustmesh([
            "optout", "--data", network.dataDirectory("RRK"), "--nhs", Self.optedOut, "--reference", "Opt-out form 9",
        ])
        #expect(optOut.status == 0, "\(optOut.stderr)")
        let rules = network.directory.appending("prefetch-rules.json")
        try Data(
            """
            { "rules": [ { "name": "Respiratory priors", "events": ["clinicListed"], "places": ["Respiratory clinic"],
                "lookBackMonths": 600, "maxStudies": 3, "when": "now" } ] }
            """.utf8
        ).write(to: URL(fileURLWithPath: rules))
        try await network.start("RKB", arguments: ["--prefetch-rules", rules])
        try await network.start("RRK")
        try await poll("RKB to list RRK's studies and the opt-out", deadline: .seconds(60)) {
            let status = try await LocalAPIClient.status(node: network.api("RKB"))
            let optedOut = try await LocalAPIClient.query(node: network.api("RKB"), nhs: NHSNumber(Self.optedOut))
            return status.peers.reduce(0) { $0 + $1.records } >= 3 && optedOut.optedOut
        }
        let upload = network.url("RKB") + "/worklists/upload"
        var london = Calendar(identifier: .gregorian)
        london.timeZone = TimeZone(identifier: "Europe/London")!
        let tomorrow = london.dateComponents([.year, .month, .day], from: Date().addingTimeInterval(86_400))
        let day = String(format: "%04d-%02d-%02d", tomorrow.year!, tomorrow.month!, tomorrow.day!)
        let rows = (Self.withImaging + [Self.withNothing, Self.optedOut]).enumerated().map { index, nhs in
            "\(nhs),\(day) 09:\(10 + index * 10),Respiratory clinic,\"Khan, A\""
        }
        let csv = (["NHS number,Date and time,Clinic,Clinician"] + rows).joined(separator: "\n")

        // Uninvited: no session, then signed-in people whose role may not plan fetches.
        let anonymous = try await TestNetwork.postForm(upload, ["kind": "clinic", "csv": csv], as: nil)
        #expect([401, 403, 303].contains(anonymous.status), "\(anonymous.status)")
        for user in ["ines", "olu"] {
            let session = try await network.signIn("RKB", user: user)
            let refused = try await TestNetwork.postForm(upload, ["kind": "clinic", "csv": csv], as: session)
            #expect(refused.status == 403, "\(user): \(refused.status)")
        }
        let priya = try await network.signIn("RKB", user: "priya")
        // A list with a bad row plans nothing and says which row.
        let bad = try await TestNetwork.postForm(
            upload, ["kind": "clinic", "csv": csv + "\n9434765919,\(day) 25:00,Respiratory clinic,Dr"], as: priya)
        #expect(bad.status == 422)
        #expect(bad.body.contains("line 6, date and time"), "\(bad.body.prefix(2000))")
        let page = network.url("RKB") + "/worklist?day=\(day)&place=Respiratory%20clinic"
        let before = try await TestNetwork.request(.GET, page, headers: priya.headers)
        #expect(before.status == 200)
        #expect(Self.statuses(before.body).isEmpty, "nothing listed from the refused upload")

        let accepted = try await TestNetwork.postForm(upload, ["kind": "clinic", "csv": csv], as: priya)
        #expect(accepted.status == 303, "\(accepted.status) \(accepted.body.prefix(1000))")
        #expect(accepted.headers["Location"]?.hasPrefix("/worklist?day=\(day)&place=Respiratory") == true)

        var seen: [String: String] = [:]
        try await poll("the worklist to show each patient's status", deadline: .seconds(90)) {
            let answer = try await TestNetwork.request(.GET, page, headers: priya.headers)
            seen = Self.statuses(answer.body)
            return Self.withImaging.allSatisfy { seen[$0] == "ready" } && seen[Self.withNothing] == "nothing-elsewhere"
                && seen[Self.optedOut] == "opted-out"
        }
        #expect(seen.count == 4, "\(seen)")
        let listing = try await TestNetwork.request(.GET, network.url("RKB") + "/worklists", headers: priya.headers)
        #expect(listing.body.contains("Respiratory clinic") && listing.body.contains(day))

        // Fetched under care the list is evidence of; the upload attributed to the clinician who sent it.
        let node = try LocalNode(directory: network.dataDirectory("RKB"))
        for index in Self.withImaging.indices { #expect(try node.store.holds(studyUID: Self.uid(index))) }
        #expect(try !node.store.holds(studyUID: Self.uid(2)), "the opted-out patient's study")
        let audit = try node.store.audit.all()
        let received = audit.filter { $0.kind == .feedReceived }
        #expect(received.count == 4)
        #expect(received.allSatisfy { $0.actor.contains("Priya") }, "\(received.map(\.actor))")
        #expect(audit.contains { $0.kind == .feedRefused && ($0.details ?? "").contains("line 6") })
        #expect(
            audit.filter { $0.kind == .careAdded }.allSatisfy { $0.actor.hasPrefix("clinic list uploaded by") },
            "\(audit.filter { $0.kind == .careAdded }.map(\.actor))")
    }
}
