import ArgumentParser

/// The measurements `Scripts/bench` runs, kept out of the shipped `trustmesh` command: an operator,
/// clinician or auditor has no use for them.
@main
struct TrustMeshBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trustmesh-bench",
        abstract: "Measurements for Scripts/bench; not part of the shipped trustmesh command.",
        discussion: """
            Scripts/bench builds this tool beside trustmesh and runs it (BENCH_TOOL overrides which):
              Scripts/bench gossip      runs simulate-gossip
              Scripts/bench audit       runs audit
              Scripts/bench audit-tree  runs audit-tree
              Scripts/bench transfer    runs measure-limit for its one-core reference
              Scripts/bench index       runs index-build, index-append, index-verify, index-exchange
            """,
        subcommands: [
            MeasureLimitCommand.self, SimulateGossipCommand.self, AuditBenchCommand.self, AuditTreeBenchCommand.self,
            NetworkGossipBenchCommand.self, IndexBuildCommand.self, IndexAppendCommand.self, IndexVerifyCommand.self,
            IndexExchangeCommand.self, IndexQueryCommand.self,
        ]
    )
}

/// A measurement that could not give a figure: printed as `Error: <message>`, exit 1.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
