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
/// **Digests by difference.** A node remembers, per peer, the digest it last sent that peer and the
/// one it last heard from it; the peer remembers the same two, the other way round. From these both
/// sides infer the same digest for the sender: per origin, whichever of the two has the higher
/// sequence (the sender's own on a tie), since a node that told a peer it holds a record will have
/// it from then on, and a peer that was told of one is offered it. The sender sends only the entries
/// where its digest differs from that inference, with the ``DigestHash`` of its whole digest; the
/// receiver applies them to its inference and checks the hash of the result. Two nodes in sync
/// exchange two hashes; a record spreading costs an entry only to the peers that did not already
/// say they hold it. When the hash does not match (a restart forgot what was heard, a message was
/// lost, two exchanges crossed), the receiver says so (`resend`) and gets the whole digest in the
/// next message, in the same exchange. So the bandwidth follows what changed, not the number of
/// origins, nor the size of the index. The peer's side is ``handle(_:)``.
///
/// Records are never believed on the relay's word: a record from an unpinned origin, or whose
/// signature does not verify with the origin's key, is dropped and counted in ``rejectedRecords``;
/// the rest of the batch still applies. Records that would leave a gap in an origin's sequence are
/// skipped (anti-entropy brings them once the gap is filled).
///
/// **Equivocation.** Each digest entry carries the ``RecordFingerprint`` of the sender's record at
/// that sequence. Where two nodes hold the same sequence of an origin with different fingerprints,
/// or a node's record at the sequence a peer's digest ends on differs from the peer's, the node
/// sends its record there; and any record arriving for a sequence already held is compared with the
/// held one. Different content, correctly signed by the origin, is an ``IndexConflict``: the log keeps
/// both records (``IndexLog/recordConflict(_:)``), the node sends its own back so the peer holds the
/// evidence too, passes the other side of every unresolved conflict to peers whose digest shows only
/// one side, and stores none of that origin's new records (counted in ``heldRecords``) until an
/// operator resolves it. The node's own origin is never held.
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
    /// Records not stored because their origin has an unresolved conflict (anti-entropy brings them
    /// again once it is resolved).
    public private(set) var heldRecords = 0
    /// Equivocations this node found that its log did not already hold.
    public private(set) var conflictsFound = 0
    /// Messages whose digest this node could not rebuild from what it had heard of the sender (it
    /// asked for the whole digest).
    public private(set) var digestResends = 0

    /// Per peer, the digest this node last sent it (in memory: after a restart the first message to
    /// each peer carries the whole digest).
    private var told: [TrustID: Peer] = [:]
    /// This node's heads as last read, and the same as a digest with its hash: most rounds find
    /// them unchanged, and hashing them again is most of a message's CPU.
    private var own: (heads: [TrustID: IndexHead], digest: Peer)?
    /// Per peer, its digest as this node last rebuilt it from the peer's messages.
    private var heard: [TrustID: Peer] = [:]

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
    /// - Returns: This node's digest and the records the peer lacks, oldest first per origin, after any
    ///   evidence of an equivocation the peer's digest or records showed.
    /// - Throws: ``GossipError/unknownPeer(_:)`` if the caller is not one of ``peers`` with a pinned
    ///   key (nothing is stored), or a log error.
    public func handle(_ request: GossipRequest) async throws -> GossipResponse {
        guard request.from != id, keyring.members.contains(request.from) else {
            throw GossipError.unknownPeer(request.from)
        }
        let contradicted = try await accept(request.records.prefix(settings.batchSize))
        let theirs = rebuild(request.fields, from: request.from)
        let mine = try await state()
        let records =
            if let theirs {
                try await records(for: theirs, mine: mine, evidence: contradicted)
            } else {
                Array(contradicted.prefix(settings.batchSize))
            }
        return GossipResponse(
            fields: fields(mine, to: request.from, whole: request.resend), records: records, resend: theirs == nil)
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
        let before = try await state()
        let response = try await transport.exchange(
            with: peer, GossipRequest(from: id, fields: fields(before, to: peer, whole: false), records: []))
        // A peer may send no more than our own batch size; the rest comes in later rounds.
        let contradicted = try await accept(response.records.prefix(settings.batchSize))
        let theirs = rebuild(response.fields, from: peer)
        let mine = try await state()
        let push =
            if let theirs {
                try await records(for: theirs, mine: mine, evidence: contradicted)
            } else {
                Array(contradicted.prefix(settings.batchSize))
            }
        // A second message pushes what the peer lacks, or sends the whole digest one side asked for.
        guard !push.isEmpty || theirs == nil || response.resend else { return }
        let second = try await transport.exchange(
            with: peer,
            GossipRequest(
                from: id, fields: fields(mine, to: peer, whole: response.resend), records: push,
                resend: theirs == nil))
        // Normally empty, unless the peer only now learnt our digest (it asked for the whole).
        _ = try await accept(second.records.prefix(settings.batchSize))
        _ = rebuild(second.fields, from: peer)
    }

    /// The digest to send `peer`: the entries that differ from what the peer infers of this node's
    /// digest (``infer(sender:receiver:)``), or the whole digest when the peer asked for it or this node
    /// has no exchange with it to infer from. What is sent is remembered as what the peer now holds
    /// of this node (if the message is lost, the peer's next answer asks for the whole).
    private func fields(_ mine: State, to peer: TrustID, whole: Bool) -> DigestFields {
        defer { told[peer] = mine.digest }
        guard !whole, let told = told[peer], let heard = heard[peer],
            case let base = Self.infer(sender: told, receiver: heard),
            base.digest.keys.allSatisfy({ mine.heads[$0] != nil })
        else {
            return DigestFields(whole: mine.digest.digest, mine.digest.fingerprints, held: mine.held)
        }
        let differing = mine.heads.filter { origin, head in
            base.digest[origin] != head.sequence || base.fingerprints[origin] != head.fingerprint
        }
        return DigestFields(differences: differing, hash: mine.digest.hash ?? DigestHash(mine.heads), held: mine.held)
    }

    /// What a message is read against, on both sides: per origin, of the sender's digest as last
    /// sent (`sender`: what the sender told, which the receiver heard) and the receiver's as last
    /// sent the other way (`receiver`), the one with the higher sequence, the sender's on a tie.
    /// Keeps the sender's hash when the receiver's digest raises nothing.
    private static func infer(sender: Peer, receiver: Peer) -> Peer {
        var result = sender
        result.held = []
        for (origin, sequence) in receiver.digest where sequence > sender.digest[origin] ?? 0 {
            result.digest[origin] = sequence
            result.fingerprints[origin] = receiver.fingerprints[origin]
            result.hash = nil
        }
        return result
    }

    /// Rebuilds a peer's digest from a message: the whole digest as sent, or the differences applied
    /// to what this node infers (``infer(sender:receiver:)``). `nil` (and what was heard and told of the
    /// peer forgotten, so that both sides start again from whole digests) when there is nothing to
    /// infer from or the result's hash is not the one the peer sent.
    private func rebuild(_ fields: DigestFields, from peer: TrustID) -> Peer? {
        var result: Peer
        if fields.isWhole {
            result = Peer(fields.digest, fields.fingerprints, fields.held, hash: fields.hash)
        } else {
            guard let heard = heard[peer], let told = told[peer] else { return forget(peer) }
            result = Self.infer(sender: heard, receiver: told)
            if !fields.digest.isEmpty {
                result.digest.merge(fields.digest) { $1 }
                for origin in fields.digest.keys { result.fingerprints[origin] = fields.fingerprints[origin] }
                result.hash = nil
            }
            if result.hash == nil { result.hash = DigestHash(result.digest, result.fingerprints) }
            guard result.hash == fields.hash else { return forget(peer) }
            result.held = fields.held
        }
        heard[peer] = result
        return result
    }

    /// Forgets what was heard from and told to `peer` after a digest could not be rebuilt.
    private func forget(_ peer: TrustID) -> Peer? {
        heard[peer] = nil
        told[peer] = nil
        digestResends += 1
        return nil
    }

    /// What this node tells a peer and compares with the peer's digest.
    private struct State {
        var heads: [TrustID: IndexHead]
        /// ``heads`` as a digest, with its hash.
        var digest: Peer
        var conflicts: [IndexConflict]
        /// Origins with an unresolved conflict, but this node's own.
        var held: Set<TrustID>
    }

    /// A peer's digest.
    private struct Peer {
        var digest: [TrustID: UInt64]
        var fingerprints: [TrustID: RecordFingerprint]
        var held: Set<TrustID>
        /// The ``DigestHash`` of ``digest`` and ``fingerprints``, when computed.
        var hash: DigestHash?

        init(_ digest: [TrustID: UInt64], _ fingerprints: [TrustID: RecordFingerprint], _ held: Set<TrustID>) {
            self.init(digest, fingerprints, held, hash: DigestHash(digest, fingerprints))
        }

        init(
            _ digest: [TrustID: UInt64], _ fingerprints: [TrustID: RecordFingerprint], _ held: Set<TrustID>,
            hash: DigestHash?
        ) {
            self.digest = digest
            self.fingerprints = fingerprints
            self.held = held
            self.hash = hash
        }
    }

    private func state() async throws -> State {
        let conflicts = try await log.unresolvedConflicts()
        var held = Set(conflicts.map(\.origin))
        held.remove(id)
        let heads = try await log.heads()
        let digest: Peer
        if let own, own.heads == heads {
            digest = own.digest
        } else {
            digest = Peer(heads.mapValues(\.sequence), heads.mapValues(\.fingerprint), [])
            own = (heads, digest)
        }
        return State(heads: heads, digest: digest, conflicts: conflicts, held: held)
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

    /// What to send a peer, at most `batchSize` records, in this order:
    ///
    /// 1. `evidence`: this node's records that records the peer just sent contradicted;
    /// 2. for each unresolved conflict of which the peer's digest shows one side (its head is at that
    ///    sequence with that fingerprint), the other side;
    /// 3. where the peer's head is at the sequence of this node's head with another fingerprint, this
    ///    node's record there;
    /// 4. the records the peer lacks, after this node's record at the peer's head if its fingerprint
    ///    differs there. When the budget can't cover every origin, a random origin goes first so
    ///    that none starves behind a long backlog.
    ///
    /// Nothing of an origin the peer holds, but step 1: it stores none of it, and it knows. Steps 1 to
    /// 3 cost nothing while there is no equivocation: the unresolved conflicts are read anyway (to
    /// tell the peer what this node holds), and step 4 compares the first of the records it reads
    /// anyway (the read starts one record earlier).
    private func records(for peer: Peer, mine: State, evidence: [IndexRecord]) async throws -> [IndexRecord] {
        var result: [IndexRecord] = []
        var sent: Set<IndexRecord> = []
        var budget = settings.batchSize
        func add(_ record: IndexRecord) {
            guard budget > 0, sent.insert(record).inserted else { return }
            result.append(record)
            budget -= 1
        }
        evidence.forEach(add)
        for conflict in mine.conflicts where !peer.held.contains(conflict.origin) {
            guard peer.digest[conflict.origin] == conflict.sequence, let shown = peer.fingerprints[conflict.origin]
            else { continue }
            if shown == RecordFingerprint(conflict.held) {
                add(conflict.other)
            } else if shown == RecordFingerprint(conflict.other) {
                add(conflict.held)
            }
        }
        // One pass over the heads, unsorted; only the (few) origins found are put in order.
        var lacking: [TrustID] = []
        var forked: [TrustID] = []
        for (origin, head) in mine.heads where !peer.held.contains(origin) {
            let theirs = peer.digest[origin] ?? 0
            if theirs == head.sequence, let shown = peer.fingerprints[origin], shown != head.fingerprint {
                forked.append(origin)
            } else if head.sequence > theirs {
                lacking.append(origin)
            }
        }
        lacking.sort()
        for origin in forked.sorted() {
            guard let head = mine.heads[origin] else { continue }
            let held = try await log.records(origin: origin, after: head.sequence - 1, limit: 1)
            if let record = held.first, record.sequence == head.sequence { add(record) }
        }
        guard !lacking.isEmpty, budget > 0 else { return result }
        let start = lacking.count == 1 ? 0 : Int(random.next(upperBound: UInt64(lacking.count)))
        for offset in 0..<lacking.count where budget > 0 {
            let origin = lacking[(start + offset) % lacking.count]
            let theirs = peer.digest[origin] ?? 0
            guard theirs > 0, let shown = peer.fingerprints[origin] else {
                try await log.records(origin: origin, after: theirs, limit: budget).prefix(budget).forEach(add)
                continue
            }
            // Read from the peer's head, to compare what it holds there with ours.
            let batch = try await log.records(origin: origin, after: theirs - 1, limit: budget + 1)
            guard let first = batch.first, first.sequence == theirs else { continue }
            if RecordFingerprint(first) != shown { add(first) }
            batch.dropFirst().prefix(budget).forEach(add)
        }
        return result
    }

    /// Verifies incoming records against their origins' keys and stores those that extend the log
    /// contiguously, unless their origin is held. A record for a sequence already held is compared
    /// with the held one: the same content is skipped without verifying (it changes nothing), other
    /// content that verifies is an equivocation, kept as evidence (``IndexLog/recordConflict(_:)``),
    /// and its origin is held from then on. Records beyond a gap are skipped; invalid ones are counted
    /// and dropped.
    /// - Returns: This node's records that incoming ones contradicted: the peer needs them to see the
    ///   equivocation too.
    private func accept(_ incoming: some Collection<IndexRecord>) async throws -> [IndexRecord] {
        guard !incoming.isEmpty else { return [] }
        let heads = try await log.heads()
        var held = Set(try await log.unresolvedConflicts().map(\.origin))
        held.remove(id)
        var next: [TrustID: UInt64] = [:]
        var verified: [IndexRecord] = []
        var contradicted: [IndexRecord] = []
        let ordered = incoming.sorted { ($0.origin, $0.sequence) < ($1.origin, $1.sequence) }
        for record in ordered {
            let keys = keyring.signingKeys(of: record.origin, issuedAt: record.issuedAt)
            guard !keys.isEmpty else {
                rejectedRecords += 1
                continue
            }
            let expected = next[record.origin] ?? (heads[record.origin]?.sequence ?? 0) + 1
            if record.sequence >= 1, record.sequence < expected {
                guard
                    let mine = try await heldRecord(
                        record.origin, record.sequence, head: heads[record.origin], stored: verified,
                        unlessMatching: record)
                else { continue }
                do {
                    try Self.verify(record, keys)
                } catch {
                    rejectedRecords += 1
                    continue
                }
                contradicted.append(mine)
                if try await log.recordConflict(IndexConflict(held: mine, other: record)) {
                    conflictsFound += 1
                    if record.origin != id { held.insert(record.origin) }
                }
                continue
            }
            guard !held.contains(record.origin) else {
                heldRecords += 1
                continue
            }
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
        if !verified.isEmpty {
            try await log.append(verified)
            acceptedRecords += verified.count
        }
        return contradicted
    }

    /// The record this node holds at `origin`'s `sequence` when it differs from `incoming`; `nil` when
    /// it is the same record, or not readable (the simulation's log stages a round's records).
    /// At the head, the fingerprint in hand settles "the same" without a read.
    private func heldRecord(
        _ origin: TrustID, _ sequence: UInt64, head: IndexHead?, stored: [IndexRecord],
        unlessMatching incoming: IndexRecord
    ) async throws -> IndexRecord? {
        let fingerprint = RecordFingerprint(incoming)
        if let mine = stored.first(where: { $0.origin == origin && $0.sequence == sequence }) {
            return RecordFingerprint(mine) == fingerprint ? nil : mine
        }
        if let head, head.sequence == sequence, head.fingerprint == fingerprint { return nil }
        guard let mine = try await log.records(origin: origin, after: sequence - 1, limit: 1).first,
            mine.sequence == sequence, mine.contentHash != incoming.contentHash
        else { return nil }
        return mine
    }
}
