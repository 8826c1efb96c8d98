import ArgumentParser
import Foundation
import TrustMeshAudit
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshNodeCore
import TrustMeshStore

extension AuditCommand {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a node's audit log and the peer checkpoints it holds as JSON Lines.")

        @Option(help: ArgumentHelp("The node's data folder.", valueName: "DIR"))
        var data: String

        @Option(help: ArgumentHelp("The file to write; it must not exist.", valueName: "FILE"))
        var out: String

        func run() throws {
            let node = try LocalNode(directory: data)
            let trust = node.configuration.trust
            let entries = try node.store.audit.all()
            let held = try node.store.audit.checkpoints().map { HeldCheckpoint(heldBy: trust, checkpoint: $0) }
            let bytes = try AuditExport(entries: entries, checkpoints: held).jsonLines()
            do {
                try Data(bytes).write(to: URL(fileURLWithPath: out), options: [.withoutOverwriting])
            } catch {
                throw UserError("cannot write \(out) (it must not exist already): \(error.localizedDescription)")
            }
            var summary = "Exported \(entries.count) audit entr\(entries.count == 1 ? "y" : "ies") of \(trust)"
            if let head = entries.last { summary += " (#1–#\(head.sequence), head \(head.hash.hex.prefix(16))…)" }
            print(summary + " and \(held.count) peer checkpoint\(held.count == 1 ? "" : "s") to \(out)")
            if !entries.isEmpty {
                do {
                    _ = try AuditChain.verify(entries, trust: trust, key: node.configuration.signingPublicKey)
                } catch {
                    Output.error("the exported log does not verify with this node's key: \(error)")
                    throw ExitCode(1)
                }
            }
        }
    }
}
