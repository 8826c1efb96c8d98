import Testing
import TrustMeshCrypto
import TrustMeshGossip
import TrustMeshModel

@Suite struct RecordVerificationTests {
    @Test func forgedRecordIsNeverStoredAnywhere() async throws {
        let network = try GossipSimulation(nodeCount: 24, neighbours: 4...6, seed: 24)
        let victim = network.ids[0]
        let relay = network.ids[5]
        let target = network.ids[9]
        // In the victim's name, at its next sequence, but signed by someone else's key.
        let forged = IndexRecord.Draft(
            origin: victim, sequence: 1, kind: .optOut, nhsNumber: Fixtures.patient,
            issuedAt: "2026-03-14T09:26:53Z"
        ).signed(by: Fixtures.key(0x66))

        // A compromised relay adds it to every message it sends; and a peer pushes it straight in.
        network.transport.interceptRecords(sentBy: relay) { $0 + [forged] }
        let pusher = try #require(network.neighbours[target]?.first)
        let response = try await network.node(target).handle(
            GossipRequest(from: pusher, digest: [:], records: [forged]))
        #expect(response.records.isEmpty)
        #expect(await network.node(target).rejectedRecords == 1)
        await network.tick(8)

        #expect(await network.heldRecords().allSatisfy { $0.isEmpty })
        #expect(await network.rejectedRecords() > 1)

        // The victim's real first record still spreads, and the forgery never displaces it.
        let genuine = try await network.publish(at: victim)
        _ = try #require(try await network.runUntilConverged(maxRounds: 30))
        for held in await network.heldRecords() {
            #expect(held == [genuine])
        }
        for node in network.nodes {
            #expect(try await node.indexView().optOutRecords(for: Fixtures.patient).isEmpty)
        }
    }

    @Test(arguments: ["nhsNumber", "sizeBytes", "manifestHash"])
    func recordAlteredByARelayIsDetectedByTheReceiver(field: String) async throws {
        let network = try GossipSimulation(nodeCount: 16, neighbours: 3...5, seed: 16)
        let relay = network.ids[3]
        let origin = try #require(network.neighbours[relay]?.first)
        let record = try await network.publish(at: origin)
        // Only the relay gets the record, then the origin goes away: the relay is the only source.
        _ = try await network.node(relay).handle(GossipRequest(from: origin, digest: [:], records: [record]))
        network.transport.setDown(origin, true)
        network.transport.interceptRecords(sentBy: relay) { records in
            records.map { record in
                var draft = record.draft
                switch field {
                case "nhsNumber": draft.nhsNumber = Fixtures.otherPatient
                case "sizeBytes": draft.sizeBytes += 1
                default: draft.manifestHash = nil
                }
                return IndexRecord(draft: draft, signature: record.signature)
            }
        }

        await network.tick(6)

        let held = await network.heldRecords()
        for (index, id) in network.ids.enumerated() where id != origin && id != relay {
            #expect(held[index].isEmpty, "\(id) stored an altered record")
        }
        var rejectedByNeighbours = 0
        for neighbour in network.neighbours[relay] ?? [] {
            rejectedByNeighbours += await network.node(neighbour).rejectedRecords
        }
        #expect(rejectedByNeighbours > 0)

        // An honest relay again: the genuine record reaches everyone.
        network.transport.interceptRecords(sentBy: relay, nil)
        network.transport.setDown(origin, false)
        _ = try #require(try await network.runUntilConverged(maxRounds: 30))
        #expect(await network.heldRecords().allSatisfy { $0 == [record] })
    }

    @Test func badRecordsAreDroppedAndTheRestOfTheBatchApplies() async throws {
        let log = InMemoryIndexLog()
        let transport = InMemoryGossipTransport()
        let rrkKey = Fixtures.key(1)
        let rq3Key = Fixtures.key(2)
        let node = GossipNode(
            id: Fixtures.rrk, peers: [Fixtures.rq3],
            keys: [Fixtures.rrk: rrkKey.verifyingKey, Fixtures.rq3: rq3Key.verifyingKey], log: log,
            transport: transport, random: SplitMix64(seed: 1))
        let unknownOrigin = Fixtures.record(origin: Fixtures.rr8, sequence: 1, key: Fixtures.key(3))
        let forged = Fixtures.record(origin: Fixtures.rq3, sequence: 1, key: Fixtures.key(3))
        let first = Fixtures.record(origin: Fixtures.rq3, sequence: 1, key: rq3Key)
        let second = Fixtures.record(origin: Fixtures.rq3, sequence: 2, studyUID: "1.2.3.5", key: rq3Key)

        let response = try await node.handle(
            GossipRequest(
                from: Fixtures.rq3, digest: [Fixtures.rq3: 2], records: [second, unknownOrigin, forged, first]))

        #expect(await node.rejectedRecords == 2)
        #expect(await log.allRecords() == [first, second])
        #expect(response.digest == [Fixtures.rq3: 2])
        #expect(response.records.isEmpty)
    }

    @Test func requestFromATrustThatIsNotAPeerIsRefused() async throws {
        let log = InMemoryIndexLog()
        let rq3Key = Fixtures.key(2)
        let rr8Key = Fixtures.key(3)
        let node = GossipNode(
            id: Fixtures.rrk, peers: [Fixtures.rq3],
            // RR8 is pinned (a member of the network) but not this node's neighbour.
            keys: [Fixtures.rq3: rq3Key.verifyingKey, Fixtures.rr8: rr8Key.verifyingKey], log: log,
            transport: InMemoryGossipTransport(), random: SplitMix64(seed: 1))
        let record = Fixtures.record(origin: Fixtures.rr8, sequence: 1, key: rr8Key)
        let stranger = try TrustID("RXX")

        for from in [Fixtures.rr8, stranger] {
            await #expect(throws: GossipError.unknownPeer(from)) {
                try await node.handle(GossipRequest(from: from, digest: [:], records: [record]))
            }
        }
        #expect(await log.allRecords().isEmpty)
    }

    @Test func publishAcceptsOnlyTheNodesOwnNextRecord() async throws {
        let key = Fixtures.key(1)
        let node = GossipNode(
            id: Fixtures.rrk, peers: [], keys: [Fixtures.rrk: key.verifyingKey], log: InMemoryIndexLog(),
            transport: InMemoryGossipTransport(), random: SplitMix64(seed: 1))
        #expect(try await node.nextSequence() == 1)
        await #expect(throws: GossipError.sequence(expected: 1, actual: 2)) {
            try await node.publish(Fixtures.record(origin: Fixtures.rrk, sequence: 2, key: key))
        }
        await #expect(throws: GossipError.notOwnRecord(origin: Fixtures.rq3, node: Fixtures.rrk)) {
            try await node.publish(Fixtures.record(origin: Fixtures.rq3, sequence: 1, key: key))
        }
        await #expect(throws: CryptoError.badSignature) {
            try await node.publish(Fixtures.record(origin: Fixtures.rrk, sequence: 1, key: Fixtures.key(9)))
        }
        try await node.publish(Fixtures.record(origin: Fixtures.rrk, sequence: 1, key: key))
        #expect(try await node.nextSequence() == 2)
    }
}
