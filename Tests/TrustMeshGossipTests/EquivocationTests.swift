import Foundation
import Testing
import TrustMeshCrypto
import TrustMeshGossip
import TrustMeshModel

/// An origin (or a thief with its key) that signs two records with one sequence and sends them to
/// different nodes is caught by every node that sees both, and its new records are held there
/// until an operator resolves it.
@Suite struct EquivocationTests {
    /// Two records of `origin` for `sequence`, same patient, different studies, both signed with the
    /// origin's real key.
    static func fork(_ network: GossipSimulation, origin: TrustID, sequence: UInt64) throws -> (
        IndexRecord, IndexRecord
    ) {
        let key = try #require(network.signingKeys[origin])
        func record(_ study: String) -> IndexRecord {
            IndexRecord.Draft(
                origin: origin, sequence: sequence, kind: .study, nhsNumber: Fixtures.patient, studyUID: study,
                modalities: ["CT"], instanceCount: 1, sizeBytes: 512, issuedAt: "2026-03-14T09:26:53Z"
            ).signed(by: key)
        }
        return (record("2.25.1.\(sequence).1"), record("2.25.1.\(sequence).2"))
    }

    /// Hands `record` to `node` as if `origin` pushed it.
    static func deliver(_ record: IndexRecord, to node: TrustID, from origin: TrustID, in network: GossipSimulation)
        async throws
    {
        _ = try await network.node(node).handle(GossipRequest(from: origin, digest: [:], records: [record]))
    }

    static func unresolved(_ network: GossipSimulation, _ id: TrustID) async -> [IndexConflict] {
        await network.log(id).unresolvedConflicts()
    }

    @Test func everyNodeThatSeesBothRecordsHoldsTheEvidenceAndHoldsTheOrigin() async throws {
        let network = try GossipSimulation(nodeCount: 4, neighbours: 3...3, seed: 4)
        let (a, b, c, d) = (network.ids[0], network.ids[1], network.ids[2], network.ids[3])
        let first = try await network.publish(at: a)
        _ = try #require(try await network.runUntilConverged(maxRounds: 10))

        // A is offline; a thief with A's key sends one #2 to B and another #2 to C.
        network.transport.setDown(a, true)
        let (x, y) = try Self.fork(network, origin: a, sequence: 2)
        try await Self.deliver(x, to: b, from: a, in: network)
        try await Self.deliver(y, to: c, from: a, in: network)
        #expect(await Self.unresolved(network, b).isEmpty)

        var rounds = 0
        for node in [b, c, d] {
            while await Self.unresolved(network, node).isEmpty, rounds < 20 {
                await network.tick()
                rounds += 1
            }
        }
        print("equivocation: 3 nodes, a fork at 2 of them, all 3 hold the evidence after \(rounds) rounds")
        for node in [b, c, d] {
            let conflicts = await Self.unresolved(network, node)
            #expect(conflicts.count == 1, "\(node)")
            let conflict = try #require(conflicts.first)
            #expect(conflict.origin == a && conflict.sequence == 2)
            #expect(Set([conflict.held, conflict.other]) == Set([x, y]))
            // Each keeps the record it stored first: the fork is not "repaired" by gossip.
            #expect(await network.log(node).records(origin: a, after: 1, limit: 5) == [conflict.held])
        }
        #expect(await network.log(b).records(origin: a, after: 1, limit: 1) == [x])
        #expect(await network.log(c).records(origin: a, after: 1, limit: 1) == [y])

        // A comes back, learns one #2 (its own origin is never held) and publishes #3.
        network.transport.setDown(a, false)
        var waited = 0
        while try await network.node(a).digest()[a] != 2, waited < 20 {
            await network.tick()
            waited += 1
        }
        let third = try await network.publish(at: a)
        #expect(third.sequence == 3)
        network.transport.resetStatistics()
        await network.tick(6)
        for node in [b, c, d] {
            #expect(try await network.node(node).digest()[a] == 2, "\(node) stored a held origin's record")
        }
        // The witnesses say they hold A, so nobody sends them A's records: nothing was carried.
        #expect(network.transport.statistics.records == 0)

        // Resolved: A's records flow again, and the same pair seen again is not a new conflict.
        for node in [b, c, d] { await network.log(node).resolveConflicts(of: a) }
        let converged = try #require(try await network.runUntilConverged(maxRounds: 20))
        print("equivocation: after resolution, A's #3 reached every node in \(converged) rounds")
        for node in [b, c, d] {
            #expect(try await network.node(node).digest()[a] == 3)
            #expect(await Self.unresolved(network, node).isEmpty)
            #expect(await network.log(node).allConflicts().count == 1)
        }
        #expect(await network.log(d).records(origin: a, after: 0, limit: 1) == [first])
        #expect(await network.rejectedRecords() == 0)
    }

