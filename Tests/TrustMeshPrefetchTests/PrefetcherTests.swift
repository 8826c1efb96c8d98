import Foundation
import Logging
import Testing
import TrustMeshFetch
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshPeer
import TrustMeshPrefetch
import TrustMeshStore
import TrustMeshTesting

/// The pre-fetch engine over a real catalogue, fetching from a real holder process on loopback.
@Suite(.serialized, .timeLimit(.minutes(5))) struct PrefetcherTests {
    static let patient = "9434765919"
    /// The rules, with an off-peak window that opens two hours from now (London time), so that
    /// the off-peak plan below waits whatever the time of day the test runs at.
    static var rules: String {
        var london = Calendar(identifier: .gregorian)
        london.timeZone = TimeZone(identifier: "Europe/London")!
        let time = { (date: Date) in
            let parts = london.dateComponents([.hour, .minute], from: date)
            return String(format: "%02d:%02d", parts.hour!, parts.minute!)
        }
        let now = Date()
        return """
            { "offPeak": { "from": "\(time(now.addingTimeInterval(7200)))", "to": "\(time(now.addingTimeInterval(10800)))" },
              "rules": [
            { "name": "Clinic priors", "events": ["appointmentBooked", "clinicListed"], "lookBackMonths": 600,
              "maxStudies": 5, "when": "now" },
            { "name": "Off-peak", "events": ["appointmentModified"], "lookBackMonths": 600, "maxStudies": 5,
              "when": "offPeak" } ] }
            """
    }

    static func event(_ kind: FeedEvent.Kind, reference: String, at: Date) throws -> FeedEvent {
        FeedEvent(
            kind: kind, nhsNumber: try NHSNumber(patient), reference: reference, at: at, place: "Fracture clinic",
            clinician: "Dr A Khan", source: "HL7 v2 PAS^RKB from 127.0.0.1", messageID: "M-\(reference)")
    }

    /// RRK holds two studies of the patient and runs; RKB knows them by gossip, then stops, and its
    /// folder is driven in process by a ``Prefetcher`` with the node's own fetch engine.
    @Test func aBookingRecordsTheFeedsCareAndFetchesThePriorsACancellationEndsTheRest() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"])
        try await network.start("RRK")
        try await network.start("RKB")
        let studies = ["1.2.826.0.1.3680043.10.181.1", "1.2.826.0.1.3680043.10.181.2"]
        for uid in studies { try await network.ingestSyntheticStudy(at: "RRK", patient: Self.patient, studyUID: uid) }
        try await poll("RKB to list both studies", deadline: .seconds(30)) {
            let listed = try? await LocalAPIClient.query(node: network.api("RKB"), nhs: NHSNumber(Self.patient))
            return listed?.studies.count == 2
        }
        _ = network.stop("RKB")
        _ = try await network.waitForExit("RKB")

        let node = try LocalNode(directory: network.dataDirectory("RKB"))
        let topology = try LocalNetwork.read(network.networkDirectory + "/topology.json")
        let client = PeerClient(me: node.configuration.trust, signing: try node.signingKey(), topology: { topology })
        let fetches = FetchEngine(node: node, client: client, logger: Logger(label: "test"))
        let prefetcher = Prefetcher(
            node: node, fetches: fetches, rules: try PrefetchRules(json: Data(Self.rules.utf8)))
        let now = Date()
        do {
            try await drive(prefetcher, node: node, studies: studies, now: now)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    func drive(_ prefetcher: Prefetcher, node: LocalNode, studies: [String], now: Date) async throws {

        // A cancelled booking plans and then cancels; nothing of it is fetched.
        let cancelled = try prefetcher.receive(
            Self.event(.appointmentModified, reference: "APT-9", at: now.addingTimeInterval(7 * 86_400)), now: now)
        guard case .plan(_, let offPeak, _, _) = cancelled else {
            Issue.record("\(cancelled)")
            return
        }
        #expect(offPeak.count == 2 && offPeak.allSatisfy { $0.notBefore > now })
        try prefetcher.receive(
            Self.event(.appointmentCancelled, reference: "APT-9", at: now.addingTimeInterval(7 * 86_400)), now: now)
        #expect(try node.store.prefetch.tasks(nhsNumber: Self.patient).map(\.state) == ["cancelled", "cancelled"])

        // A booking for tomorrow: both priors, at once.
        let decision = try prefetcher.receive(
            Self.event(.appointmentBooked, reference: "APT-1", at: now.addingTimeInterval(86_400)), now: now)
        guard case .plan(let rule, let tasks, _, _) = decision else {
            Issue.record("\(decision)")
            return
        }
        #expect(rule == "Clinic priors" && Set(tasks.map(\.studyUID)) == Set(studies))
        var states = ""
        do {
            try await poll("both priors fetched", deadline: .seconds(120)) {
                try prefetcher.runDue()
                let tasks = try node.store.prefetch.tasks(nhsNumber: Self.patient)
                states = tasks.map { "\($0.state) \($0.detail ?? "")" }.joined(separator: "; ")
                return tasks.filter { $0.state == "ready" }.count == 2
            }
        } catch {
            Issue.record("\(error); tasks: \(states)")
            throw error
        }
        #expect(try studies.allSatisfy { try node.store.holds(studyUID: $0) })

        // One care relationship, the feed's: the clinician named by the message, from the feed's issuer.
        let cares = try node.careRelationships().filter { $0.nhsNumber.digits == Self.patient }
        #expect(cares.count == 1)
        #expect(cares.first?.clinicianIdentity?.issuer == LocalNode.feedClinicianIssuer)
        #expect(cares.first?.clinician == "Dr A Khan" && cares.first?.kind == .outpatient)
        let audit = try node.store.audit.all()
        #expect(audit.contains { $0.kind == .careAdded && $0.actor == "HL7 v2 PAS^RKB from 127.0.0.1" })
        #expect(audit.filter { $0.kind == .fetchCompleted }.count == 2)

        // The same booking again within the suppression interval plans nothing new: both are held.
        let again = try prefetcher.receive(
            Self.event(.appointmentBooked, reference: "APT-2", at: now.addingTimeInterval(2 * 86_400)), now: now)
        #expect(
            again == .plan(rule: "Clinic priors", tasks: [], held: Array(studies.sorted().reversed()), suppressed: []))
    }
}
