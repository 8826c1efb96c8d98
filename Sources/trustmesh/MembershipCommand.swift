import ArgumentParser
import Foundation
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshNodeCore

struct MembershipCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "membership",
        abstract: "Read, propose, sign and submit versions of the network's signed membership.",
        discussion: """
            The network's membership (its trusts, their root keys and addresses, the network \
            policy, and k: how many member roots must sign the next version) is one signed, \
            versioned document. Version N+1 is believed only when signed by k of version N's \
            members whose roots it keeps, and by its own k of its own members. It travels by \
            gossip; every node applies it without a restart.
              trustmesh membership export --data DIR --out network.json
              trustmesh membership propose --network network.json --remove RXX --out proposal.json
              trustmesh membership sign --root /media/root-RRK proposal.json     (each member in turn)
              trustmesh membership submit --data DIR proposal.json               (any member's node)
            A new trust joins with `trustmesh join`, which writes the proposal the members sign.
            """,
        subcommands: [Export.self, Show.self, Propose.self, Sign.self, Submit.self]
    )

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write every membership version, certificate and revocation a node holds (public; no secrets).")

        @Option(help: ArgumentHelp("The node's data folder.", valueName: "DIR"))
        var data: String

        @Option(help: ArgumentHelp("The network file to write.", valueName: "FILE"))
        var out: String

        func run() throws {
            let node = try LocalNode(directory: data)
            let state = try node.networkStatements()
            guard !state.memberships.isEmpty else {
                throw UserError("\(data) holds no membership document: has the node run with a network file?")
            }
            try LocalNode.writeNetworkState(state, to: out)
            let newest = try MembershipProposal.newest(in: state, file: out).membership
            print(
                "Wrote \(out): membership versions 1–\(newest.version) (\(newest.members.count) trusts), "
                    + "\(state.certificates.count) certificates, \(state.revocations.count) revocations.")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the newest membership version in a network or proposal file, and who signed it.")

        @Argument(help: ArgumentHelp("The network or proposal file.", valueName: "FILE"))
        var file: String

        func run() throws {
            let state = try LocalNode.readNetworkState(file)
            print(MembershipProposal.summary(of: try MembershipProposal.newest(in: state, file: file), in: state))
        }
    }

    struct Propose: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Draft the next membership version: a trust leaves or moves, a root is replaced, k changes.",
            discussion: """
                Reads the network file (membership export), drafts the version after its newest \
                with the changes given (a trust leaves or moves, a root is replaced, k or the network \
                policy changes), and writes a proposal file for the members' roots to sign. \
                Replacing a trust's root (lost or stolen) needs k of the OTHER trusts: the old root's \
                signature does not count.
                """)

        @Option(help: ArgumentHelp("The network file the proposal starts from.", valueName: "FILE"))
        var network: String

        @Option(help: ArgumentHelp("A trust that leaves.", valueName: "ODS"))
        var remove: [String] = []

        @Option(help: ArgumentHelp("A trust's new peer address.", valueName: "ODS=HOST:PORT"))
        var move: [String] = []

        @Option(help: ArgumentHelp("A trust's new root key (base64, from keys root-init).", valueName: "ODS=KEY"))
        var replaceRoot: [String] = []

        @Option(help: ArgumentHelp("How many member roots must sign the version after this one.", valueName: "K"))
        var threshold: Int?

        @Option(
            help: ArgumentHelp(
                "A new network policy (policy.json's form: care caps per kind, clock skew, daily limit), checked before it is proposed.",
                valueName: "FILE"))
        var policy: String?

        @Option(help: ArgumentHelp("The proposal file to write.", valueName: "FILE"))
        var out: String

        func run() throws {
            var changes: [MembershipProposal.Change] = []
            for code in remove { changes.append(.remove(try Self.trust(code, "--remove"))) }
            for pair in move {
                let (code, address) = try Self.split(pair, "--move")
                changes.append(.move(try Self.trust(code, "--move"), address: address))
            }
            for pair in replaceRoot {
                let (code, key) = try Self.split(pair, "--replace-root")
                let root: VerifyingKey
                do { root = try VerifyingKey(base64: key) } catch {
                    throw UserError("--replace-root: not a root key: \(error)")
                }
                changes.append(.replaceRoot(try Self.trust(code, "--replace-root"), root: root))
            }
            if let threshold { changes.append(.threshold(threshold)) }
            if let policy {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                let text = String(decoding: try encoder.encode(try LocalNetwork.readPolicy(policy)), as: UTF8.self)
                changes.append(.policy(text))
            }
            guard !changes.isEmpty else {
                throw UserError("nothing to change: give --remove, --move, --replace-root, --threshold or --policy")
            }
            let state = try LocalNode.readNetworkState(network)
            let draft = try MembershipProposal.draft(from: state, file: network, changes: changes)
            let proposal = SignedMembership(draft)
            try LocalNode.writeNetworkState(MembershipProposal.replacingNewest(in: state, with: proposal), to: out)
            print(MembershipProposal.summary(of: proposal, in: state))
            print("Wrote \(out): each member signs it with `trustmesh membership sign --root ROOTDIR \(out)`.")
        }

        static func trust(_ code: String, _ option: String) throws -> TrustID {
            do { return try TrustID(code) } catch { throw UserError("\(option): \(error)") }
        }

        static func split(_ pair: String, _ option: String) throws -> (String, String) {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw UserError("\(option) '\(pair)': expected ODS=VALUE")
            }
            return (String(pair[..<equals]), String(pair[pair.index(after: equals)...]))
        }
    }

    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign the newest membership version in a proposal file with a trust's root.",
            discussion: """
                Shows what is being signed (who joins, leaves, moves, whose root is replaced), then \
                adds the root's signature to the file in place. Run it on the machine that holds \
                the root, after reading the summary.
                """)

        @Option(help: ArgumentHelp("The trust's root folder (keys root-init).", valueName: "ROOTDIR"))
        var root: String

        @Argument(help: ArgumentHelp("The proposal file (signed in place).", valueName: "FILE"))
        var file: String

        func run() throws {
            let trustRoot = try TrustRoot(directory: root)
            let state = try LocalNode.readNetworkState(file)
            var proposal = try MembershipProposal.newest(in: state, file: file)
            let previous = state.memberships.first { $0.membership.version + 1 == proposal.membership.version }?
                .membership
            let member = previous?.member(trustRoot.trust) ?? proposal.membership.member(trustRoot.trust)
            guard let member,
                member.root == trustRoot.key.verifyingKey
                    || proposal.membership.member(trustRoot.trust)?.root == trustRoot.key.verifyingKey
            else {
                throw UserError("\(trustRoot.trust)'s root is not a member root of this version or the one before")
            }
            proposal.sign(as: trustRoot.trust, root: trustRoot.key)
            try LocalNode.writeNetworkState(MembershipProposal.replacingNewest(in: state, with: proposal), to: file)
            print(MembershipProposal.summary(of: proposal, in: state))
            print("Signed by \(trustRoot.trust)'s root; \(file) updated.")
        }
    }

    struct Submit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give a signed proposal (or any network file) to a member's node, for gossip to carry.",
            discussion: """
                Stores every statement of the file in the node's folder; the running node checks \
                each (a membership version must be signed by the threshold) on its next network \
                round, applies what verifies, and gossips it to every node.
                """)

        @Option(help: ArgumentHelp("A member node's data folder.", valueName: "DIR"))
        var data: String

        @Argument(help: ArgumentHelp("The proposal or network file.", valueName: "FILE"))
        var file: String

        func run() throws {
            let node = try LocalNode(directory: data)
            let state = try LocalNode.readNetworkState(file)
            let added = try node.addNetworkStatements(state)
            print(
                "\(added) new statement(s) stored at \(node.configuration.trust); the node applies what verifies on its next network round."
            )
        }
    }
}

