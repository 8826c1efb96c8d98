import Testing
import TrustMeshCrypto
import TrustMeshGossip
import TrustMeshModel

@Suite struct ConvergenceTests {
    /// 150 trusts, each gossiping with 8 to 12 pinned neighbours (the topology DESIGN.md describes;
    /// a full mesh would converge faster but is not how trusts peer).
    @Test func oneHundredFiftyNodesConvergeWithinThirtyRoundsAndListEveryRecord() async throws {
        let network = try GossipSimulation(nodeCount: 150, neighbours: 8...12, seed: 150)
        var random = SplitMix64(seed: 20)
        var published: [IndexRecord] = []
        for _ in 0..<20 {
            let origin = network.ids[Int(random.next(upperBound: UInt64(network.ids.count)))]
            published.append(try await network.publish(at: origin))
        }

        let rounds = try #require(try await network.runUntilConverged(maxRounds: 30))

        let statistics = network.transport.statistics
        let perRecordPerNode = statistics.bytes / (published.count * network.ids.count)
        print(
            "gossip convergence: 150 nodes, 20 records: all digests equal after \(rounds) rounds; "
                + "\(perRecordPerNode) bytes per record per node (\(statistics.bytes) bytes, "
                + "\(statistics.messages) messages, \(statistics.records) records carried)")
        #expect(rounds <= 30)
        #expect(try await network.digests().allSatisfy { $0.values.reduce(0, +) == 20 })
        for node in network.nodes {
            let view = try await node.indexView()
            #expect(Set(view.studies) == Set(published))
        }
        #expect(await network.rejectedRecords() == 0)
    }

    @Test func inSyncNodesExchangeOnlyDigests() async throws {
        let network = try GossipSimulation(nodeCount: 40, seed: 40)
        for id in network.ids.prefix(5) {
            try await network.publish(at: id)
        }
        _ = try #require(try await network.runUntilConverged(maxRounds: 30))

        network.transport.resetStatistics()
        await network.tick()

        let statistics = network.transport.statistics
        #expect(statistics.records == 0)
        // One request and one response per peer, no push message.
        #expect(statistics.messages == network.ids.count * 3 * 2)
        print(
            "gossip idle round: 40 nodes in sync, 5 origins: \(statistics.bytes / statistics.messages) bytes per message"
        )
    }

    @Test func neighbourGraphIsConnectedWithEightToTwelveNeighbours() throws {
        var random = SplitMix64(seed: 1)
        for count in [50, 150, 500] {
            let graph = GossipSimulation.neighbourGraph(count: count, degree: 8...12, random: &random)
            #expect(graph.allSatisfy { $0.count <= 12 })
            #expect(graph.filter { $0.count < 8 }.count <= 2)
            for (node, neighbours) in graph.enumerated() {
                #expect(neighbours.allSatisfy { $0 != node && graph[$0].contains(node) })
            }
            var reached: Set<Int> = [0]
            var frontier = [0]
            while let node = frontier.popLast() {
                for next in graph[node] where reached.insert(next).inserted {
                    frontier.append(next)
                }
            }
            #expect(reached.count == count)
        }
    }

    @Test func simulationReportsSpreadAndCostDeterministically() async throws {
        let configuration = GossipSimulation.Configuration(nodeCount: 50, recordCount: 10, seed: 9)
        let report = try await GossipSimulation.run(configuration)
        print("gossip simulation: \(report)")
        #expect(report.converged)
        #expect(report.roundsToSpread.count == 10)
        #expect(report.maxRoundsToSpread <= 30)
        #expect(report.rejectedRecords == 0)
        let again = try await GossipSimulation.run(configuration)
        #expect(again.roundsToSpread == report.roundsToSpread)
        #expect(again.bytes == report.bytes)
    }
}
