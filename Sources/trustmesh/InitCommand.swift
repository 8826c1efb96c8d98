import ArgumentParser
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a node: its keys and an empty store.",
        discussion: """
            Creates DIR with the node's Ed25519 signing key and X25519 key (files readable by their \
            owner only), an empty catalogue and chunk store, and node.json with the public keys that \
            go into the network's topology. Refuses to touch a folder that already holds a node.
            """
    )

    @Option(help: ArgumentHelp("The node's data folder (created if missing).", valueName: "DIR"))
    var data: String

    @Option(help: ArgumentHelp("The trust's ODS code, e.g. RRK.", valueName: "ODS"))
    var trust: String

    @Option(help: ArgumentHelp("The trust's display name.", valueName: "NAME"))
    var name: String

    func run() throws {
        let id: TrustID
        do { id = try TrustID(trust) } catch { throw ValidationError("--trust: \(error)") }
        let node = try LocalNode.create(directory: data, trust: id, name: name)
        print("Created node \(node.configuration.trust) (\(node.configuration.name)) in \(data)")
        print("  signing key    \(node.configuration.signingPublicKey.base64)")
        print("  agreement key  \(node.configuration.agreementPublicKey.base64)")
    }
}
