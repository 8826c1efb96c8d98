public import TrustMeshCrypto
public import TrustMeshModel

/// A trust's audit log as a hash chain: appending drafts to a head, and verifying a whole log.
///
/// Pure functions over values: no clock, no I/O. The store appends through
/// `AuditEntry.Draft.sealed(previous:key:)` inside one database transaction; this type does the same
/// for a chain held in memory (tests, simulations) and checks logs read back from an export.
///
/// ## What verification checks
///
/// For each entry, in the order given, the first of these that fails is reported (see
/// ``AuditError``): it belongs to the log's trust (`wrong trust`); it is the next sequence number
/// (`duplicate`, `out of order`, or `sequence gap` when the expected entries appear nowhere); its
/// canonical encoding hashes to its `hash` (`bad hash`); its signature verifies (`bad signature`);
/// its `previousHash` is the hash of the entry before it, or zero for entry 1 (`broken link`); its
/// time is `YYYY-MM-DDTHH:MM:SSZ` (`malformed time`).
///
/// Signatures are checked with the trust's pinned key, except before a `keyChanged` entry: such an
/// entry is signed with the new key and its details name the previous key, which then checks the
/// entries before it. The pinned key therefore vouches, through the hash links, for every earlier
/// key. Verified against a network's statements instead (``verify(_:trust:keys:)`` with
/// ``AuditKeys/init(network:pinned:)``), each entry is checked with the keys of its trust valid at
/// its own `time`: one signed with a revoked key at or after the revocation's `since` fails as
/// `revoked key`, one outside its certificate's period as `key not valid`. Chain checks cannot see
/// entries removed from the end: tree heads (and version 1
/// checkpoints) that peers hold do (``VerifiedAuditLog/check(_:heldBy:)``).
///
/// ```swift
/// var chain = AuditChain(trust: rrk)
/// let first = try chain.append(draft, key: nodeKey)
/// let log = try AuditChain.verify([first], key: nodeKey.verifyingKey)
/// try log.check(peerCheckpoint, heldBy: rq3)
/// ```
public struct AuditChain: Sendable {
    /// The trust whose log this is.
    public let trust: TrustID
    /// The last entry appended, or `nil` for an empty log.
    public private(set) var head: AuditEntry?

    /// A chain continuing from `head`.
    /// - Parameters:
    ///   - trust: The trust whose log it is.
    ///   - head: The log's last entry, or `nil` to start a new log.
    public init(trust: TrustID, head: AuditEntry? = nil) {
        self.trust = trust
        self.head = head
    }

    /// Seals a draft as the next entry and makes it the head.
    /// - Parameters:
    ///   - draft: The event; its `trust` must be this chain's.
    ///   - key: The node's signing key.
    /// - Returns: The new entry.
    /// - Throws: ``AuditError/wrongTrust(trust:sequence:found:)`` if the draft names another trust.
    public mutating func append(_ draft: AuditEntry.Draft, key: SigningKey) throws(AuditError) -> AuditEntry {
        guard draft.trust == trust else {
            throw .wrongTrust(trust: trust, sequence: (head?.sequence ?? 0) + 1, found: draft.trust)
        }
        let entry = draft.sealed(previous: head, key: key)
        head = entry
        return entry
    }

    /// A signed checkpoint of the head, or `nil` for an empty log.
    /// - Parameters:
    ///   - time: Now, `YYYY-MM-DDTHH:MM:SSZ`.
    ///   - key: The node's signing key.
    public func checkpoint(time: String, key: SigningKey) -> AuditCheckpoint? {
        head.map {
            AuditCheckpoint.signed(trust: trust, sequence: $0.sequence, headHash: $0.hash, time: time, key: key)
        }
    }

    /// Verifies a whole log: entries 1, 2, 3… of one trust, each hashed, signed and linked.
    /// - Parameters:
    ///   - entries: The log, in the order read.
    ///   - trust: The trust whose log it should be; by default the first entry's.
    ///   - key: The trust's pinned signing key (its current one, if it ever changed keys).
    /// - Returns: The verified log, ready to check against checkpoints.
    /// - Throws: ``AuditError`` for the first failure, naming the trust, the entry and what failed.
    public static func verify(_ entries: [AuditEntry], trust: TrustID? = nil, key: VerifyingKey) throws(AuditError)
        -> VerifiedAuditLog
    {
        guard let trust = trust ?? entries.first?.trust else {
            throw .malformed(line: 0, reason: "the log has no entries and names no trust")
        }
        return try verify(entries, trust: trust, source: .pinned(key))
    }