    @Test func inOneHundredFiftyNodesTheEvidenceReachesEveryNodeWithinAFewRounds() async throws {
        let network = try GossipSimulation(nodeCount: 150, seed: 150)
        let origin = network.ids[0]
        try await network.publish(at: origin)
        _ = try #require(try await network.runUntilConverged(maxRounds: 30))
        network.transport.setDown(origin, true)
        let (x, y) = try Self.fork(network, origin: origin, sequence: 2)
        // Through a neighbour of each (any member may relay a record; the origin's key is what counts).
        for (record, target) in [(x, network.ids[40]), (y, network.ids[110])] {
            let relay = try #require(network.neighbours[target]?.first)
            try await Self.deliver(record, to: target, from: relay, in: network)
        }
        network.transport.resetStatistics()
        var rounds = 0
        var aware = 0
        while rounds < 40 {
            await network.tick()
            rounds += 1
            aware = 0
            for id in network.ids.dropFirst() where await !Self.unresolved(network, id).isEmpty { aware += 1 }
            if aware == 149 { break }
        }
        let statistics = network.transport.statistics
        print(
            "equivocation: 150 nodes, one #2 at each of 2 nodes: every other node holds the evidence after "
                + "\(rounds) rounds (\(statistics.records) records carried, \(statistics.bytes) bytes)")
        #expect(aware == 149)
        #expect(rounds <= 20)
        // Every node stored one side, and none stored more of the origin.
        #expect(try await network.digests().dropFirst().allSatisfy { $0[origin] == 2 })
    }

    @Test func aForkBelowTheHeadIsFoundAndTheRecordsAfterItAreHeld() async throws {
        let key = Fixtures.key(1)
        let origin = Fixtures.rrk
        let keys = [
            origin: key.verifyingKey, Fixtures.rq3: Fixtures.key(2).verifyingKey,
            Fixtures.rr8: Fixtures.key(3).verifyingKey,
        ]
        let transport = InMemoryGossipTransport()
        let (bLog, cLog) = (InMemoryIndexLog(), InMemoryIndexLog())
        let b = GossipNode(id: Fixtures.rq3, peers: [Fixtures.rr8], keys: keys, log: bLog, transport: transport)
        let c = GossipNode(id: Fixtures.rr8, peers: [Fixtures.rq3], keys: keys, log: cLog, transport: transport)
        transport.register(b)
        transport.register(c)
        let one = Fixtures.record(origin: origin, sequence: 1, studyUID: "1.1", key: key)
        let x = Fixtures.record(origin: origin, sequence: 2, studyUID: "2.x", key: key)
        let y = Fixtures.record(origin: origin, sequence: 2, studyUID: "2.y", key: key)
        let three = Fixtures.record(origin: origin, sequence: 3, studyUID: "3.1", key: key)
        await bLog.append([one, x, three])
        await cLog.append([one, y])

        // C's head (#2, Y) is below B's (#3): B reads from C's head, sees that its #2 differs, and sends
        // it before #3; C finds the conflict, holds #3 back and pushes Y, so B finds it too.
        await c.runRound()
        #expect(await cLog.unresolvedConflicts() == [IndexConflict(held: y, other: x)])
        #expect(await bLog.unresolvedConflicts() == [IndexConflict(held: x, other: y)])
        #expect(await cLog.digest()[origin] == 2)
        // X then #3 (which C holds back), Y pushed back, and X once more in the answer to the push
        // (a node keeps nothing between the two messages of an exchange).
        #expect(await c.heldRecords == 1)
        #expect(transport.statistics.records == 4)
        #expect(await c.conflictsFound == 1)
        #expect(await b.conflictsFound == 1)

        // More rounds carry no more records, and find nothing new.
        transport.resetStatistics()
        await c.runRound()
        await b.runRound()
        #expect(await cLog.digest()[origin] == 2)
        #expect(await bLog.allConflicts().count == 1)
        #expect(await cLog.allConflicts().count == 1)
    }

