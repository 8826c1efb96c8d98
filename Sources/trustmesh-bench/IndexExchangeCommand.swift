import ArgumentParser
import Foundation
import TrustMeshCrypto
import TrustMeshGossip
import TrustMeshModel
import TrustMeshNodeCore
import TrustMeshStore

/// `trustmesh-bench index-exchange`: the CPU of one gossip exchange between two nodes that hold the
/// same index, over their real SQLite catalogues.
///
/// Two real ``GossipNode``s, each over its node folder's own `SQLiteIndexLog` (the adapter
/// `node run` uses), talk through an ``InMemoryGossipTransport`` (every message encoded to JSON and
/// decoded, as on the wire; no HTTP, no envelope signature). One round of the first node with fanout
/// 1 is one exchange: its state, the peer's ``GossipNode/handle(_:)`` (the peer's state and the
/// records it would send), and the comparison of digests. The process's CPU time over the rounds,
/// divided by the rounds, is the CPU of one exchange, both ends together. Run it while no node runs
/// on the folders.
struct IndexExchangeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index-exchange",
        abstract: "CPU of one in-sync gossip exchange between two node folders' real catalogues.",
        discussion: "Prints exchange_cpu_ms, handle_cpu_ms, exchange_bytes and failed_exchanges."
    )

    @Option(help: "The network's topology.json (the pinned keys).")
    var topology: String

    @Option(help: "The node folder that starts each exchange.")
    var from: String

    @Option(help: "The node folder that answers.")
    var to: String

    @Option(help: "Exchanges measured (after 5 to warm up).")
    var exchanges = 200

    func run() async throws {
        let pinned = try LocalNetwork.read(topology)
        var keys: [TrustID: VerifyingKey] = [:]
        for trust in pinned.trusts { if let key = trust.signingKey { keys[trust.ods] = key } }
        let first = try LocalNode(directory: from)
        let second = try LocalNode(directory: to)
        let transport = InMemoryGossipTransport()
        let settings = GossipSettings(fanout: 1)
        let a = GossipNode(
            id: first.configuration.trust, peers: [second.configuration.trust], keys: keys,
            log: SQLiteIndexLog(table: first.store.index, node: first), transport: transport, settings: settings)
        let b = GossipNode(
            id: second.configuration.trust, peers: [first.configuration.trust], keys: keys,
            log: SQLiteIndexLog(table: second.store.index, node: second), transport: transport, settings: settings)
        transport.register(a)
        transport.register(b)
        guard try await a.digest() == (try await b.digest()) else {
            throw BenchError("the two folders do not hold the same index: an exchange would move records")
        }
        for _ in 0..<5 { await a.runRound() }
        transport.resetStatistics()
        let count = max(1, exchanges)
        var start = Self.cpuSeconds()
        for _ in 0..<count { await a.runRound() }
        let exchangeCPU = (Self.cpuSeconds() - start) / Double(count)
        let statistics = transport.statistics
        // The answering side alone: the request an in-sync peer sends, handled.
        let heads = try await SQLiteIndexLog(table: first.store.index, node: first).heads()
        let request = GossipRequest(from: first.configuration.trust, heads: heads, held: [])
        start = Self.cpuSeconds()
        for _ in 0..<count { _ = try await b.handle(request) }
        let handleCPU = (Self.cpuSeconds() - start) / Double(count)
        print("origins \(heads.count)")
        print("records \(heads.values.reduce(0) { $0 + Int($1.sequence) })")
        print("exchange_cpu_ms \(String(format: "%.3f", exchangeCPU * 1000))")
        print("handle_cpu_ms \(String(format: "%.3f", handleCPU * 1000))")
        print("exchange_bytes \(statistics.bytes / count)")
        print("failed_exchanges \(await a.failedExchanges)")
    }

    /// CPU time of the whole process so far (every thread, user and system), in seconds
    /// (clock_gettime(2), CLOCK_PROCESS_CPUTIME_ID).
    static func cpuSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
