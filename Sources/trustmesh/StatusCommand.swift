import ArgumentParser
import Foundation
import TrustMeshCrypto
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshStore

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the node's identity and what its store holds."
    )

    @Option(help: ArgumentHelp("The node's data folder.", valueName: "DIR"))
    var data: String

    @Flag(help: "Also list the unmatched studies (no valid NHS number).")
    var unmatched = false

    func run() throws {
        let node = try LocalNode(directory: data)
        let s = try node.store.statistics()
        let c = node.configuration
        print("Node \(c.trust) — \(c.name)")
        print("  signing key     \(c.signingPublicKey.base64)")
        print("  studies         \(s.studies) (\(s.unmatchedStudies) unmatched)")
        print("  instances       \(s.instances), \(Output.bytes(s.instanceBytes))")
        let ratio = s.storedBytes > 0 ? Double(s.instanceBytes) / Double(s.storedBytes) : 0
        print(
            "  on disk         \(Output.bytes(s.storedBytes)) in \(s.chunks) chunks (\(String(format: "%.2f", ratio))× smaller)"
        )
        let loose = node.looseModes()
        if loose.count > 0 {
            print(
                "warning: \(loose.count) folders or files in \(data) can be read by other users (e.g. "
                    + loose.examples.joined(separator: ", ")
                    + "): patient data must be the node's alone (folders 0700, files 0600). Fix: "
                    + node.fixModesCommand)
        }
        if unmatched {
            for study in try node.store.unmatchedStudies() {
                print(
                    "  unmatched: \(study.studyInstanceUID)  \(Output.date(study.studyDate))  \(study.description ?? "")"
                )
            }
        }
    }
}
