public import TrustMeshCrypto
public import TrustMeshModel

/// One trust's side of push-pull anti-entropy over the federated index.
///
/// Each round (``runRound()``) the node picks ``GossipSettings/fanout`` random peers and, with each:
///
/// 1. sends its digest (per origin, the highest sequence it holds) and no records;
/// 2. receives the peer's digest and the records it lacks (at most ``GossipSettings/batchSize``),
///    verifies each against its **origin's** pinned key, and stores the valid ones;
/// 3. only if the peer's digest shows the peer lacks records, sends a second message pushing them.
///
/// Two nodes that are in sync exchange one pair of digests and nothing else, so the bandwidth follows
/// the difference between the nodes, not the size of the index. The peer's side is ``handle(_:)``.
///
/// Records are never believed on the relay's word: a record from an unpinned origin, or whose
/// signature does not verify with the origin's key, is dropped and counted in ``rejectedRecords``;
/// the rest of the batch still applies. Records that would leave a gap in an origin's sequence are
/// skipped (anti-entropy brings them once the gap is filled).
///
/// The node does no I/O and never waits on a clock: storage is an ``IndexLog``, the network a
/// ``GossipTransport``, and whoever drives it calls ``runRound()`` every
/// ``GossipSettings/roundInterval``. With a seeded generator, an in-memory log and transport and
/// rounds run one node after another, a simulation is deterministic.
///
/// ```swift
/// let node = GossipNode(
///     id: rrk, peers: neighbours, keys: topology.signingKeys, log: log, transport: transport)
/// try await node.publish(draft.signed(by: nodeKey))
/// await node.runRound()
/// ```
public actor GossipNode {
    /// The trust this node speaks for.
    public nonisolated let id: TrustID
    /// Fanout and batch size.
    public nonisolated let settings: GossipSettings

    /// Members and their keys over time; read afresh every round and for every record, so a
    /// membership change or a key rotation applies without a restart.
    private let keyring: any Keyring
    private let log: any IndexLog
    private let transport: any GossipTransport
    private var random: SplitMix64

    /// Records dropped because their origin is not pinned or their signature did not verify with the
    /// origin's pinned key.
    public private(set) var rejectedRecords = 0
    /// Records verified and handed to the log.
    public private(set) var acceptedRecords = 0
    /// Exchanges that failed: the peer was unreachable or refused, or the log failed.
    public private(set) var failedExchanges = 0

    /// Creates a node with fixed peers and one key per trust (tests, the simulation).
    /// - Parameters:
    ///   - id: The node's own trust.
    ///   - peers: The trusts it gossips with (its neighbours in the topology). Each needs a pinned key.
    ///   - keys: The pinned Ed25519 keys of every trust whose records the node accepts, its own
    ///     included: records are verified with their origin's key from here.
    ///   - log: The node's record store.
    ///   - transport: How to reach peers.
    ///   - settings: Fanout and batch size.
    ///   - random: Chooses peers each round; the node draws one seed from it at creation. Pass a
    ///     seeded generator for a reproducible simulation.
    public init(
        id: TrustID, peers: [TrustID], keys: [TrustID: VerifyingKey], log: any IndexLog,
        transport: any GossipTransport, settings: GossipSettings = GossipSettings(),
        random: some RandomNumberGenerator = SystemRandomNumberGenerator()
    ) {
        self.init(
            id: id, keyring: PinnedKeyring(keys, members: peers + [id]), log: log, transport: transport,
            settings: settings, random: random)
    }

    /// Creates a node.
    /// - Parameters:
    ///   - id: The node's own trust.
    ///   - keyring: The member trusts (its peers are the others) and the keys each signed with when:
    ///     a record is verified with a key of its origin valid at its issue time.
    ///   - log: The node's record store.
    ///   - transport: How to reach peers.
    ///   - settings: Fanout and batch size.
    ///   - random: Chooses peers each round; the node draws one seed from it at creation. Pass a
    ///     seeded generator for a reproducible simulation.
    public init(
        id: TrustID, keyring: any Keyring, log: any IndexLog, transport: any GossipTransport,
        settings: GossipSettings = GossipSettings(),
        random: some RandomNumberGenerator = SystemRandomNumberGenerator()
    ) {
        var random = random
        self.id = id
        self.keyring = keyring
        self.log = log
        self.transport = transport
        self.settings = settings
        self.random = SplitMix64(seed: random.next())
    }

    // MARK: Publishing

    /// The sequence number the node's next own record must carry.
    /// - Throws: A log error.
    public func nextSequence() async throws -> UInt64 {
        (try await log.digest()[id] ?? 0) + 1
    }

    /// Stores a record this node signed, for gossip to spread.
    ///
    /// - Parameter record: A record whose origin is this node, signed with its key, carrying
    ///   ``nextSequence()``.
    /// - Throws: ``GossipError/notOwnRecord(origin:node:)``, ``GossipError/unpinnedOrigin(_:)`` if the
    ///   node's own key is not in `keys`, `CryptoError.badSignature`,
    ///   ``GossipError/sequence(expected:actual:)`` if the sequence is not the next one (also when
    ///   another publish took it meanwhile), or a log error.
    public func publish(_ record: IndexRecord) async throws {
        guard record.origin == id else { throw GossipError.notOwnRecord(origin: record.origin, node: id) }
        let keys = keyring.signingKeys(of: id, issuedAt: record.issuedAt)
        guard !keys.isEmpty else { throw GossipError.unpinnedOrigin(id) }
        try Self.verify(record, keys)
        let expected = try await nextSequence()
        guard record.sequence == expected else {
            throw GossipError.sequence(expected: expected, actual: record.sequence)
        }
        try await log.append([record])
        // Another publish may have taken the sequence while this one waited on the log.
        let stored = try await log.records(origin: id, after: record.sequence - 1, limit: 1)
        guard stored.first == record else {
            throw GossipError.sequence(expected: try await nextSequence(), actual: record.sequence)
        }
    }

    // MARK: Gossip

    /// Runs one round: a push-pull exchange with each of up to ``GossipSettings/fanout`` random peers.
    ///
    /// A failed exchange (peer down, refusal, log error) is counted in ``failedExchanges`` and the round
    /// goes on with the next peer; the next round picks again.
    public func runRound() async {
        for peer in choosePeers() {
            do {
                try await exchange(with: peer)
            } catch {
                failedExchanges += 1
            }
        }
    }

    /// Answers a peer's request: stores the records it pushed (after verifying each), then returns this
    /// node's digest and the records the peer lacks, at most ``GossipSettings/batchSize``.
    ///
    /// - Parameter request: The peer's digest and pushed records. Only the first
    ///   ``GossipSettings/batchSize`` pushed records are considered.
    /// - Returns: This node's digest and the records the peer lacks, oldest first per origin.
    /// - Throws: ``GossipError/unknownPeer(_:)`` if the caller is not one of ``peers`` with a pinned
    ///   key (nothing is stored), or a log error.
    public func handle(_ request: GossipRequest) async throws -> GossipResponse {
        guard request.from != id, keyring.members.contains(request.from) else {
            throw GossipError.unknownPeer(request.from)
        }
        try await accept(request.records.prefix(settings.batchSize))
        let digest = try await log.digest()
        let records = try await records(lackedBy: request.digest, mine: digest)
        return GossipResponse(digest: digest, records: records)
    }

    // MARK: Reading

    /// The node's digest: for each origin, the highest sequence held.
    /// - Throws: A log error.
    public func digest() async throws -> [TrustID: UInt64] {
        try await log.digest()
    }

    /// The current federated index as this node holds it.
    /// - Throws: A log error.
    public func indexView() async throws -> IndexView {
        var view = IndexView()
        for (origin, held) in try await log.digest() {
            for record in try await log.records(origin: origin, after: 0, limit: Int(clamping: held)) {
                view.apply(record)
            }
        }
        return view
    }

    /// The trusts this node gossips with now: the members but itself.
    public nonisolated var peers: [TrustID] { keyring.members.filter { $0 != id } }

    // MARK: Internals

    /// Verifies a record with any of the keys its origin may have signed it with.
    private static func verify(_ record: IndexRecord, _ keys: [VerifyingKey]) throws(CryptoError) {
        var failure = CryptoError.badSignature
        for key in keys {
            do {
                try record.verify(with: key)
                return
            } catch { failure = error }
        }
        throw failure
    }

    private func exchange(with peer: TrustID) async throws {
        let response = try await transport.exchange(with: peer, GossipRequest(from: id, digest: try await log.digest()))
        // A peer may send no more than our own batch size; the rest comes in later rounds.
        try await accept(response.records.prefix(settings.batchSize))
        let mine = try await log.digest()
        let push = try await records(lackedBy: response.digest, mine: mine)
        guard !push.isEmpty else { return }
        let second = try await transport.exchange(with: peer, GossipRequest(from: id, digest: mine, records: push))
        // Normally empty: the peer has just told us what it holds.
        try await accept(second.records.prefix(settings.batchSize))
    }

    /// Up to `fanout` distinct peers, by a partial Fisher–Yates shuffle.
    private func choosePeers() -> [TrustID] {
        var candidates = peers
        let count = min(settings.fanout, candidates.count)
        for index in 0..<count {
            let pick = index + Int(random.next(upperBound: UInt64(candidates.count - index)))
            candidates.swapAt(index, pick)
        }
        return Array(candidates.prefix(count))
    }

    /// The records a peer with digest `theirs` lacks, at most `batchSize`. When the budget can't cover
    /// every origin, a random origin goes first so that none starves behind a long backlog.
    private func records(lackedBy theirs: [TrustID: UInt64], mine: [TrustID: UInt64]) async throws -> [IndexRecord] {
        let origins = mine.filter { $0.value > theirs[$0.key] ?? 0 }.keys.sorted()
        guard !origins.isEmpty else { return [] }
        let start = origins.count == 1 ? 0 : Int(random.next(upperBound: UInt64(origins.count)))
        var budget = settings.batchSize
        var result: [IndexRecord] = []
        for offset in 0..<origins.count where budget > 0 {
            let origin = origins[(start + offset) % origins.count]
            let batch = try await log.records(origin: origin, after: theirs[origin] ?? 0, limit: budget)
            result += batch.prefix(budget)
            budget -= min(batch.count, budget)
        }
        return result
    }

    /// Verifies incoming records against their origins' pinned keys and stores those that extend the
    /// log contiguously. Records already held, or beyond a gap, are skipped without verifying (they
    /// change nothing); invalid ones are counted and dropped.
    private func accept(_ incoming: some Collection<IndexRecord>) async throws {
        guard !incoming.isEmpty else { return }
        let held = try await log.digest()
        var next: [TrustID: UInt64] = [:]
        var verified: [IndexRecord] = []
        let ordered = incoming.sorted { ($0.origin, $0.sequence) < ($1.origin, $1.sequence) }
        for record in ordered {
            let keys = keyring.signingKeys(of: record.origin, issuedAt: record.issuedAt)
            guard !keys.isEmpty else {
                rejectedRecords += 1
                continue
            }
            let expected = next[record.origin] ?? (held[record.origin] ?? 0) + 1
            guard record.sequence == expected else { continue }
            do {
                try Self.verify(record, keys)
            } catch {
                rejectedRecords += 1
                continue
            }
            verified.append(record)
            next[record.origin] = expected + 1
        }
        guard !verified.isEmpty else { return }
        try await log.append(verified)
        acceptedRecords += verified.count
    }
}