struct JoinCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join",
        abstract:
            "Ask to join a network: make this node's keys, certify them, draft the membership version that adds the trust.",
        discussion: """
            Run on the new trust's node machine, with its root folder (keys root-init) attached. \
            Creates the node's folder if it does not exist (keys made here, never leaving this \
            machine), certifies the node's keys with the root, and writes a proposal: the network \
            file it was given (membership export from any member) plus the next version with this \
            trust added, signed by this trust's root. The members sign it (membership sign) and \
            submit it to a member node (membership submit); then start this node with \
              trustmesh node run --data DIR --network PROPOSAL
            """)

    @Option(help: ArgumentHelp("This node's data folder (created if missing).", valueName: "DIR"))
    var data: String

    @Option(help: ArgumentHelp("This trust's root folder (keys root-init).", valueName: "ROOTDIR"))
    var root: String

    @Option(help: ArgumentHelp("The network file from a member (membership export).", valueName: "FILE"))
    var network: String

    @Option(help: ArgumentHelp("The trust's name.", valueName: "NAME"))
    var name: String

    @Option(help: ArgumentHelp("Where this node's peer listener will listen.", valueName: "HOST:PORT"))
    var address: String

    @Option(help: ArgumentHelp("The proposal file to write.", valueName: "FILE"))
    var out: String

    func run() throws {
        LocalNode.protectNewFiles()
        var trustRoot = try TrustRoot(directory: root)
        let node =
            FileManager.default.fileExists(atPath: data + "/node.json")
            ? try LocalNode(directory: data) : try LocalNode.create(directory: data, trust: trustRoot.trust, name: name)
        guard node.configuration.trust == trustRoot.trust else {
            throw UserError("the node at \(data) is \(node.configuration.trust)'s; the root is \(trustRoot.trust)'s")
        }
        let state = try LocalNode.readNetworkState(network)
        let member = Membership.Member(
            ods: trustRoot.trust, name: name, address: address, root: trustRoot.key.verifyingKey)
        let draft = try MembershipProposal.draft(from: state, file: network, changes: [.add(member)])
        let certificate = try trustRoot.certify(
            signing: node.configuration.signingPublicKey, agreement: node.configuration.agreementPublicKey)
        var proposal = SignedMembership(draft)
        proposal.sign(as: trustRoot.trust, root: trustRoot.key)
        var next = MembershipProposal.replacingNewest(in: state, with: proposal)
        next.certificates.append(certificate)
        try LocalNode.writeNetworkState(next, to: out)
        try node.addNetworkStatements(NetworkDirectory.State(certificates: [certificate]))
        print(MembershipProposal.summary(of: proposal, in: state))
        print("Node keys of \(trustRoot.trust) certified (#\(certificate.serial)). Wrote \(out):")
        print("  each member signs it: trustmesh membership sign --root ROOTDIR \(out)")
        print("  then one submits it:  trustmesh membership submit --data DIR \(out)")
        print("  then start this node: trustmesh node run --data \(data) --network \(out)")
    }
}
