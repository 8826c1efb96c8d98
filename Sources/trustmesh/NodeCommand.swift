import ArgumentParser
import Foundation
import TrustMeshGossip
import TrustMeshModel
import TrustMeshNode

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run a node: serve peers and the local API, and gossip the index.",
        subcommands: [Run.self]
    )

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve the trust's address until SIGINT or SIGTERM.",
            discussion: """
                Listens on the address the topology gives this node's trust: the peer protocol
                (every request signed by a pinned peer and sealed to this node) and the local API
                (GET /api/v1/status, GET /api/v1/query?nhs=NUMBER). Every round it exchanges index
                digests with a few random peers and trades only the records one side lacks.
                Stops cleanly on Ctrl-C or SIGTERM; started again, it resumes from its database.
                """
        )

        @Option(help: ArgumentHelp("The node's data folder.", valueName: "DIR"))
        var data: String

        @Option(help: ArgumentHelp("The network's topology, with public keys.", valueName: "FILE"))
        var topology: String

        @Option(help: "Peers contacted each round.")
        var fanout: Int = 3

        @Option(help: "Milliseconds between gossip rounds.")
        var intervalMs: Int = 1000

        @Option(help: "Most index records sent in one message.")
        var batchSize: Int = 500

        @Option(help: "Compressed kilobytes asked for per chunk batch when fetching.")
        var fetchBatchKb: Int = 8192

        @Option(help: "Seconds between signed checkpoints of the audit log sent to peers (when it grew).")
        var checkpointSeconds: Int = 30

        func validate() throws {
            if fanout < 1 { throw ValidationError("--fanout must be at least 1") }
            if intervalMs < 10 { throw ValidationError("--interval-ms must be at least 10") }
            if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
            if fetchBatchKb < 1 { throw ValidationError("--fetch-batch-kb must be at least 1") }
            if checkpointSeconds < 1 { throw ValidationError("--checkpoint-seconds must be at least 1") }
        }

        func run() async throws {
            let node = try LocalNode(directory: data)
            let runtime = try NodeRuntime(
                node: node, topology: try LocalNetwork.read(topology),
                settings: GossipSettings(
                    fanout: fanout, batchSize: batchSize, roundInterval: .milliseconds(intervalMs)),
                fetchBatchBytes: fetchBatchKb * 1024, checkpointInterval: .seconds(checkpointSeconds))
            let trust = node.configuration.trust
            let host = try runtime.topology.trust(trust)?.hostAndPort().host ?? "127.0.0.1"
            try await runtime.run { port in
                FileHandle.standardOutput.write(Data("\(trust) listening on http://\(host):\(port)\n".utf8))
            }
        }
    }
}