    /// Verifies a whole log with the keys ``AuditKeys`` gives its trust: the pinned key (following
    /// `keyChanged` entries back), or the keys a network's statements say were valid at each entry's
    /// time.
    /// - Parameters:
    ///   - entries: The log, in the order read.
    ///   - trust: The trust whose log it should be; by default the first entry's.
    ///   - keys: Where the trust's keys come from.
    /// - Returns: The verified log, ready to check against tree heads and checkpoints.
    /// - Throws: ``AuditError`` for the first failure (`unknown trust` if `keys` has none for the
    ///   trust; `revoked key` or `key not valid` for an entry signed with a key not valid at its time).
    public static func verify(_ entries: [AuditEntry], trust: TrustID? = nil, keys: AuditKeys) throws(AuditError)
        -> VerifiedAuditLog
    {
        guard let trust = trust ?? entries.first?.trust else {
            throw .malformed(line: 0, reason: "the log has no entries and names no trust")
        }
        guard let source = keys.source(of: trust) else { throw .unknownTrust(trust) }
        return try verify(entries, trust: trust, source: source)
    }

    static func verify(_ entries: [AuditEntry], trust: TrustID, source: AuditKeys.Source) throws(AuditError)
        -> VerifiedAuditLog
    {
        let inspection = inspect(entries, trust: trust, source: source)
        if let first = inspection.problems.first { throw first }
        return VerifiedAuditLog(trust: trust, entries: inspection.authentic, keys: inspection.keys, source: source)
    }

    /// Checks one entry on its own: its hash and its signature with `key` (not its place in the
    /// chain). For re-checking entries shown on a page whose chain was checked earlier.
    /// - Returns: `bad hash` or `bad signature`, or `nil` if both hold.
    public static func checkAlone(_ entry: AuditEntry, key: VerifyingKey) -> AuditError? {
        let message = entry.canonicalBytes
        let computed = BLAKE2b256.hash(message)
        guard computed == entry.hash else {
            return .badHash(trust: entry.trust, sequence: entry.sequence, computed: computed, recorded: entry.hash)
        }
        guard (try? key.verify(entry.signature, for: message)) != nil else {
            return .badSignature(trust: entry.trust, sequence: entry.sequence)
        }
        return nil
    }

    /// One entry of a log and what, if anything, is wrong with it.
    public struct EntryCheck: Sendable {
        public var entry: AuditEntry
        /// Nil when the entry verifies; otherwise the first thing found wrong with it.
        public var problem: AuditError?

        /// An entry and its verdict.
        public init(entry: AuditEntry, problem: AuditError?) {
            self.entry = entry
            self.problem = problem
        }
    }

    /// Checks every entry as ``verify(_:trust:key:)`` does (hash, signature by the key in force,
    /// following `keyChanged` entries, link, sequence, time), without stopping at the first failure:
    /// for a page that shows each entry with its verification.
    /// - Parameters:
    ///   - entries: The log, in the order read.
    ///   - trust: The trust whose log it is.
    ///   - key: The trust's pinned signing key (its current one).
    ///   - previous: The verified entry just before `entries`, when they continue a log checked
    ///     earlier (a page that checks the new entries only); `nil` when `entries` start at #1.
    public static func check(
        _ entries: [AuditEntry], trust: TrustID, key: VerifyingKey, after previous: AuditEntry? = nil
    ) -> [EntryCheck] {
        let inspection = inspect(entries, trust: trust, source: .pinned(key), after: previous)
        return entries.enumerated().map { EntryCheck(entry: $1, problem: inspection.problemAt[$0]) }
    }

    /// Every problem in a log, not just the first, and the entries that are authentic.
    struct Inspection {
        var problems: [AuditError] = []
        /// The first problem found with the entry at each index.
        var problemAt: [Int: AuditError] = [:]
        /// Entries of the trust whose hash and signature hold, in the order given.
        var authentic: [AuditEntry] = []
        /// The key that verified each of ``authentic``.
        var keys: [VerifyingKey] = []

        mutating func found(_ problem: AuditError, at index: Int) {
            problems.append(problem)
            if problemAt[index] == nil { problemAt[index] = problem }
        }
    }

