import Foundation
import NIOHTTP1
import Testing
import TrustMeshCrypto
import TrustMeshGossip
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshPeer
import TrustMeshStore
import TrustMeshTesting

/// A thief with a trust's signing key sends one index record #n to some nodes and a different #n to
/// others (issue 16): every node that sees both keeps the evidence, audits it, raises the alarm and
/// holds the trust's new records until an operator resolves it; then they flow again.
@Suite(.serialized, .timeLimit(.minutes(8))) struct EquivocationNodeTests {
    static let patient = "9434765919"
    static let codes = ["RRK", "RKB", "RL4", "RQ3"]
    static let witnesses = ["RKB", "RL4", "RQ3"]

    func run(_ arguments: [String]) async throws -> ProcessResult { try await CommandRunner.trustmesh(arguments) }

    func ingest(_ network: TestNetwork, at code: String, study: String) async throws {
        let input = network.directory.appending("in-\(study)")
        #expect(
            try await run([
                "synthesize", "--out", input, "--patient-id", Self.patient, "--instances", "1", "--size", "32",
                "--study-uid", study,
            ]).status == 0)
        let ingested = try await run(["ingest", "--data", network.dataDirectory(code), input])
        #expect(ingested.status == 0, "\(ingested.stdout)\(ingested.stderr)")
    }

    func node(_ network: TestNetwork, _ code: String) throws -> LocalNode {
        try LocalNode(directory: network.dataDirectory(code))
    }

    /// How many of RRK's records node `code` holds.
    func held(_ network: TestNetwork, _ code: String) throws -> UInt64 {
        try node(network, code).store.index.digest()[TrustID("RRK")] ?? 0
    }

    func rounds(_ network: TestNetwork, _ code: String) async throws -> Int {
        try await LocalAPIClient.status(node: network.api(code)).gossipRounds
    }

    func studies(_ network: TestNetwork, at code: String) throws -> Set<String> {
        let result = try node(network, code).query(nhs: NHSNumber(Self.patient), by: .system("equivocation test"))
        return Set(result.studies.map(\.studyInstanceUID))
    }

    @Test func aForkedStolenKeyIsCaughtEverywhereHeldAndReleasedByTheOperator() async throws {
        let network = try TestNetwork(trusts: Self.codes)
        for code in Self.codes { try await network.start(code) }
        let (s1, s2, s3, s4) = ("2.25.16.1", "2.25.16.2", "2.25.16.3", "2.25.16.4")
        try await ingest(network, at: "RRK", study: s1)
        try await poll("every node to hold RRK #1", deadline: .seconds(60)) {
            try Self.witnesses.allSatisfy { try held(network, $0) == 1 }
        }

        // RRK's node is stopped. A thief with its signing key (read from its folder) signs two
        // different records #2 and hands one to RKB and the other to RL4, speaking as RRK.
        #expect(network.stop("RRK") == 0)
        let rrk = try node(network, "RRK")
        let key = try rrk.signingKey()
        func forged(_ study: String) throws -> IndexRecord {
            IndexRecord.Draft(
                origin: rrk.configuration.trust, sequence: 2, kind: .study, nhsNumber: try NHSNumber(Self.patient),
                studyUID: study, modalities: ["CT"], instanceCount: 1, sizeBytes: 32_768,
                issuedAt: CareTime.format(Date())
            ).signed(by: key)
        }
        let (x, y) = (try forged(s2), try forged(s3))
        let client = PeerClient(
            me: rrk.configuration.trust, signing: key, agreement: try rrk.agreementKey(), topology: network.topology)
        let thief = HTTPGossipTransport(client: client)
        _ = try await thief.exchange(
            with: TrustID("RKB"), GossipRequest(from: rrk.configuration.trust, digest: [:], records: [x]))
        _ = try await thief.exchange(
            with: TrustID("RL4"), GossipRequest(from: rrk.configuration.trust, digest: [:], records: [y]))
        try await client.shutdown()

        // Gossip among the three carries both: each keeps the pair, once, and audits it once.
        let clock = ContinuousClock()
        let forkedAt = clock.now
        try await poll("every witness to hold the evidence", deadline: .seconds(60)) {
            try Self.witnesses.allSatisfy { try !node(network, $0).unresolvedConflicts(kind: .indexRecord).isEmpty }
        }
        print("equivocation: every witness held the evidence \(forkedAt.duration(to: clock.now)) after the fork")
        for code in Self.witnesses {
            let witness = try node(network, code)
            let conflicts = try witness.unresolvedConflicts()
            #expect(conflicts.count == 1, "\(code): \(conflicts)")
            let conflict = try #require(conflicts.first)
            #expect(conflict.trust.code == "RRK" && conflict.number == 2 && conflict.kind == .indexRecord)
            let records = try #require(conflict.records)
            #expect(Set([records.held, records.other]) == Set([x, y]))
            let audited = try witness.store.audit.entries(kinds: [.equivocation])
            #expect(audited.count == 1, "\(code)")
            #expect(audited.first?[.peer] == "RRK")
            #expect(audited.first?[.rule] == "indexRecord")
            #expect(audited.first?[.recordSequence] == "2")
            #expect(audited.first?.actor == "gossip")
            #expect(audited.first?.details?.contains(s2) == true && audited.first?.details?.contains(s3) == true)
            #expect(network.log(code).contains("critical"), "\(code)'s log")
            // The query shows RRK as it was before the fork: #1's study, neither disputed one.
            #expect(try studies(network, at: code) == [s1])
        }
        // Each holds one of the two in its index (which one depends on whether the thief or gossip
        // reached it first), the other only as evidence.
        for code in Self.witnesses {
            let record = try node(network, code).store.index.record(origin: TrustID("RRK"), sequence: 2)
            #expect(record == x || record == y, "\(code)")
        }

        // The alarm: on the operator's page with a resolve form, on the IG page without one.
        let olu = try await network.signIn("RKB", user: "olu")
        let operatorPage = try await TestNetwork.request(.GET, network.url("RKB") + "/operator", headers: olu.headers)
        #expect(operatorPage.status == 200)
        #expect(operatorPage.body.contains("id=\"equivocation-alarm\""))
        #expect(operatorPage.body.contains("action=\"/operator/conflicts/resolve\""))
        #expect(operatorPage.body.contains(s2) && operatorPage.body.contains(s3))
        #expect(!operatorPage.body.contains("943 476 5919"), "the operator's page masks NHS numbers")
        let ines = try await network.signIn("RKB", user: "ines")
        let governance = try await TestNetwork.request(.GET, network.url("RKB") + "/governance", headers: ines.headers)
        #expect(governance.body.contains("id=\"equivocation-alarm\""))
        #expect(governance.body.contains("data-trust=\"RRK\""))
        #expect(!governance.body.contains("action=\"/operator/conflicts/resolve\""))

        // RRK's node comes back, learns one #2 from gossip and publishes #3: nobody stores it.
        try await network.start("RRK")
        try await poll("RRK to learn a #2", deadline: .seconds(60)) { try held(network, "RRK") == 2 }
        try await ingest(network, at: "RRK", study: s4)
        #expect(try held(network, "RRK") == 3)
        // With 3 peers and fanout 3, each of RRK's rounds offers #3 to every witness.
        let start = try await rounds(network, "RRK")
        let witnessRounds = try await Self.witnesses.asyncMap { try await rounds(network, $0) }
        try await poll("RRK and the witnesses to run 5 more rounds", deadline: .seconds(60)) {
            guard try await rounds(network, "RRK") >= start + 5 else { return false }
            for (code, before) in zip(Self.witnesses, witnessRounds) where try await rounds(network, code) < before + 5
            {
                return false
            }
            return true
        }
        for code in Self.witnesses { #expect(try held(network, code) == 2, "\(code) stored a held record") }

        // Resolved: on RKB's page by the signed-in operator, at RL4 and RQ3 by the local operator
        // (RQ3 keeps the other record). RRK's records flow again.
        let list = try await run(["conflicts", "list", "--data", network.dataDirectory("RL4")])
        #expect(list.status == 0 && list.stdout.contains("UNRESOLVED"), "\(list.stdout)\(list.stderr)")
        let rkbConflict = try #require(try node(network, "RKB").unresolvedConflicts().first)
        let csrf = try #require(TestNetwork.PageSession.csrf(in: operatorPage.body))
        let form = "csrf=\(csrf)&id=\(rkbConflict.id)&note=RRK+confirmed+its+node+signed+neither&keep=held"
        let resolved = try await TestNetwork.request(
            .POST, network.url("RKB") + "/operator/conflicts/resolve", body: Data(form.utf8),
            headers: olu.headers.merging(["Content-Type": "application/x-www-form-urlencoded"]) { $1 })
        #expect(resolved.status == 303, "\(resolved.status) \(resolved.body.prefix(500))")
        let empty = try await run([
            "conflicts", "resolve", "--data", network.dataDirectory("RL4"), "--id", "1", "--note", " ",
        ])
        #expect(empty.status != 0 && empty.stderr.contains("note"), "\(empty.stderr)")
        for (code, keep) in [("RL4", "held"), ("RQ3", "other")] {
            let id = try #require(try node(network, code).unresolvedConflicts().first?.id)
            let result = try await run([
                "conflicts", "resolve", "--data", network.dataDirectory(code), "--id", "\(id)", "--note",
                "RRK's key was stolen; rotated", "--keep", keep,
            ])
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        }
        let resolvedAt = clock.now
        try await poll("every witness to store RRK #3", deadline: .seconds(60)) {
            try Self.witnesses.allSatisfy { try held(network, $0) == 3 }
        }
        print("equivocation: RRK #3 reached every witness \(resolvedAt.duration(to: clock.now)) after the last resolve")
        for code in Self.witnesses {
            let witness = try node(network, code)
            #expect(try witness.unresolvedConflicts().isEmpty, "\(code)")
            #expect(try witness.conflicts().count == 1, "\(code): the same pair seen again is not new")
            let audited = try witness.store.audit.entries(kinds: [.equivocationResolved])
            #expect(audited.count == 1, "\(code)")
            #expect(audited.first?[.peer] == "RRK")
            #expect(try studies(network, at: code).isSuperset(of: [s1, s4]))
        }
        #expect(
            try node(network, "RKB").store.audit.entries(kinds: [.equivocationResolved]).first?[.actorKind] == "person")
        #expect(
            try node(network, "RL4").store.audit.entries(kinds: [.equivocationResolved]).first?.actor
                == LocalNode.localOperatorName)
        // RQ3 kept the other record: whichever #2 it held, it now holds the one it did not.
        let rq3Conflict = try #require(try node(network, "RQ3").conflicts().first?.records)
        #expect(try node(network, "RQ3").store.index.record(origin: TrustID("RRK"), sequence: 2) == rq3Conflict.other)
        let after = try await TestNetwork.request(.GET, network.url("RKB") + "/operator", headers: olu.headers)
        #expect(!after.body.contains("id=\"equivocation-alarm\""))
        #expect(after.body.contains("id=\"resolved-equivocations\""))
    }
}

extension Array {
    fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
