import ArgumentParser
import TrustMeshNodeCore

@main
struct TrustMeshCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trustmesh",
        abstract: "A trust's node in a peer-to-peer network that shares imaging where care follows the patient.",
        discussion: """
            Start here:
              trustmesh init --data /var/lib/trustmesh --trust RRK --name "University Hospitals Birmingham"
              trustmesh ingest --data /var/lib/trustmesh /mnt/pacs-export
              trustmesh query --data /var/lib/trustmesh --nhs "943 476 5919"
              trustmesh export --data /var/lib/trustmesh --study 1.2.826.0.1.3680043.8.498.1 --out ./study

            Every command takes --help.
            """,
        subcommands: [
            InitCommand.self, IngestCommand.self, QueryCommand.self, ExportCommand.self, InspectCommand.self,
            StatusCommand.self, NetworkCommand.self, NodeCommand.self, OptOutCommand.self, CareCommand.self,
            FetchCommand.self, SynthesizeCommand.self, AuditCommand.self, GCCommand.self, LoginCommand.self,
            LogoutCommand.self, ConflictCommand.self, KeysCommand.self, MembershipCommand.self, JoinCommand.self,
            PushCommand.self,
        ]
    )

    /// Sets the umask before any command runs (folders 0700, files 0600), then runs the command as
    /// ArgumentParser's own `main` does.
    static func main() async {
        LocalNode.protectNewFiles()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