    /// Checks every entry, recovering after each problem so that later ones are found too.
    /// With a pinned key, each entry is checked with the key in force (following `keyChanged`
    /// entries back); with a network, with the keys of the trust valid at the entry's time.
    static func inspect(
        _ entries: [AuditEntry], trust: TrustID, source: AuditKeys.Source, after start: AuditEntry? = nil
    ) -> Inspection {
        var result = Inspection()
        var keys: [VerifyingKey] = []
        if case .pinned(let pinned) = source { keys = signingKeys(entries, trust: trust, pinned: pinned) }
        let present = Set(entries.lazy.filter { $0.trust == trust }.map(\.sequence))
        var seen: Set<UInt64> = []
        var previous: AuditEntry? = start
        var expected: UInt64 = (start?.sequence ?? 0) + 1
        for (index, entry) in entries.enumerated() {
            let sequence = entry.sequence
            guard entry.trust == trust else {
                result.found(.wrongTrust(trust: trust, sequence: sequence, found: entry.trust), at: index)
                continue
            }
            guard seen.insert(sequence).inserted else {
                result.found(.duplicate(trust: trust, sequence: sequence), at: index)
                continue
            }
            if sequence != expected {
                if sequence > expected && !present.contains(expected) {
                    result.found(.sequenceGap(trust: trust, sequence: sequence, expected: expected), at: index)
                } else {
                    result.found(.outOfOrder(trust: trust, sequence: sequence, expected: expected), at: index)
                }
            }
            expected = sequence &+ 1
            let message = entry.canonicalBytes
            let computed = BLAKE2b256.hash(message)
            guard computed == entry.hash else {
                result.found(
                    .badHash(trust: trust, sequence: sequence, computed: computed, recorded: entry.hash), at: index)
                previous = nil
                continue
            }
            let judgement: AuditKeys.Judgement
            if case .pinned = source {
                let key = keys[index]
                judgement = (try? key.verify(entry.signature, for: message)) != nil ? .signed(key) : .unsigned
            } else {
                judgement = AuditKeys.judge(source, trust: trust, time: entry.time) {
                    (try? $0.verify(entry.signature, for: message)) != nil
                }
            }
            guard let key = judgement.key else {
                let problem = judgement.problem(trust: trust, sequence: sequence, time: entry.time, source: source)
                result.found(problem ?? .badSignature(trust: trust, sequence: sequence), at: index)
                previous = nil
                continue
            }
            if sequence == 1 {
                if entry.previousHash != AuditEntry.zeroHash {
                    result.found(.brokenLink(trust: trust, sequence: sequence, previous: nil), at: index)
                }
            } else if let previous, previous.sequence == sequence - 1, entry.previousHash != previous.hash {
                result.found(.brokenLink(trust: trust, sequence: sequence, previous: previous.hash), at: index)
            }
            if CareTime.parse(entry.time) == nil {
                result.found(.malformedTime(trust: trust, sequence: sequence, time: entry.time), at: index)
            }
            if entry.kind == .keyChanged, entry.details.flatMap({ try? VerifyingKey(base64: $0) }) == nil {
                result.found(.badKeyChange(trust: trust, sequence: sequence), at: index)
            }
            result.authentic.append(entry)
            result.keys.append(key)
            previous = entry
        }
        return result
    }

    /// The key each entry must be signed with: the pinned key, walking back from the end, until a
    /// `keyChanged` entry that verifies with the key in force names the key before it.
    private static func signingKeys(_ entries: [AuditEntry], trust: TrustID, pinned: VerifyingKey) -> [VerifyingKey] {
        var keys = [VerifyingKey](repeating: pinned, count: entries.count)
        var key = pinned
        for index in entries.indices.reversed() {
            let entry = entries[index]
            keys[index] = key
            guard entry.trust == trust, entry.kind == .keyChanged, let details = entry.details,
                let previousKey = try? VerifyingKey(base64: details)
            else { continue }
            let message = entry.canonicalBytes
            guard BLAKE2b256.hash(message) == entry.hash, (try? key.verify(entry.signature, for: message)) != nil
            else { continue }
            key = previousKey
        }
        return keys
    }
}

/// A log that passed ``AuditChain/verify(_:trust:key:)``: entries 1…n of one trust, each authentic
/// and linked to the one before.
public struct VerifiedAuditLog: Sendable {
    /// The trust whose log it is.
    public let trust: TrustID
    /// Entries 1…n, in order.
    public let entries: [AuditEntry]
    /// The key that signed each entry.
    let keys: [VerifyingKey]
    /// Where the trust's keys come from: its pinned (current) key, or a network's statements.
    let source: AuditKeys.Source

    /// The Merkle tree of the entries (``MerkleTree``), for tree heads and proofs.
    public let tree: MerkleTree.InMemory

