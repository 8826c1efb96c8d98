package import Foundation
package import Logging
import ServiceLifecycle
import Synchronization
package import TrustMeshCrypto
package import TrustMeshModel
package import TrustMeshNodeCore
package import TrustMeshPolicy
import TrustMeshStore

/// Spreads the network's signed statements — membership versions, key certificates, key
/// revocations — between nodes, and takes in what a command on this machine added
/// (`trustmesh keys rotate`, `keys revoke`, `membership submit` write rows to the node's store).
///
/// Every round (the gossip interval) the node reads new rows from its store, then exchanges with
/// ``fanout`` random members: it sends the hash of everything it holds (``NetworkDirectory/digest``);
/// a peer holding the same answers with its hash alone (about 100 bytes each way); a peer holding
/// something else answers with all it holds, and if the asker then still holds something the peer
/// lacks it sends all it holds too. Statements are believed only through ``NetworkDirectory``'s
/// checks, stored, and audited (`keyCertified`, `keyRevoked`, `membershipChanged`, `equivocation`).
/// A revocation therefore reaches every node in about as many rounds as push-pull gossip needs
/// (log₃ n plus a few), and an idle network costs a hash per exchange.
package final class NetworkGossip: Sendable {
    /// The peer route.
    package static let path = "/peer/v1/network"
    /// Members asked per round: one (two spread a statement two rounds sooner at twice the cost).
    package static let fanout = 1

    /// One side's message. The asker sends its digest; a peer that differs answers with its
    /// inventory (a short hash per part); the asker then sends the parts where it differs and
    /// names the parts it wants; the peer answers with those.
    package struct Message: Codable, Sendable {
        package var digest: Digest256
        /// Per part (the membership chain, each trust), a short hash of what the sender holds.
        package var inventory: [String: String]?
        /// Statements the sender pushes.
        package var state: NetworkDirectory.State?
        /// Parts the sender asks for.
        package var want: [String]?

        package init(
            digest: Digest256, inventory: [String: String]? = nil, state: NetworkDirectory.State? = nil,
            want: [String]? = nil
        ) {
            self.digest = digest
            self.inventory = inventory
            self.state = state
            self.want = want
        }
    }

    let node: LocalNode
    package let directory: NetworkDirectory
    let client: PeerClient
    let logger: Logger
    /// Told each conflict (the node records it as evidence).
    let conflict: @Sendable (NetworkDirectory.Conflict) -> Void
    private let lastRow = Mutex<Int64>(0)
    private let followsPolicy: Bool

    /// - Parameter followsPolicy: whether the node applies the network policy of each newer
    ///   membership version (false: the operator named one).
    package init(
        node: LocalNode, directory: NetworkDirectory, client: PeerClient, logger: Logger, followsPolicy: Bool = true,
        conflict: @escaping @Sendable (NetworkDirectory.Conflict) -> Void
    ) {
        self.followsPolicy = followsPolicy
        self.node = node
        self.directory = directory
        self.client = client
        self.logger = logger
        self.conflict = conflict
    }

    private var me: TrustID { node.configuration.trust }

    /// Reads the statements stored since the last call (a command's, or everything at start),
    /// applies them, and adopts new keys of this node once they are certified.
    package func readStore() {
        do {
            let (state, last) = try node.store.network.statements(after: lastRow.withLock { $0 })
            lastRow.withLock { $0 = last }
            if apply(state, from: nil) {
                // Something took effect (a membership version, say): statements refused before it
                // (a joining trust's certificate) may take effect now.
                apply(try node.store.network.statements().state, from: nil)
            }
            try node.adoptCertifiedKeys(directory.allCertificates(of: me), actor: .system("network gossip"))
        } catch {
            logger.error("network statements: \(error)")
        }
    }

    /// Takes in a certificate a peer showed with its traffic (``PeerCertificates``): believed
    /// only if the trust's root signed it, then stored and audited like any from gossip.
    package func learn(_ certificate: KeyCertificate) {
        apply(NetworkDirectory.State(certificates: [certificate]), from: certificate.trust)
    }

    /// This node's certificate for its current signing key, if the directory holds one.
    package func ownCertificate() -> KeyCertificate? {
        guard let key = try? node.cachedSigningKey().verifyingKey else { return nil }
        return directory.allCertificates(of: me).last { $0.signingKey == key }
    }

    /// One round: the store, then an exchange with up to ``fanout`` random members.
    package func round(timeout: Duration = .seconds(5)) async {
        readStore()
        let peers = directory.members.filter { $0 != me }.shuffled().prefix(Self.fanout)
        for peer in peers {
            do {
                try await exchange(with: peer)
            } catch {
                logger.debug("network gossip with \(peer): \(error)")
            }
        }
    }

    /// Answers a peer's message: takes in what it sent, and answers with this node's digest, and
    /// everything this node holds if the digests still differ.
    package func receive(_ payload: [UInt8], from peer: Topology.Trust) throws -> Data {
        let message = try JSONDecoder().decode(Message.self, from: Data(payload))
        return try JSONEncoder().encode(Self.answer(message, directory: directory) { apply($0, from: peer.ods) })
    }

    /// The answering side of an exchange, without I/O: `apply` takes in what the message carries.
    package static func answer(
        _ message: Message, directory: NetworkDirectory, apply: (NetworkDirectory.State) -> Void
    ) -> Message {
        if let state = message.state { apply(state) }
        let digest = directory.digest
        if let want = message.want { return Message(digest: digest, state: directory.state(of: Set(want))) }
        return digest == message.digest
            ? Message(digest: digest) : Message(digest: digest, inventory: directory.inventory)
    }

    /// The asking side of an exchange, without I/O: `call` sends a message and returns the answer,
    /// `apply` takes in what an answer carries. Equal digests: one small message each way.
    /// Otherwise the peer's inventory, then one more message each way carrying only the parts that
    /// differ, both directions at once.
    package static func exchange(
        directory: NetworkDirectory, call: (Message) async throws -> Message,
        apply: (NetworkDirectory.State) -> Void
    ) async throws {
        let mine = directory.digest
        let first = try await call(Message(digest: mine))
        guard first.digest != mine, let theirs = first.inventory else { return }
        let ours = directory.inventory
        let differing = Set(theirs.keys).union(ours.keys).filter { theirs[$0] != ours[$0] }
        guard !differing.isEmpty else { return }
        let push = directory.state(of: Set(differing.filter { ours[$0] != nil }))
        let want = differing.filter { theirs[$0] != nil }.sorted()
        let second = try await call(Message(digest: mine, state: push, want: want))
        if let state = second.state { apply(state) }
    }

    private func exchange(with peer: TrustID) async throws {
        try await Self.exchange(
            directory: directory, call: { try await self.call(peer, $0) }, apply: { self.apply($0, from: peer) })
    }

    /// The network policy a membership document carries, if it carries one that reads.
    package static func policy(of membership: Membership) -> NetworkPolicy? {
        membership.policy.flatMap { try? JSONDecoder().decode(NetworkPolicy.self, from: Data($0.utf8)) }
    }

    private func call(_ peer: TrustID, _ message: Message) async throws -> Message {
        let answer = try await client.call(peer, path: Self.path, payload: Array(try JSONEncoder().encode(message)))
        return try JSONDecoder().decode(Message.self, from: Data(answer))
    }

    /// Applies statements, stores the ones taken in, audits them, and reports conflicts.
    /// - Returns: Whether any took effect.
    @discardableResult
    private func apply(_ state: NetworkDirectory.State, from peer: TrustID?) -> Bool {
        let outcomes = directory.merge(state)
        guard outcomes.contains(where: { if case .applied = $0 { true } else { false } }) else {
            report(outcomes)
            return false
        }
        let actor: Actor = peer.map { .system("network gossip from \($0.code)") } ?? .system("network gossip")
        var taken = NetworkDirectory.State()
        for outcome in outcomes {
            switch outcome {
            case .applied(.membership(let signed, let changes)):
                taken.memberships.append(signed)
                logger.notice("network membership \(changes)")
                if followsPolicy, let policy = Self.policy(of: directory.membership) { node.networkPolicy = policy }
            case .applied(.certificate(let certificate)):
                taken.certificates.append(certificate)
                logger.notice("key certificate of \(certificate.trust) #\(certificate.serial) taken in")
            case .applied(.revocation(let revocation)):
                taken.revocations.append(revocation)
                logger.notice(
                    "key of \(revocation.trust) revoked (\(revocation.reason.rawValue) since \(revocation.since))")
            case .conflict(let found):
                logger.critical("network equivocation by \(found.trust): \(found.reason)")
                conflict(found)
            case .refused, .known:
                continue
            }
        }
        do {
            try node.store.network.add(taken)
            try node.auditNetworkOutcomes(outcomes, actor: actor)
        } catch {
            logger.error("could not store or audit network statements: \(error)")
        }
        return true
    }

    /// Conflicts among outcomes that took nothing in.
    private func report(_ outcomes: [NetworkDirectory.Outcome]) {
        for case .conflict(let found) in outcomes {
            logger.critical("network equivocation by \(found.trust): \(found.reason)")
            conflict(found)
        }
    }
}

/// Runs ``NetworkGossip`` rounds every `interval` until the node stops.
package struct NetworkGossipLoop: Service {
    let gossip: NetworkGossip
    let interval: Duration

    package init(gossip: NetworkGossip, interval: Duration) {
        self.gossip = gossip
        self.interval = interval
    }

    package func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await gossip.round()
                try await Task.sleep(for: interval)
            }
        }
    }
}

/// Where the peer door and client send the certificates peers show, and get this node's own: the
/// network gossip, once it exists (it needs the client, and the client needs this).
package final class CertificateExchange: Sendable {
    private let gossip = Mutex<NetworkGossip?>(nil)

    package init() {}

    /// Connects the network gossip.
    package func connect(_ network: NetworkGossip) { gossip.withLock { $0 = network } }

    /// The hooks for ``PeerDoor`` and ``PeerClient``.
    package var certificates: PeerCertificates {
        PeerCertificates(
            current: { [self] in connected?.ownCertificate() },
            learn: { [self] certificate in connected?.learn(certificate) })
    }

    private var connected: NetworkGossip? { gossip.withLock { $0 } }
}
