package import Foundation
package import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
package import TrustMeshCrypto
package import TrustMeshModel
package import TrustMeshNodeCore
import TrustMeshStore

/// Signed tree heads of the audit logs, signed, gossiped and witnessed (RFC 9162's gossip, between
/// trusts).
///
/// **Signing.** Every interval, if this node's log grew, it signs a tree head of the whole log and
/// keeps it; it signs one more when it stops cleanly. Idle, it signs and sends nothing, and no tree
/// head is ever an entry of any log.
///
/// **Gossip.** A new head of this node's log goes to every peer; a newly accepted head of another
/// trust goes on to ``fanout`` peers chosen at random (never back to its origin or sender), so
/// every node hears every head in a few intervals without each head crossing every link. A head
/// that cannot be delivered waits for the next interval (only the newest per trust and peer).
///
/// **Witnessing.** A head arriving at `POST /peer/v1/audit/tree-heads` is checked at once (it must
/// verify with its trust's pinned key) and queued; each interval the queue is worked through: a head
/// of a trust whose log this node already holds a head of is accepted only after the origin proves,
/// at `POST /peer/v1/audit/consistency`, that the smaller tree is a prefix of the larger. Two heads
/// of one trust that cannot both be true — the same size with different roots, or a consistency proof
/// that fails — are an equivocation: both heads are kept (``AuditTable/recordTreeHeadConflict(_:)``),
/// the event is audited as `treeHeadConflict` and logged at critical, and the operator and
/// information-governance pages show the alarm. A head this node cannot check yet (its origin is
/// unreachable) is retried every interval.
package final class TreeHeadGossip: Service {
    /// Where peers send tree heads.
    package static let headsPath = "/peer/v1/audit/tree-heads"
    /// Where a peer asks for a consistency proof of this node's log.
    package static let consistencyPath = "/peer/v1/audit/consistency"
    /// The most heads one message may carry.
    package static let maximumHeads = 1_000
    /// How many peers a head of another trust is passed on to.
    package static let fanout = 3

    /// A batch of heads, and for the sender's own head, when it knows a smaller head the receiver
    /// probably holds, the consistency proof from that one (so the receiver need not ask).
    package struct HeadsMessage: Codable {
        package var heads: [SignedTreeHead]
        package var proof: OwnProof?

        package init(heads: [SignedTreeHead], proof: OwnProof?) {
            self.heads = heads
            self.proof = proof
        }
    }
    /// The proof that the sender's log of `from` entries is a prefix of its head of `to`.
    package struct OwnProof: Codable {
        package var from: UInt64
        package var to: UInt64
        package var hashes: [Digest256]

        package init(from: UInt64, to: UInt64, hashes: [Digest256]) {
            self.from = from
            self.to = to
            self.hashes = hashes
        }
    }
    /// A request for a consistency proof between two sizes of the receiver's log.
    package struct ConsistencyRequest: Codable {
        package var from: UInt64
        package var to: UInt64

        package init(from: UInt64, to: UInt64) {
            self.from = from
            self.to = to
        }
    }
    /// The proof, hashes in order (RFC 9162 §2.1.4).
    package struct ConsistencyResponse: Codable {
        package var proof: [Digest256]

        package init(proof: [Digest256]) { self.proof = proof }
    }

    private struct State {
        /// Heads to deliver, per peer: the newest per trust.
        var outbox: [TrustID: [TrustID: SignedTreeHead]] = [:]
        /// Heads received and signature-checked, not yet witnessed, with the peer that sent them.
        var inbox: [(head: SignedTreeHead, from: TrustID)] = []
        /// The size of the newest head of this node's log each peer acknowledged, since start.
        var delivered: [TrustID: UInt64] = [:]
    }

    let node: LocalNode
    /// The members and the keys each signed with when (a head is checked with a key valid at its time).
    let keyring: any Keyring
    let client: PeerClient
    let interval: Duration
    let logger: Logger
    private let state = Mutex(State())
    /// The size of the newest head of this node's log queued for the peers.
    private let sentOwnSize = Mutex<UInt64>(0)

    /// - Parameters:
    ///   - interval: how often the node signs (if its log grew), sends and witnesses.
    package init(node: LocalNode, keyring: any Keyring, client: PeerClient, interval: Duration, logger: Logger) {
        self.node = node
        self.keyring = keyring
        self.client = client
        self.interval = interval
        self.logger = logger
    }

    private var me: TrustID { node.configuration.trust }
    private var peers: [TrustID] { keyring.members.filter { $0 != me } }

    package func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: self.interval)
                await self.round()
            }
        }
    }

    /// One interval's work: witness what arrived, sign if the log grew, deliver.
    package func round() async {
        await witnessQueued()
        signIfGrown()
        await deliver(timeout: .seconds(5))
    }

    /// At a clean stop, after the last entry (`nodeStopped`): sign a head of the whole log if it grew
    /// and try once, briefly, to deliver it.
    package func finish() async {
        await witnessQueued()
        signIfGrown()
        await deliver(timeout: .seconds(2))
    }

    /// Signs and keeps a head of this node's log if it grew since the last one, and queues it for
    /// every peer.
    ///
    /// A head of this node's log signed elsewhere (by `trustmesh audit prove`), or signed before a
    /// restart, is queued for every peer once too.
    @discardableResult
    package func signIfGrown() -> SignedTreeHead? {
        do {
            let size = try node.store.audit.treeSize()
            let latest = try node.store.audit.latestTreeHead(of: me)
            guard size > latest?.treeSize ?? 0 else {
                if let latest, latest.treeSize > sentOwnSize.withLock({ $0 }) {
                    queue(latest, to: peers)
                    sentOwnSize.withLock { $0 = latest.treeSize }
                }
                return nil
            }
            let head = try node.store.audit.signTreeHead(
                trust: me, key: try node.cachedSigningKey(), time: CareTime.format(Date()))
            queue(head, to: peers)
            sentOwnSize.withLock { $0 = head.treeSize }
            return head
        } catch {
            logger.error("tree head not signed", metadata: ["error": "\(error)"])
            return nil
        }
    }

    private func queue(_ head: SignedTreeHead, to recipients: some Sequence<TrustID>) {
        state.withLock { state in
            for peer in recipients {
                if let held = state.outbox[peer]?[head.trust], held.treeSize >= head.treeSize { continue }
                state.outbox[peer, default: [:]][head.trust] = head
            }
        }
    }

    /// Sends each peer what is queued for it; what fails stays queued.
    private func deliver(timeout: TimeAmount) async {
        let (batches, acknowledged) = state.withLock { state in
            (state.outbox.filter { !$0.value.isEmpty }, state.delivered)
        }
        guard !batches.isEmpty else { return }
        let client = self.client
        let logger = self.logger
        var messages: [TrustID: HeadsMessage] = [:]
        // Most peers acknowledged the same head: one proof per starting size, not one per peer.
        var proofs: [UInt64: OwnProof?] = [:]
        // This node's heads below the newest, read once for every peer that acknowledged none.
        lazy var ownSizes = ((try? node.store.audit.treeHeads()) ?? []).filter { $0.trust == me }.map(\.treeSize)
        for (peer, heads) in batches {
            let sorted = heads.values.sorted { ($0.trust, $0.treeSize) < ($1.trust, $1.treeSize) }
            let proof = heads[me].flatMap { head -> OwnProof? in
                // From the head the peer last acknowledged, or else this node's previous head
                // (which a peer that was up then holds); 0 for none.
                let from = acknowledged[peer] ?? ownSizes.last { $0 < head.treeSize } ?? 0
                if let cached = proofs[from] { return cached }
                let proof = ownProof(head, from: from)
                proofs[from] = proof
                return proof
            }
            messages[peer] = HeadsMessage(heads: sorted, proof: proof)
        }
        let delivered = await withTaskGroup(of: (TrustID, [SignedTreeHead])?.self) { group in
            for (peer, message) in messages {
                let sorted = message.heads
                group.addTask {
                    do {
                        let payload = Array(try JSONEncoder().encode(message))
                        _ = try await client.call(peer, path: Self.headsPath, payload: payload, timeout: timeout)
                        return (peer, sorted)
                    } catch {
                        logger.debug("tree heads not delivered", metadata: ["peer": "\(peer)", "error": "\(error)"])
                        return nil
                    }
                }
            }
            var delivered: [(TrustID, [SignedTreeHead])] = []
            for await result in group { if let result { delivered.append(result) } }
            return delivered
        }
        state.withLock { state in
            for (peer, heads) in delivered {
                for head in heads {
                    if head.trust == me { state.delivered[peer] = max(state.delivered[peer] ?? 0, head.treeSize) }
                    if state.outbox[peer]?[head.trust] == head { state.outbox[peer]?[head.trust] = nil }
                }
            }
        }
    }

    /// The consistency proof from this node's log of `from` entries to `head`, if there is one to give.
    private func ownProof(_ head: SignedTreeHead, from: UInt64) -> OwnProof? {
        guard from > 0, from < head.treeSize,
            let hashes = try? node.store.audit.consistencyProof(from: from, to: head.treeSize)
        else { return nil }
        return OwnProof(from: from, to: head.treeSize, hashes: hashes)
    }

    // MARK: Receiving

    /// Heads from a peer: each must verify with its trust's pinned key (else the whole message is
    /// refused); they are witnessed at the next interval. A head the peer relays for another trust
    /// that no key this node knows of that trust verifies is set aside, not refused: the trust may
    /// have rotated its keys and this node not yet learnt the certificate (the relay could not have
    /// known), and the trust sends its own heads to every peer directly, certificate attached.
    package func receive(_ payload: [UInt8], from peer: Topology.Trust) throws -> Data {
        let message: HeadsMessage
        do {
            message = try JSONDecoder().decode(HeadsMessage.self, from: Data(payload))
        } catch {
            throw PeerRefusal(.badEnvelope, "tree heads: not a JSON object {\"heads\": [...]} of signed tree heads")
        }
        guard message.heads.count <= Self.maximumHeads else {
            throw PeerRefusal(.tooLarge, "tree heads: at most \(Self.maximumHeads) heads in one message")
        }
        var setAside: Set<Int> = []
        for (index, head) in message.heads.enumerated() {
            guard CareTime.parse(head.time) != nil else {
                throw PeerRefusal(.badEnvelope, "tree heads: the head of \(head.trust) has a malformed time")
            }
            let keys = CareTime.parse(head.time).map { keyring.signingKeys(of: head.trust, at: $0) } ?? []
            guard !keys.isEmpty else {
                throw PeerRefusal(
                    .unknownPeer,
                    "tree heads: \(head.trust) is not a trust of this network with a key valid at \(head.time)")
            }
            guard keys.contains(where: { (try? head.verify(with: $0)) != nil }) else {
                if head.trust != peer.ods {
                    setAside.insert(index)
                    logger.notice(
                        "set aside a head of \(head.trust) at size \(head.treeSize) relayed by \(peer.ods): no key this node knows of \(head.trust) signed it (one it has not learnt yet, or a forgery)"
                    )
                    continue
                }
                throw PeerRefusal(
                    .badSignature,
                    "tree heads: the head of \(head.trust) at size \(head.treeSize) is not signed by its key")
            }
        }
        var later: [(head: SignedTreeHead, from: TrustID)] = []
        for (index, head) in message.heads.enumerated() where !setAside.contains(index) {
            let proof = head.trust == peer.ods ? message.proof.flatMap { $0.to == head.treeSize ? $0 : nil } : nil
            if try !witnessLocally(head, from: peer.ods, proof: proof) { later.append((head, peer.ods)) }
        }
        state.withLock { state in
            state.inbox += later
            // Bounded: a peer flooding heads loses its oldest, never this node's memory.
            if state.inbox.count > 4 * Self.maximumHeads {
                state.inbox.removeFirst(state.inbox.count - 4 * Self.maximumHeads)
            }
        }
        return Data("{}".utf8)
    }

    /// Decides what can be decided without asking the origin: a head of this node's own log, a size
    /// already held, a trust not yet heard from, or a head that came with a proof from the size held.
    /// - Returns: `false` if the origin must be asked for a proof.
    private func witnessLocally(_ head: SignedTreeHead, from: TrustID, proof: OwnProof?) throws -> Bool {
        let audit = node.store.audit
        if head.trust == me { return try witnessOwn(head) }
        if let same = try audit.treeHead(of: head.trust, size: head.treeSize) {
            if same.rootHash != head.rootHash {
                try conflict(same, head, reason: "two heads of \(head.treeSize) entries with different roots")
            }
            return true
        }
        guard let latest = try audit.latestTreeHead(of: head.trust) else {
            try accept(head, from: from)
            return true
        }
        guard let proof, proof.from == latest.treeSize, head.treeSize > latest.treeSize else { return false }
        try settle(older: latest, newer: head, held: latest, arrived: head, proof: proof.hashes, from: from)
        return true
    }

    /// Accepts `arrived` if `proof` shows `older` is a prefix of `newer`; else records the conflict.
    private func settle(
        older: SignedTreeHead, newer: SignedTreeHead, held: SignedTreeHead, arrived: SignedTreeHead,
        proof: [Digest256], from: TrustID
    ) throws {
        guard
            MerkleTree.verifyConsistency(
                oldSize: older.treeSize, newSize: newer.treeSize, oldRoot: older.rootHash, newRoot: newer.rootHash,
                proof: proof)
        else {
            try conflict(
                held, arrived,
                reason: "the tree of \(older.treeSize) entries is not a prefix of the tree of \(newer.treeSize)")
            return
        }
        try accept(arrived, from: from)
    }

    /// A peer asks for a consistency proof between two sizes of this node's log.
    package func consistency(_ payload: [UInt8], from peer: Topology.Trust) throws -> Data {
        guard let request = try? JSONDecoder().decode(ConsistencyRequest.self, from: Data(payload)) else {
            throw PeerRefusal(.badEnvelope, "consistency: not a JSON object {\"from\": N, \"to\": N}")
        }
        let size = try node.store.audit.treeState().size
        guard request.from <= request.to, request.to <= size else {
            throw PeerRefusal(
                .notFound, "consistency: this log holds \(size) entries; no proof from \(request.from) to \(request.to)"
            )
        }
        let proof = try node.store.audit.consistencyProof(from: request.from, to: request.to)
        return try JSONEncoder().encode(ConsistencyResponse(proof: proof))
    }

    /// Works through the queued heads.
    package func witnessQueued() async {
        let queued = state.withLock { state in
            defer { state.inbox = [] }
            return state.inbox
        }
        var retry: [(head: SignedTreeHead, from: TrustID)] = []
        // The same head relayed by several peers is witnessed once.
        var seen: Set<SignedTreeHead> = []
        for (head, from) in queued where seen.insert(head).inserted {
            do {
                if try await !witness(head, from: from) { retry.append((head, from)) }
            } catch {
                logger.warning("tree head not witnessed", metadata: ["trust": "\(head.trust)", "error": "\(error)"])
            }
        }
        if !retry.isEmpty { state.withLock { $0.inbox = retry + $0.inbox } }
    }

    /// Checks one head against what is held of its trust.
    /// - Returns: `false` if it could not be checked yet (its origin is unreachable).
    private func witness(_ head: SignedTreeHead, from: TrustID) async throws -> Bool {
        if try witnessLocally(head, from: from, proof: nil) { return true }
        guard let latest = try node.store.audit.latestTreeHead(of: head.trust) else { return true }
        let (older, newer) = head.treeSize < latest.treeSize ? (head, latest) : (latest, head)
        let proof: [Digest256]
        do {
            let request = Array(try JSONEncoder().encode(ConsistencyRequest(from: older.treeSize, to: newer.treeSize)))
            let answer = try await client.call(
                head.trust, path: Self.consistencyPath, payload: request, timeout: .seconds(5))
            proof = try JSONDecoder().decode(ConsistencyResponse.self, from: Data(answer)).proof
        } catch let refusal as PeerRefusal where refusal.code == .notFound {
            // The origin cannot prove a size it signed: its log no longer reaches it.
            try conflict(latest, head, reason: "\(head.trust) cannot prove its own head: \(refusal.message)")
            return true
        } catch {
            return false
        }
        try settle(older: older, newer: newer, held: latest, arrived: head, proof: proof, from: from)
        return true
    }

    /// A head of this node's own log, come back by gossip or forged with its key: it must match.
    private func witnessOwn(_ head: SignedTreeHead) throws -> Bool {
        let audit = node.store.audit
        let size = try audit.treeSize()
        let matches = try head.treeSize <= size && audit.treeRoot(size: head.treeSize) == head.rootHash
        guard !matches else { return true }
        let held = try audit.treeHead(of: me, size: head.treeSize) ?? audit.latestTreeHead(of: me) ?? signIfGrown()
        guard let held else { return true }
        try conflict(held, head, reason: "a head signed with this node's key that its own log does not match")
        return true
    }

    private func accept(_ head: SignedTreeHead, from: TrustID) throws {
        guard try node.store.audit.storeTreeHead(head) else { return }
        let candidates = peers.filter { $0 != head.trust && $0 != from }
        queue(head, to: candidates.shuffled().prefix(Self.fanout))
    }

    /// Keeps and audits an equivocation, and passes the contradicting head on so others see it too.
    private func conflict(_ held: SignedTreeHead, _ other: SignedTreeHead, reason: String) throws {
        let record = AuditTable.TreeHeadConflict(
            trust: other.trust, detectedAt: CareTime.format(Date()), reason: reason, first: held, second: other)
        guard try node.store.audit.recordTreeHeadConflict(record) else { return }
        logger.critical(
            "a trust signed two audit histories",
            metadata: [
                "trust": "\(other.trust)", "reason": "\(reason)", "held": "\(held.treeSize)",
                "other": "\(other.treeSize)",
            ])
        try node.audit(
            .treeHeadConflict, actor: .system("audit gossip"),
            subject: [.peer: other.trust.code, .rule: "equivocation", .treeSize: "\(other.treeSize)"],
            details: LocalNode.auditJSON(TreeHeadConflictDetails(reason: reason, held: held, other: other)))
        let candidates = peers.filter { $0 != other.trust }
        queue(held, to: candidates.shuffled().prefix(Self.fanout))
        queue(other, to: candidates.shuffled().prefix(Self.fanout))
    }

    private struct TreeHeadConflictDetails: Encodable {
        var reason: String
        var held: SignedTreeHead
        var other: SignedTreeHead
    }
}
