import ArgumentParser
import Foundation
import TrustMeshCrypto
import TrustMeshGossip
import TrustMeshModel
import TrustMeshPeer

/// Membership and key statements spreading through many trusts in one process, with the node's own
/// exchange code (``NetworkGossip/exchange(directory:call:apply:)``, ``NetworkGossip/answer``) over
/// an in-memory call: how many rounds a revocation and a new membership version take to reach every
/// node, and the bytes the exchanges cost per node, idle and while spreading.
struct NetworkGossipBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network-gossip",
        abstract: "Simulate membership and revocation gossip among many trusts (Scripts/bench network).",
        discussion: """
            Builds N trusts with real roots, certificates and a membership document signed by all, \
            then runs rounds in which every node makes its exchange with NetworkGossip.fanout \
            random members. Reports rounds until every node holds a revocation issued at one node, \
            and a membership version that adds a trust, and JSON payload bytes per node per round \
            (inside the sealed peer envelope, which adds its headers and 40 bytes per message).
            Prints Markdown table rows.
            """
    )

    @Option(help: "Simulated trusts.")
    var trusts: Int = 150

    @Option(help: "Seed for the choice of peers.")
    var seed: UInt64 = 2026

    @Option(help: "Most rounds before giving up.")
    var maxRounds: Int = 100

    struct Node {
        let id: TrustID
        let directory: NetworkDirectory
    }

    func run() async throws {
        guard (2...2000).contains(trusts) else { throw BenchError("--trusts must be 2 to 2000") }
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        var ids: [TrustID] = []
        for index in 0..<trusts {
            ids.append(
                try TrustID(
                    "R" + String(alphabet[index / 676 % 26]) + String(alphabet[index / 26 % 26])
                        + String(alphabet[index % 26])))
        }
        let roots = ids.map { _ in SigningKey() }
        let start = Date()
        let time = Timestamp.text(start - 600)
        let membership = Membership(
            network: "bench", version: 1, threshold: trusts / 2 + 1,
            members: ids.enumerated().map { index, id in
                Membership.Member(
                    ods: id, name: "Trust \(id)", address: "127.0.0.1:\(20_000 + index)",
                    root: roots[index].verifyingKey)
            }, issuedAt: time)
        var genesis = SignedMembership(membership)
        for (id, root) in zip(ids, roots) { genesis.sign(as: id, root: root) }
        var certificates: [KeyCertificate] = []
        let nodeKeys = ids.map { _ in SigningKey() }
        for (index, id) in ids.enumerated() {
            certificates.append(
                KeyCertificate.issue(
                    trust: id, serial: 1, signingKey: nodeKeys[index].verifyingKey,
                    agreementKey: AgreementKey().publicKey, notBefore: time,
                    notAfter: Timestamp.text(start + 365 * 86_400), root: roots[index]))
        }
        let initial = NetworkDirectory.State(memberships: [genesis], certificates: certificates)
        var nodes: [Node] = []
        for id in ids {
            let directory = try NetworkDirectory(pinned: genesis)
            _ = directory.merge(initial)
            nodes.append(Node(id: id, directory: directory))
        }
        var random = SplitMix64(seed: seed)
        let encoder = JSONEncoder()

        /// One round: every node exchanges with `fanout` random others. Rounds are synchronous:
        /// what a node learns in a round is taken in at its end, so nothing travels two hops in
        /// one round (real nodes run their rounds at the same time).
        /// - Returns: JSON payload bytes sent and received over all nodes.
        func round() async throws -> Int {
            var bytes = 0
            var pending = [[NetworkDirectory.State]](repeating: [], count: nodes.count)
            for (index, node) in nodes.enumerated() {
                var peers: [Int] = []
                while peers.count < NetworkGossip.fanout {
                    let pick = Int(random.next() % UInt64(nodes.count))
                    if pick != index && !peers.contains(pick) { peers.append(pick) }
                }
                for peer in peers {
                    let other = nodes[peer].directory
                    try await NetworkGossip.exchange(
                        directory: node.directory,
                        call: { message in
                            bytes += try encoder.encode(message).count
                            let answer = NetworkGossip.answer(message, directory: other) { pending[peer].append($0) }
                            bytes += try encoder.encode(answer).count
                            return answer
                        },
                        apply: { pending[index].append($0) })
                }
            }
            for (index, states) in pending.enumerated() {
                for state in states { _ = nodes[index].directory.merge(state) }
            }
            return bytes
        }

        /// Rounds until every node's directory satisfies `held`, and bytes per node per round.
        func spread(_ what: String, held: (NetworkDirectory) -> Bool) async throws -> (rounds: Int, bytes: Double) {
            var rounds = 0
            var bytes = 0
            while !nodes.allSatisfy({ held($0.directory) }) {
                guard rounds < maxRounds else {
                    throw BenchError("\(what) did not reach every node in \(maxRounds) rounds")
                }
                bytes += try await round()
                rounds += 1
            }
            return (rounds, Double(bytes) / Double(max(rounds, 1)) / Double(nodes.count))
        }

        let clock = ContinuousClock()
        let began = clock.now
        let idleBytes = Double(try await round()) / Double(nodes.count)
        let roundTime = clock.now - began
        let fullState = try encoder.encode(nodes[0].directory.state).count

        // A revocation of the first trust's node key, issued at that trust's node.
        let revocation = KeyRevocation.sign(
            trust: ids[0], key: nodeKeys[0].verifyingKey, reason: .compromised, since: Timestamp.text(start),
            issuedAt: Timestamp.text(start), by: roots[0])
        _ = nodes[0].directory.apply(revocation)
        let revoked = try await spread("the revocation") { !$0.revocations(of: ids[0]).isEmpty }

        // A membership version adding a trust, submitted at the last node.
        let newcomerRoot = SigningKey()
        let newcomer = try TrustID("ZZZ")
        var next = membership
        next.version = 2
        next.members.append(
            Membership.Member(
                ods: newcomer, name: "Newcomer", address: "127.0.0.1:19999", root: newcomerRoot.verifyingKey))
        next.members.sort { $0.ods < $1.ods }
        var signed = SignedMembership(next)
        for (id, root) in zip(ids, roots).prefix(trusts / 2 + 1) { signed.sign(as: id, root: root) }
        guard case .applied = nodes[trusts - 1].directory.apply(signed) else {
            throw BenchError("the new membership version was not accepted")
        }
        let joined = try await spread("membership version 2") { $0.membership.version == 2 }

        let seconds = Double(roundTime.components.seconds) + Double(roundTime.components.attoseconds) / 1e18
        print("| trusts | what | rounds to every node | seconds at 1 s rounds | payload bytes / node / round |")
        print("|---|---|---|---|---|")
        print("| \(trusts) | idle (digests only) | – | – | \(Int(idleBytes.rounded())) |")
        print(
            "| \(trusts) | a key revocation | \(revoked.rounds) | \(revoked.rounds) | \(Int(revoked.bytes.rounded())) |"
        )
        print(
            "| \(trusts) | membership version 2 (a trust joins) | \(joined.rounds) | \(joined.rounds) | \(Int(joined.bytes.rounded())) |"
        )
        print(
            "\nFull state sent to a peer that differs: \(fullState) bytes; one simulated round of all \(trusts) nodes: "
                + String(format: "%.1f ms", seconds * 1000))
    }
}
