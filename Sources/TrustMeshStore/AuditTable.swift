import Foundation
import GRDB
package import TrustMeshCrypto
package import TrustMeshModel

/// This node's audit log, its Merkle tree, and the signed tree heads it holds (its own and its
/// peers'), in the catalogue's SQLite file.
///
/// Each entry is sealed (sequence, link to the head's hash, hash, signature) inside the same write
/// transaction that inserts it, so appenders in several processes (a CLI command and the running
/// node) chain correctly: SQLite serialises the transactions and each reads the head the previous
/// one committed. The catalogue opens with `synchronous = FULL`, so an entry is durable once
/// `append` returns (https://www.sqlite.org/pragma.html#pragma_synchronous). For throughput,
/// ``appendBatch(_:key:)`` seals many entries in one transaction (one sync), and ``AuditWriter``
/// groups concurrent appends into such batches.
///
/// The Merkle tree (``MerkleTree``) is kept as every complete, aligned subtree's hash (table
/// `auditTree`, about two hashes per entry), extended in the transaction that appends the entry, so
/// a root or a proof costs `O(log² n)` lookups at any size. Version 1 checkpoints
/// (``storeCheckpoint(_:)``) are kept for logs and peers from before tree heads.
package final class AuditTable: Sendable {
    let pool: DatabasePool

    init(pool: DatabasePool) { self.pool = pool }

    static func migrate(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v4: audit log") { db in
            try db.execute(
                sql: """
                    CREATE TABLE auditEntry (
                        sequence INTEGER PRIMARY KEY NOT NULL,   -- 1, 2, 3… without gaps
                        time TEXT NOT NULL,                      -- YYYY-MM-DDTHH:MM:SSZ
                        kind TEXT NOT NULL,
                        json BLOB NOT NULL                       -- the sealed entry, JSON
                    );
                    CREATE TABLE peerCheckpoint (
                        trust TEXT PRIMARY KEY NOT NULL,         -- the peer whose log it pins
                        json BLOB NOT NULL                       -- its latest signed checkpoint, JSON
                    ) WITHOUT ROWID;
                    """
            )
        }
        migrator.registerMigration("v8: audit Merkle tree and signed tree heads") { db in
            try db.execute(
                sql: """
                    CREATE TABLE auditTree (
                        level INTEGER NOT NULL,                  -- 0 for leaves
                        idx INTEGER NOT NULL,                    -- the subtree's position at its level
                        hash BLOB NOT NULL,                      -- 32 bytes (MerkleTree)
                        PRIMARY KEY (level, idx)
                    ) WITHOUT ROWID;
                    CREATE TABLE treeHead (
                        trust TEXT NOT NULL,                     -- whose log: this node's or a peer's
                        treeSize INTEGER NOT NULL,
                        json BLOB NOT NULL,                      -- the signed tree head, JSON
                        PRIMARY KEY (trust, treeSize)
                    ) WITHOUT ROWID;
                    CREATE TABLE treeHeadConflict (
                        id INTEGER PRIMARY KEY,
                        trust TEXT NOT NULL,                     -- the trust that signed both heads
                        detectedAt TEXT NOT NULL,                -- YYYY-MM-DDTHH:MM:SSZ
                        reason TEXT NOT NULL,
                        first BLOB NOT NULL,                     -- the head held, JSON
                        second BLOB NOT NULL                     -- the head that contradicts it, JSON
                    );
                    """
            )
            // Logs written before the tree: build it from the entries, in order.
            let decoder = JSONDecoder()
            let rows = try Row.fetchCursor(db, sql: "SELECT json FROM auditEntry ORDER BY sequence")
            var index: UInt64 = 0
            while let row = try rows.next() {
                let entry = try decoder.decode(AuditEntry.self, from: row["json"] as Data)
                try appendLeaf(db, index: index, hash: MerkleTree.leafHash(entry.canonicalBytes))
                index += 1
            }
        }
    }

    /// Adds leaf `index` to the stored tree and every complete subtree it closes.
    private static func appendLeaf(_ db: Database, index: UInt64, hash: Digest256) throws {
        let insert = try db.cachedStatement(sql: "INSERT INTO auditTree (level, idx, hash) VALUES (?, ?, ?)")
        try insert.execute(arguments: [0, Int64(index), Data(hash.rawBytes)])
        var level = 0
        var position = index
        var right = hash
        while position & 1 == 1 {
            let left = try subtree(db, level: level, index: position - 1)
            right = MerkleTree.nodeHash(left, right)
            level += 1
            position >>= 1
            try insert.execute(arguments: [level, Int64(position), Data(right.rawBytes)])
        }
    }

    /// The stored hash of a complete subtree.
    private static func subtree(_ db: Database, level: Int, index: UInt64) throws -> Digest256 {
        let statement = try db.cachedStatement(sql: "SELECT hash FROM auditTree WHERE level = ? AND idx = ?")
        guard let data = try Data.fetchOne(statement, arguments: [level, Int64(clamping: index)]) else {
            throw StoreError.catalogue("the audit tree has no subtree at level \(level), index \(index)")
        }
        return try Digest256(rawBytes: Array(data))
    }

    /// Seals `draft` after the current head and stores it, in one write transaction.
    /// - Parameters:
    ///   - draft: The event; its trust must be the log's (the head's).
    ///   - key: The node's signing key.
    /// - Returns: The entry, durable on return.
    /// - Throws: ``StoreError`` if the draft names another trust than the log's, or a database error.
    @discardableResult
    package func append(_ draft: AuditEntry.Draft, key: SigningKey) throws -> AuditEntry {
        try appendBatch([draft], key: key)[0]
    }

    /// Seals `drafts`, in order, after the current head and stores them, in one write transaction:
    /// all or none, with one sync to disk.
    /// - Parameters:
    ///   - drafts: The events, each of the log's trust.
    ///   - key: The node's signing key.
    /// - Returns: The entries, in order, durable on return.
    /// - Throws: ``StoreError`` if a draft names another trust than the log's or has a subject key
    ///   that is not 1 to 64 ASCII letters and digits (nothing is stored), or a database error.
    @discardableResult
    package func appendBatch(_ drafts: [AuditEntry.Draft], key: SigningKey) throws -> [AuditEntry] {
        guard !drafts.isEmpty else { return [] }
        let encoder = JSONEncoder()
        return try pool.write { db in
            var head = try Self.head(db)
            var entries: [AuditEntry] = []
            entries.reserveCapacity(drafts.count)
            let statement = try db.cachedStatement(
                sql: "INSERT INTO auditEntry (sequence, time, kind, json) VALUES (?, ?, ?, ?)")
            for draft in drafts {
                if let head, head.trust != draft.trust {
                    throw StoreError.catalogue("an audit entry of \(draft.trust) cannot join \(head.trust)'s log")
                }
                // An entry that could not be read back would make the whole log unreadable.
                if let key = draft.subject.keys.first(where: { !$0.isWellFormed }) {
                    throw StoreError.catalogue(
                        "audit subject key '\(key.rawValue.prefix(64))' is not 1 to 64 ASCII letters and digits")
                }
                let entry = draft.sealed(previous: head, key: key)
                try statement.execute(arguments: [
                    Int64(entry.sequence), entry.time, entry.kind.rawValue, try encoder.encode(entry),
                ])
                try Self.appendLeaf(db, index: entry.sequence - 1, hash: MerkleTree.leafHash(entry.canonicalBytes))
                entries.append(entry)
                head = entry
            }
            return entries
        }
    }

    /// Every entry, in sequence order.
    package func all() throws -> [AuditEntry] { try after(sequence: 0) }

    /// The entries after `sequence`, in order, at most `limit` of them.
    /// - Parameters:
    ///   - sequence: Entries with a higher sequence number are returned (0 for all).
    ///   - limit: The most to return; `nil` for no limit.
    package func after(sequence: UInt64, limit: Int? = nil) throws -> [AuditEntry] {
        try pool.read { db in
            try Self.decode(
                Row.fetchAll(
                    db, sql: "SELECT json FROM auditEntry WHERE sequence > ? ORDER BY sequence LIMIT ?",
                    arguments: [Int64(clamping: sequence), limit ?? -1]))
        }
    }

    /// What the audit trail page asks for: entries about a patient, by an actor, with another trust.
    package struct TrailFilter: Sendable {
        /// Entries naming this NHS number, or one of ``studyUIDs``.
        package var nhsNumber: String?
        /// The patient's studies (a completed fetch names only the study).
        package var studyUIDs: [String] = []
        /// Entries whose actor contains this text, ignoring case.
        package var actor: String?
        /// Entries whose `peer` or `origin` is this ODS code.
        package var trust: String?

        /// A filter; every condition given must hold.
        package init(nhsNumber: String? = nil, studyUIDs: [String] = [], actor: String? = nil, trust: String? = nil) {
            self.nhsNumber = nhsNumber
            self.studyUIDs = studyUIDs
            self.actor = actor
            self.trust = trust
        }
    }

    /// The newest `limit` entries matching `filter`, newest first, and how many match in all:
    /// filtered in SQLite, so the cost in memory is the entries returned, not the log.
    package func trail(_ filter: TrailFilter, limit: Int) throws -> (entries: [AuditEntry], matching: Int) {
        let field = { (path: String) in "json_extract(CAST(json AS TEXT), '$.\(path)')" }
        var conditions: [String] = []
        var arguments: [any DatabaseValueConvertible] = []
        if let nhs = filter.nhsNumber {
            var either = "\(field("subject.nhsNumber")) = ?"
            arguments.append(nhs)
            if !filter.studyUIDs.isEmpty {
                either +=
                    " OR \(field("subject.studyUID")) IN (\(filter.studyUIDs.map { _ in "?" }.joined(separator: ", ")))"
                arguments += filter.studyUIDs
            }
            conditions.append("(\(either))")
        }
        if let actor = filter.actor, !actor.isEmpty {
            conditions.append("instr(trustmesh_lower(\(field("actor"))), ?) > 0")
            arguments.append(actor.lowercased())
        }
        if let trust = filter.trust, !trust.isEmpty {
            conditions.append("(upper(\(field("subject.peer"))) = ? OR upper(\(field("subject.origin"))) = ?)")
            arguments += [trust.uppercased(), trust.uppercased()]
        }
        let clause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        return try pool.read { db in
            db.add(function: Self.lowercase)
            // One scan: the window counts every match before LIMIT keeps the newest.
            let rows = try Row.fetchAll(
                db,
                sql:
                    "SELECT json, COUNT(*) OVER () AS matching FROM auditEntry \(clause) ORDER BY sequence DESC LIMIT ?",
                arguments: StatementArguments(arguments + [limit]))
            let matching: Int = rows.first?["matching"] ?? 0
            return (try Self.decode(rows), matching)
        }
    }

    /// Swift's Unicode lower-casing for SQL (SQLite's `lower` folds ASCII only: "Ünal" would not match "ünal").
    private static let lowercase = DatabaseFunction("trustmesh_lower", argumentCount: 1, pure: true) { values in
        String.fromDatabaseValue(values[0])?.lowercased()
    }

    /// The entries of some kinds, in sequence order.
    /// - Parameter kinds: The kinds wanted, e.g. `careAdded` and `fetchServed`.
    package func entries(kinds: Set<AuditEntry.Kind>) throws -> [AuditEntry] {
        guard !kinds.isEmpty else { return [] }
        let names = kinds.map(\.rawValue).sorted()
        return try pool.read { db in
            try Self.decode(
                Row.fetchAll(
                    db,
                    sql: "SELECT json FROM auditEntry WHERE kind IN (\(names.map { _ in "?" }.joined(separator: ", ")))"
                        + " ORDER BY sequence", arguments: StatementArguments(names)))
        }
    }

    /// The last entry, or `nil` for an empty log.
    package func head() throws -> AuditEntry? {
        try pool.read { db in try Self.head(db) }
    }

    /// How many entries the log holds: the last sequence, read from the primary key (entries run
    /// 1, 2, 3… without gaps; a `COUNT(*)` would read every entry).
    package func count() throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(sequence), 0) FROM auditEntry") ?? 0 }
    }

    // MARK: The Merkle tree

    /// A consistent view of the log's tree: its size and root, read in one transaction.
    package struct TreeState: Sendable, Equatable {
        /// How many entries (leaves) the log holds.
        package var size: UInt64
        /// The Merkle tree hash of all of them.
        package var root: Digest256
    }

    /// The tree of the whole log as it is now.
    package func treeState() throws -> TreeState {
        try pool.read { db in
            let size = try Self.leafCount(db)
            return TreeState(size: size, root: try Self.root(db, size: size))
        }
    }

    /// How many entries (leaves) the tree holds, without computing its root.
    package func treeSize() throws -> UInt64 {
        try pool.read { db in try Self.leafCount(db) }
    }

    /// The Merkle tree hash of the first `size` entries.
    /// - Throws: ``StoreError`` if the log holds fewer.
    package func treeRoot(size: UInt64) throws -> Digest256 {
        try pool.read { db in try Self.root(db, size: size) }
    }

    /// The audit path of entry `sequence` (leaf `sequence − 1`) in the tree of the first `size` entries.
    /// - Throws: ``StoreError`` if the entry is not among them or the log holds fewer.
    package func inclusionProof(sequence: UInt64, size: UInt64) throws -> [Digest256] {
        guard sequence >= 1, sequence <= size else {
            throw StoreError.catalogue("entry #\(sequence) is not in a tree of \(size) entries")
        }
        return try pool.read { db in
            try Self.requireSize(db, size)
            return try MerkleTree.inclusionProof(index: sequence - 1, size: size) {
                try Self.subtree(db, level: $0, index: $1)
            }
        }
    }

    /// The proof that the tree of the first `oldSize` entries is a prefix of that of the first `newSize`.
    /// - Throws: ``StoreError`` if `oldSize > newSize` or the log holds fewer than `newSize`.
    package func consistencyProof(from oldSize: UInt64, to newSize: UInt64) throws -> [Digest256] {
        guard oldSize <= newSize else {
            throw StoreError.catalogue("a tree of \(oldSize) entries cannot be a prefix of one of \(newSize)")
        }
        return try pool.read { db in
            try Self.requireSize(db, newSize)
            return try MerkleTree.consistencyProof(from: oldSize, to: newSize) {
                try Self.subtree(db, level: $0, index: $1)
            }
        }
    }

    private static func requireSize(_ db: Database, _ size: UInt64) throws {
        let held = try leafCount(db)
        guard size <= held else { throw StoreError.catalogue("the audit log holds \(held) entries, not \(size)") }
    }

    /// How many leaves the stored tree holds: one past the last leaf's index, read from the primary
    /// key (a `COUNT(*)` would scan every leaf: 65 ms at a million entries).
    private static func leafCount(_ db: Database) throws -> UInt64 {
        UInt64(try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(idx) + 1, 0) FROM auditTree WHERE level = 0") ?? 0)
    }

    private static func root(_ db: Database, size: UInt64) throws -> Digest256 {
        try requireSize(db, size)
        return try MerkleTree.hash(start: 0, end: size) { try subtree(db, level: $0, index: $1) }
    }

    // MARK: Signed tree heads

    /// How many tree heads are kept per trust (the newest; older ones are dropped). Heads that
    /// contradict each other are kept apart, for good (``treeHeadConflicts()``).
    package static let treeHeadHistory = 32

    /// Keeps a tree head (this node's own, or a peer's whose signature and consistency the caller
    /// verified), dropping the oldest beyond ``treeHeadHistory`` for its trust.
    /// - Returns: `false` if a head of that trust and size was already held (it is kept, unchanged).
    @discardableResult
    package func storeTreeHead(_ head: SignedTreeHead) throws -> Bool {
        let json = try JSONEncoder().encode(head)
        return try pool.write { db in
            try db.execute(
                sql: "INSERT INTO treeHead (trust, treeSize, json) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                arguments: [head.trust.code, Int64(clamping: head.treeSize), json])
            guard db.changesCount > 0 else { return false }
            try db.execute(
                sql: """
                    DELETE FROM treeHead WHERE trust = ?1 AND treeSize NOT IN (
                        SELECT treeSize FROM treeHead WHERE trust = ?1 ORDER BY treeSize DESC LIMIT ?2)
                    """,
                arguments: [head.trust.code, Self.treeHeadHistory])
            return true
        }
    }

    /// Signs a tree head of the whole log as it is now and keeps it (the node's gossip, and
    /// `trustmesh audit prove` when no head covers an entry yet), in one read of the tree.
    /// - Parameters:
    ///   - trust: This node's trust (the log's).
    ///   - key: The node's signing key.
    ///   - time: Now, `YYYY-MM-DDTHH:MM:SSZ`.
    package func signTreeHead(trust: TrustID, key: SigningKey, time: String) throws -> SignedTreeHead {
        let tree = try treeState()
        let head = SignedTreeHead.signed(
            trust: trust, treeSize: tree.size, rootHash: tree.root, time: time, key: key)
        try storeTreeHead(head)
        return head
    }

    /// The held tree head of `trust` at `size`, if any.
    package func treeHead(of trust: TrustID, size: UInt64) throws -> SignedTreeHead? {
        try pool.read { db in
            try Data.fetchOne(
                db, sql: "SELECT json FROM treeHead WHERE trust = ? AND treeSize = ?",
                arguments: [trust.code, Int64(clamping: size)]
            ).map { try JSONDecoder().decode(SignedTreeHead.self, from: $0) }
        }
    }

    /// The largest held tree head of `trust`, if any.
    package func latestTreeHead(of trust: TrustID) throws -> SignedTreeHead? {
        try pool.read { db in
            try Data.fetchOne(
                db, sql: "SELECT json FROM treeHead WHERE trust = ? ORDER BY treeSize DESC LIMIT 1",
                arguments: [trust.code]
            ).map { try JSONDecoder().decode(SignedTreeHead.self, from: $0) }
        }
    }

    /// Every held tree head, ordered by trust then size.
    package func treeHeads() throws -> [SignedTreeHead] {
        try pool.read { db in
            let decoder = JSONDecoder()
            return try Data.fetchAll(db, sql: "SELECT json FROM treeHead ORDER BY trust, treeSize").map {
                try decoder.decode(SignedTreeHead.self, from: $0)
            }
        }
    }

    /// Two signed heads of one trust that no append-only log can produce: the evidence of an
    /// equivocation.
    package struct TreeHeadConflict: Sendable, Equatable {
        /// The trust that signed both.
        package var trust: TrustID
        /// When this node found it, `YYYY-MM-DDTHH:MM:SSZ`.
        package var detectedAt: String
        /// Why they cannot both be true.
        package var reason: String
        /// The head held first.
        package var first: SignedTreeHead
        /// The head that contradicts it.
        package var second: SignedTreeHead

        /// The evidence of an equivocation.
        package init(
            trust: TrustID, detectedAt: String, reason: String, first: SignedTreeHead, second: SignedTreeHead
        ) {
            self.trust = trust
            self.detectedAt = detectedAt
            self.reason = reason
            self.first = first
            self.second = second
        }
    }

    /// Keeps the evidence of an equivocation, once per pair of heads.
    /// - Returns: `false` if the same pair was already recorded.
    @discardableResult
    package func recordTreeHeadConflict(_ conflict: TreeHeadConflict) throws -> Bool {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let first = try encoder.encode(conflict.first)
        let second = try encoder.encode(conflict.second)
        return try pool.write { db in
            let known =
                try Int.fetchOne(
                    db,
                    sql: """
                        SELECT COUNT(*) FROM treeHeadConflict
                        WHERE (first = ?1 AND second = ?2) OR (first = ?2 AND second = ?1)
                        """, arguments: [first, second]) ?? 0
            guard known == 0 else { return false }
            try db.execute(
                sql: "INSERT INTO treeHeadConflict (trust, detectedAt, reason, first, second) VALUES (?, ?, ?, ?, ?)",
                arguments: [conflict.trust.code, conflict.detectedAt, conflict.reason, first, second])
            return true
        }
    }

    /// Every equivocation found, oldest first.
    package func treeHeadConflicts() throws -> [TreeHeadConflict] {
        try pool.read { db in
            let decoder = JSONDecoder()
            return try Row.fetchAll(
                db, sql: "SELECT trust, detectedAt, reason, first, second FROM treeHeadConflict ORDER BY id"
            ).map { row in
                TreeHeadConflict(
                    trust: try TrustID(row["trust"] as String), detectedAt: row["detectedAt"], reason: row["reason"],
                    first: try decoder.decode(SignedTreeHead.self, from: row["first"] as Data),
                    second: try decoder.decode(SignedTreeHead.self, from: row["second"] as Data))
            }
        }
    }

    // MARK: Version 1 checkpoints

    /// What ``storeCheckpoint(_:)`` did with a peer's checkpoint.
    package enum CheckpointOutcome: Sendable, Equatable {
        /// It is the newest held for its trust.
        case stored
        /// A checkpoint at the same or a higher sequence was already held, and agrees; nothing changed.
        case notNewer
        /// A checkpoint at the same sequence with another head hash is held: the peer signed two
        /// histories. The held one is kept; both are evidence and should be audited.
        case conflicting(held: AuditCheckpoint)
    }

    /// Keeps a peer's checkpoint if it is newer (higher sequence) than the one held for that peer.
    ///
    /// The signature is not checked here: the node verifies it with the peer's pinned key first.
    /// - Parameter checkpoint: A verified checkpoint of a peer's log.
    /// - Returns: What happened.
    @discardableResult
    package func storeCheckpoint(_ checkpoint: AuditCheckpoint) throws -> CheckpointOutcome {
        let json = try JSONEncoder().encode(checkpoint)
        return try pool.write { db in
            if let row = try Row.fetchOne(
                db, sql: "SELECT json FROM peerCheckpoint WHERE trust = ?", arguments: [checkpoint.trust.code])
            {
                let held = try JSONDecoder().decode(AuditCheckpoint.self, from: row["json"] as Data)
                if held.sequence == checkpoint.sequence && held.headHash != checkpoint.headHash {
                    return .conflicting(held: held)
                }
                guard checkpoint.sequence > held.sequence else { return .notNewer }
            }
            try db.execute(
                sql: """
                    INSERT INTO peerCheckpoint (trust, json) VALUES (?, ?)
                    ON CONFLICT(trust) DO UPDATE SET json = excluded.json
                    """,
                arguments: [checkpoint.trust.code, json])
            return .stored
        }
    }

    /// The latest checkpoint held for each peer, ordered by trust.
    package func checkpoints() throws -> [AuditCheckpoint] {
        try pool.read { db in
            let decoder = JSONDecoder()
            return try Row.fetchAll(db, sql: "SELECT json FROM peerCheckpoint ORDER BY trust").map { row in
                try decoder.decode(AuditCheckpoint.self, from: row["json"] as Data)
            }
        }
    }

    private static func head(_ db: Database) throws -> AuditEntry? {
        try decode(Row.fetchAll(db, sql: "SELECT json FROM auditEntry ORDER BY sequence DESC LIMIT 1")).first
    }

    private static func decode(_ rows: [Row]) throws -> [AuditEntry] {
        let decoder = JSONDecoder()
        return try rows.map { row in try decoder.decode(AuditEntry.self, from: row["json"] as Data) }
    }
}
