import ArgumentParser
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore

struct NetworkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network",
        abstract: "Create a runnable network of nodes on this machine from a topology.",
        subcommands: [Create.self]
    )

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create one node per trust with fresh keys, and the topology they share.",
            discussion: """
                Reads a topology template (e.g. Topology/west-midlands.json), creates OUT/<ODS>/ for \
                each trust (keys 0600, empty store), OUT/topology.json with every trust's public \
                keys filled in, and OUT/policy.json, the network policy every node loads (care \
                relationship caps per kind, clock skew, the replay's daily limit per person), with \
                the defaults. Start a node with:
                  trustmesh node run --data OUT/RRK --topology OUT/topology.json
                """
        )

        @Option(help: ArgumentHelp("The topology template.", valueName: "FILE"))
        var topology: String

        @Option(help: ArgumentHelp("Folder for the network (created).", valueName: "OUT"))
        var out: String

        @Option(help: ArgumentHelp("Only these trusts, comma-separated ODS codes.", valueName: "ODS,..."))
        var trusts: String?

        @Option(help: ArgumentHelp("Listen on 127.0.0.1 from this port upwards instead of the template's addresses."))
        var basePort: Int?

        func run() throws {
            let template = try LocalNetwork.read(topology)
            let only = try trusts.map { list in
                try list.split(separator: ",").map { code in
                    do { return try TrustID(String(code)) } catch { throw UserError("--trusts: \(error)") }
                }
            }
            let created = try LocalNetwork.create(template: template, directory: out, only: only, basePort: basePort)
            print("Created \(created.trusts.count) nodes of '\(created.name)' in \(out):")
            for trust in created.trusts {
                print("  \(Output.column(trust.ods.code, 5)) \(trust.address)  \(trust.name)")
            }
            print("Topology with public keys: \(out)/topology.json")
            print("Network policy (defaults; every node and the replay load it): \(out)/policy.json")
        }
    }
}
