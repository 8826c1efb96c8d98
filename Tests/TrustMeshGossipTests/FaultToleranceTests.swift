import Testing
import TrustMeshCrypto
import TrustMeshGossip
import TrustMeshModel

@Suite struct FaultToleranceTests {
    @Test func nodeThatWasDownCatchesUpWhenItComesBack() async throws {
        let network = try GossipSimulation(nodeCount: 30, seed: 30)
        let sleeper = network.ids[7]
        network.transport.setDown(sleeper, true)
        var published: [IndexRecord] = []
        var roundsDown = 0
        for id in network.ids.prefix(6) where id != sleeper {
            published.append(try await network.publish(at: id))
            await network.tick(2)
            roundsDown += 2
        }
        await network.tick(4)
        roundsDown += 4
        #expect(try await network.node(sleeper).digest().isEmpty)

        network.transport.setDown(sleeper, false)
        let rounds = try #require(try await network.runUntilConverged(maxRounds: 20))
        print("gossip catch-up: node down for \(roundsDown) rounds caught up in \(rounds) rounds")
        #expect(Set(try await network.node(sleeper).indexView().studies) == Set(published))
    }

    @Test func longBacklogArrivesInBatchesOfAtMostBatchSize() async throws {
        let network = try GossipSimulation(nodeCount: 12, settings: GossipSettings(batchSize: 7), seed: 12)
        let late = network.ids[11]
        network.transport.setDown(late, true)
        for index in 0..<100 {
            try await network.publish(at: network.ids[index % 3])
        }
        await network.tick(12)
        network.transport.setDown(late, false)
        network.transport.resetStatistics()

        let rounds = try #require(try await network.runUntilConverged(maxRounds: 30))

        #expect(network.transport.statistics.largestBatch <= 7)
        #expect(rounds >= 2)
        #expect(try await network.node(late).digest().values.reduce(0, +) == 100)
    }

    @Test func partitionedHalvesConvergeAfterHeal() async throws {
        let network = try GossipSimulation(nodeCount: 40, seed: 40)
        let west = Array(network.ids.prefix(20))
        let east = Array(network.ids.dropFirst(20))
        network.transport.partition([west, east])
        var westRecords: [IndexRecord] = []
        var eastRecords: [IndexRecord] = []
        for index in 0..<3 {
            westRecords.append(try await network.publish(at: west[index * 5]))
            eastRecords.append(try await network.publish(at: east[index * 5]))
        }
        await network.tick(10)

        for (index, held) in await network.heldRecords().enumerated() {
            let crossed = index < 20 ? eastRecords : westRecords
            #expect(Set(held).isDisjoint(with: crossed), "a record crossed the partition")
        }
        #expect(network.transport.statistics.refused > 0)

        network.transport.heal()
        let rounds = try #require(try await network.runUntilConverged(maxRounds: 30))
        print("gossip partition: halves of 20 converged \(rounds) rounds after heal")
        for node in network.nodes {
            #expect(Set(try await node.indexView().studies) == Set(westRecords + eastRecords))
        }
    }
}
