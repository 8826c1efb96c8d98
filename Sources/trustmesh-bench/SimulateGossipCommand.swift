import ArgumentParser
import Foundation
import TrustMeshGossip

struct SimulateGossipCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate-gossip",
        abstract: "Simulate gossip among many trusts in one process (Scripts/bench gossip).",
        discussion: """
            Runs N nodes over an in-memory transport with the real gossip code, publishes records at \
            random nodes and reports rounds until every node holds each record, bytes per record per \
            node, and time per round. Prints one Markdown table row.
            """
    )

    @Option(help: "Simulated trusts.")
    var nodes: Int = 150

    @Option(help: "Records published.")
    var records: Int = 20

    @Option(help: "Peers contacted per round.")
    var fanout: Int = 3

    @Option(help: "Seed.")
    var seed: UInt64 = 2026

    @Option(
        help: ArgumentHelp(
            "Records of every trust every node holds before measuring (0: empty logs).",
            discussion: "With a history every origin is in every digest, as in a network that has been running."))
    var history: Int = 1

    @Flag(help: "Also print the whole report on standard error.")
    var verbose = false

    func run() async throws {
        let report = try await GossipSimulation.run(
            .init(
                nodeCount: nodes, recordCount: records,
                settings: GossipSettings(fanout: fanout), seed: seed, history: history))
        if verbose { FileHandle.standardError.write(Data("\(report)\n".utf8)) }
        guard report.converged else { throw BenchError("did not converge: \(report)") }
        let perRound = report.wallTimePerRound.components
        let ms = Double(perRound.seconds) * 1e3 + Double(perRound.attoseconds) / 1e15
        print(
            "| \(nodes) | \(records) | \(report.medianRoundsToSpread) | \(report.maxRoundsToSpread) | "
                + "\(Int(report.bytesPerRecordPerNode.rounded())) | \(Int(report.recordBytes.rounded())) | "
                + String(format: "%.2f", report.bytesPerRecordPerNode / report.recordBytes) + "× | "
                + "\(Int(report.bytesPerNodePerRound.rounded())) | "
                + "\(report.warmUpBytes / max(1, nodes)) | " + String(format: "%.1f", ms) + " |")
    }
}