    init(trust: TrustID, entries: [AuditEntry], keys: [VerifyingKey], source: AuditKeys.Source) {
        self.trust = trust
        self.entries = entries
        self.keys = keys
        self.source = source
        var tree = MerkleTree.InMemory()
        for entry in entries { tree.append(MerkleTree.leafHash(entry.canonicalBytes)) }
        self.tree = tree
    }

    /// Checks the log against a tree head the trust signed (typically one a peer held).
    ///
    /// The head must verify with the key in force at its last entry (or the pinned key) — with a
    /// network, with a key of the trust valid at the head's time — have at least one entry and a
    /// well-formed time; then the log must hold at least ``SignedTreeHead/treeSize``
    /// entries, and the Merkle tree of that many must have the head's root.
    /// - Parameters:
    ///   - head: A tree head of this log's trust.
    ///   - heldBy: The trust that held it, for the message.
    /// - Throws: ``AuditError/badTreeHead(trust:treeSize:heldBy:)``,
    ///   ``AuditError/truncated(trust:treeSize:logEnd:heldBy:)`` or
    ///   ``AuditError/rewritten(trust:treeSize:logRoot:headRoot:heldBy:)``.
    public func check(_ head: SignedTreeHead, heldBy: TrustID?) throws(AuditError) {
        let size = head.treeSize
        let judgement = AuditKeys.judge(source, trust: trust, time: head.time, logKeys: candidates(at: size)) {
            (try? head.verify(with: $0)) != nil
        }
        guard head.trust == trust, size >= 1, CareTime.parse(head.time) != nil, judgement.key != nil else {
            throw .badTreeHead(
                trust: trust, treeSize: size, heldBy: heldBy, why: judgement.why(time: head.time, source: source))
        }
        guard size <= UInt64(entries.count) else {
            throw .truncated(trust: trust, treeSize: size, logEnd: UInt64(entries.count), heldBy: heldBy)
        }
        let root = try! tree.root(size: size)
        guard root == head.rootHash else {
            throw .rewritten(trust: trust, treeSize: size, logRoot: root, headRoot: head.rootHash, heldBy: heldBy)
        }
    }

    /// The last entry, or `nil` for an empty log.
    public var head: AuditEntry? { entries.last }

    /// With a pinned key, the keys a tree head of `size` entries (or a checkpoint at that sequence)
    /// may be signed with: the key in force at entry `size` (or at the last entry, past the end),
    /// then the pinned key. Empty with a network (the head's own time decides).
    private func candidates(at size: UInt64) -> [VerifyingKey] {
        guard case .pinned(let pinned) = source else { return [] }
        if size >= 1, size <= UInt64(entries.count) { return [keys[Int(size - 1)], pinned] }
        return (keys.last.map { [$0] } ?? []) + [pinned]
    }

    /// Checks the log against a checkpoint the trust signed (typically one a peer held).
    ///
    /// The checkpoint must verify with the key in force at its sequence (or the pinned key); then
    /// the log must reach its sequence, and the entry there must have its head hash.
    /// - Parameters:
    ///   - checkpoint: A checkpoint of this log's trust.
    ///   - heldBy: The trust that held it, for the message.
    /// - Throws: ``AuditError/badCheckpoint(trust:sequence:heldBy:)`` if the trust did not sign it,
    ///   ``AuditError/truncated(trust:sequence:logEnd:heldBy:)`` if the log ends before it, or
    ///   ``AuditError/rewritten(trust:sequence:logHash:checkpointHash:heldBy:)`` if the entry differs.
    public func check(_ checkpoint: AuditCheckpoint, heldBy: TrustID?) throws(AuditError) {
        let sequence = checkpoint.sequence
        let judgement = AuditKeys.judge(
            source, trust: trust, time: checkpoint.time, logKeys: candidates(at: sequence)
        ) { (try? checkpoint.verify(with: $0)) != nil }
        guard checkpoint.trust == trust, sequence >= 1, judgement.key != nil else {
            throw .badCheckpoint(
                trust: trust, sequence: sequence, heldBy: heldBy,
                why: judgement.why(time: checkpoint.time, source: source))
        }
        guard sequence <= UInt64(entries.count) else {
            throw .truncated(trust: trust, sequence: sequence, logEnd: UInt64(entries.count), heldBy: heldBy)
        }
        let entry = entries[Int(sequence - 1)]
        guard entry.hash == checkpoint.headHash else {
            throw .rewritten(
                trust: trust, sequence: sequence, logHash: entry.hash, checkpointHash: checkpoint.headHash,
                heldBy: heldBy)
        }
    }
}
