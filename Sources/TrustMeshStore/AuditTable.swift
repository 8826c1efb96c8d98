import Foundation
import GRDB
package import TrustMeshCrypto
package import TrustMeshModel

/// This node's audit log and the latest audit checkpoints of its peers, in the catalogue's SQLite
/// file.
///
/// Each entry is sealed (sequence, link to the head's hash, hash, signature) inside the same write
/// transaction that inserts it, so appenders in several processes (a CLI command and the running
/// node) chain correctly: SQLite serialises the transactions and each reads the head the previous
/// one committed. The catalogue opens with `synchronous = FULL`, so an entry is durable once
/// `append` returns (https://www.sqlite.org/pragma.html#pragma_synchronous). For throughput,
/// ``appendBatch(_:key:)`` seals many entries in one transaction (one sync), and ``AuditWriter``
/// groups concurrent appends into such batches.
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

    /// How many entries the log holds.
    package func count() throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM auditEntry") ?? 0 }
    }

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
