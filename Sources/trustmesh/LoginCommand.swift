import ArgumentParser
import Foundation
import TrustMeshNode

struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Sign in to a node, for the --node commands (query, care, fetch).",
        discussion: """
            Uses the node's identity provider (NHS CIS2 in production) with the device \
            authorization grant: the command prints a web address and a code; open it on any \
            device, sign in (smartcard or authenticator), enter the code. The access token is \
            kept, readable only by you, in \(NodeLogin.storePath) and refreshed when it \
            expires; `trustmesh logout --node URL` removes it. A script may instead set \
            TRUSTMESH_TOKEN.

              trustmesh login --node http://127.0.0.1:8407
            """)

    @Option(help: ArgumentHelp("The node's local address, e.g. http://127.0.0.1:8407.", valueName: "URL"))
    var node: String

    func run() async throws {
        let name = try await NodeLogin.login(node: node) { message in
            FileHandle.standardOutput.write(Data((message + "\n").utf8))
        }
        print("Signed in to \(node) as \(name).")
    }
}

struct LogoutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logout", abstract: "Forget the access token kept for a node by `trustmesh login`.")

    @Option(help: ArgumentHelp("The node's local address.", valueName: "URL"))
    var node: String

    func run() throws {
        print(try NodeLogin.logout(node: node) ? "Signed out of \(node)." : "No sign-in was kept for \(node).")
    }
}