    @Test func duplicatesAndForgeriesAreNotEvidence() async throws {
        let network = try GossipSimulation(nodeCount: 3, neighbours: 2...2, seed: 3)
        let (a, b) = (network.ids[0], network.ids[1])
        let record = try await network.publish(at: a)
        _ = try #require(try await network.runUntilConverged(maxRounds: 10))
        // The same record again, and the same fields with another valid-looking signature by a
        // stranger's key: neither is an equivocation.
        try await Self.deliver(record, to: b, from: a, in: network)
        let forged = record.draft.signed(by: Fixtures.key(0x66))
        var altered = record.draft
        altered.instanceCount += 1
        let forgedOther = altered.signed(by: Fixtures.key(0x66))
        try await Self.deliver(forged, to: b, from: a, in: network)
        try await Self.deliver(forgedOther, to: b, from: a, in: network)
        #expect(await network.log(b).allConflicts().isEmpty)
        #expect(await network.node(b).rejectedRecords == 1)
        #expect(await network.node(b).conflictsFound == 0)
    }

    @Test func aNodeThatFindsItsOwnKeyForgedWarnsItsPeersButNeverHoldsItself() async throws {
        let network = try GossipSimulation(nodeCount: 3, neighbours: 2...2, seed: 5)
        let (a, b, c) = (network.ids[0], network.ids[1], network.ids[2])
        let genuine = try await network.publish(at: a)
        _ = try #require(try await network.runUntilConverged(maxRounds: 10))
        // Someone with A's key signs another #1 and pushes it at A itself.
        var draft = genuine.draft
        draft.studyUID = "2.25.666"
        let stolen = draft.signed(by: try #require(network.signingKeys[a]))
        try await Self.deliver(stolen, to: a, from: b, in: network)
        #expect(await Self.unresolved(network, a) == [IndexConflict(held: genuine, other: stolen)])
        // A goes on publishing; the evidence it passes on makes its peers hold A's new records.
        try await network.publish(at: a)
        await network.tick(4)
        #expect(try await network.node(a).digest()[a] == 2)
        for node in [b, c] {
            #expect(await Self.unresolved(network, node) == [IndexConflict(held: genuine, other: stolen)])
            #expect(try await network.node(node).digest()[a] == 1)
        }
        for node in [b, c] { await network.log(node).resolveConflicts(of: a) }
        _ = try #require(try await network.runUntilConverged(maxRounds: 10))
        #expect(try await network.node(b).digest()[a] == 2)
    }

    @Test func aThiefCannotFillTheLogWithVariants() async throws {
        let network = try GossipSimulation(nodeCount: 2, neighbours: 1...1, seed: 2)
        let (a, b) = (network.ids[0], network.ids[1])
        let genuine = try await network.publish(at: a)
        _ = try #require(try await network.runUntilConverged(maxRounds: 10))
        let key = try #require(network.signingKeys[a])
        let variants = (1...40).map { index in
            var draft = genuine.draft
            draft.instanceCount = 100 + index
            return draft.signed(by: key)
        }
        _ = try await network.node(b).handle(GossipRequest(from: a, digest: [:], records: variants))
        #expect(await network.log(b).allConflicts().count == InMemoryIndexLog.unresolvedLimit)
        #expect(await network.node(b).conflictsFound == InMemoryIndexLog.unresolvedLimit)
    }

    @Test func digestEntriesCarryA16ByteFingerprintAt23BytesEach() throws {
        let key = Fixtures.key(1)
        var heads: [TrustID: IndexHead] = [:]
        for (index, code) in ["RRK", "RQ3", "RR8", "RKB", "RL4"].enumerated() {
            let origin = try TrustID(code)
            let record = Fixtures.record(origin: origin, sequence: UInt64(index + 1), key: key)
            heads[origin] = IndexHead(sequence: record.sequence, fingerprint: RecordFingerprint(record))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let with = try encoder.encode(GossipRequest(from: Fixtures.rrk, heads: heads))
        let without = try encoder.encode(GossipRequest(from: Fixtures.rrk, digest: heads.mapValues(\.sequence)))
        let perEntry = (with.count - without.count) / heads.count
        print("gossip digest: +\(perEntry) bytes per entry with fingerprints (\(without.count) → \(with.count) for 5)")
        #expect(perEntry == 23)
        let decoder = JSONDecoder()
        decoder.userInfo[GossipRequest.senderKey] = Fixtures.rrk
        let decoded = try decoder.decode(GossipRequest.self, from: with)
        #expect(decoded.fingerprints == heads.mapValues(\.fingerprint))
        // An entry without a hash (a node that predates fingerprints) decodes; a bad one is refused.
        let old = try JSONDecoder().decode(GossipResponse.self, from: without)
        #expect(old.fingerprints.isEmpty && old.digest.count == 5)
        let bad = #"{"digest":["RRK:1:AAAA"]}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(GossipResponse.self, from: Data(bad.utf8)) }
    }
}
