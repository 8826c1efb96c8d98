import Foundation
import GRDB
package import TrustMeshCrypto
package import TrustMeshModel

/// The federated index as this node holds it: every verified index record from every origin (its
/// own included), per origin contiguous from sequence 1, in the catalogue's SQLite file.
///
/// The gossip layer sees it through its `IndexLog` protocol (an adapter in TrustMeshNode); the
/// node's own records are allocated their sequence numbers here, in one write transaction, so a
/// CLI ingest and a running node never hand out the same number.
///
/// Each origin's head (its highest sequence and that record's ``IndexRecord/contentHash``) is kept
/// in `indexHead`, written in the transaction that stores the record, so a gossip digest reads one
/// row per origin and hashes nothing.
package final class IndexTable: Sendable {
    let pool: DatabasePool

    init(pool: DatabasePool) { self.pool = pool }

    static func migrate(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v2: index records") { db in
            try db.execute(
                sql: """
                    CREATE TABLE indexRecord (
                        origin TEXT NOT NULL,
                        sequence INTEGER NOT NULL,
                        kind TEXT NOT NULL,
                        nhsNumber TEXT NOT NULL,
                        studyUID TEXT,
                        record BLOB NOT NULL,                -- the signed record, JSON
                        receivedAt TEXT NOT NULL,
                        PRIMARY KEY (origin, sequence)
                    ) WITHOUT ROWID;
                    CREATE INDEX indexRecord_nhs ON indexRecord(nhsNumber);
                    """
            )
        }
    }

    /// The table of heads, after every earlier migration (registered last, with the catalogue's
    /// other later migrations): filled from the records already held.
    static func migrateHeads(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v10: index heads") { db in
            try db.execute(
                sql: """
                    CREATE TABLE indexHead (
                        origin TEXT PRIMARY KEY NOT NULL,
                        sequence INTEGER NOT NULL,           -- the highest held; 1…sequence all are
                        contentHash BLOB NOT NULL            -- BLAKE2b-256 of that record's signed bytes
                    ) WITHOUT ROWID;
                    """)
            let tops = try Row.fetchAll(
                db,
                sql: """
                    SELECT record FROM indexRecord AS r
                    WHERE sequence = (SELECT MAX(sequence) FROM indexRecord WHERE origin = r.origin)
                    """)
            for record in try decode(tops) { try setHead(record, db: db) }
        }
    }

    /// The records clustered by patient (registered last): the table's key becomes
    /// `(nhsNumber, origin, sequence)`, so one patient's records sit together in a few pages and a
    /// federated query reads those pages, not one page per record scattered over the whole file
    /// (at 10 million records a 50-study patient touched about 150 pages, most of them not cached).
    /// `(origin, sequence)` stays unique through its own index, which gossip reads by; study UIDs
    /// get an index (a fetch asks who holds a study: it was a scan of the whole table), and so do
    /// opt-out records (a partial index: they are few). A catalogue from before is rebuilt in one
    /// transaction, in key order: minutes at 10 million records, once.
    static func migrateClustered(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v14: index records clustered by patient") { db in
            try db.execute(
                sql: """
                    CREATE TABLE indexRecordByPatient (
                        origin TEXT NOT NULL,
                        sequence INTEGER NOT NULL,
                        kind TEXT NOT NULL,
                        nhsNumber TEXT NOT NULL,
                        studyUID TEXT,
                        record BLOB NOT NULL,                -- the signed record, JSON
                        receivedAt TEXT NOT NULL,
                        PRIMARY KEY (nhsNumber, origin, sequence)
                    ) WITHOUT ROWID;
                    INSERT INTO indexRecordByPatient (origin, sequence, kind, nhsNumber, studyUID, record, receivedAt)
                        SELECT origin, sequence, kind, nhsNumber, studyUID, record, receivedAt FROM indexRecord
                        ORDER BY nhsNumber, origin, sequence;
                    DROP TABLE indexRecord;
                    ALTER TABLE indexRecordByPatient RENAME TO indexRecord;
                    CREATE UNIQUE INDEX indexRecord_origin ON indexRecord(origin, sequence);
                    CREATE INDEX indexRecord_study ON indexRecord(studyUID) WHERE studyUID IS NOT NULL;
                    CREATE INDEX indexRecord_optOut ON indexRecord(nhsNumber)
                        WHERE kind IN ('optOut', 'optOutWithdrawn');
                    """)
        }
    }

    /// Per origin, the highest sequence held.
    package func digest() throws -> [TrustID: UInt64] {
        try heads().mapValues(\.sequence)
    }

    /// Per origin, the highest sequence held and that record's content hash: one row per origin.
    package func heads() throws -> [TrustID: (sequence: UInt64, contentHash: Digest256)] {
        try pool.read { db in
            var heads: [TrustID: (sequence: UInt64, contentHash: Digest256)] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT origin, sequence, contentHash FROM indexHead") {
                guard let origin = try? TrustID(row["origin"] as String) else { continue }
                let sequence: Int64 = row["sequence"]
                heads[origin] = (UInt64(sequence), try Digest256(rawBytes: Array(row["contentHash"] as Data)))
            }
            return heads
        }
    }

    /// The record of `origin` at `sequence`, if held.
    package func record(origin: TrustID, sequence: UInt64) throws -> IndexRecord? {
        try pool.read { db in try Self.record(origin: origin, sequence: sequence, db: db) }
    }

    static func record(origin: TrustID, sequence: UInt64, db: Database) throws -> IndexRecord? {
        try decode(
            Row.fetchAll(
                db, sql: "SELECT record FROM indexRecord WHERE origin = ? AND sequence = ?",
                arguments: [origin.code, Int64(clamping: sequence)])
        ).first
    }

    /// Puts `record` in place of the record held at its origin and sequence (an operator resolving
    /// an equivocation chose it), in the caller's transaction; its head too, if it is the head.
    /// - Throws: ``StoreError`` if no record is held there.
    static func replace(with record: IndexRecord, db: Database, encoder: JSONEncoder = JSONEncoder()) throws {
        try db.execute(
            sql: """
                UPDATE indexRecord SET kind = ?, nhsNumber = ?, studyUID = ?, record = ?, receivedAt = ?
                WHERE origin = ? AND sequence = ?
                """,
            arguments: [
                record.kind.rawValue, record.nhsNumber.digits, record.studyUID, try encoder.encode(record),
                ISO8601DateFormatter().string(from: Date()), record.origin.code, Int64(record.sequence),
            ])
        guard db.changesCount == 1 else {
            throw StoreError.catalogue("no index record \(record.origin)#\(record.sequence) to replace")
        }
        try db.execute(
            sql: "UPDATE indexHead SET contentHash = ? WHERE origin = ? AND sequence = ?",
            arguments: [Data(record.contentHash.rawBytes), record.origin.code, Int64(record.sequence)])
    }

    /// An origin's records after `after`, in order, at most `limit`.
    package func records(origin: TrustID, after: UInt64, limit: Int) throws -> [IndexRecord] {
        try pool.read { db in
            try Self.decode(
                Row.fetchAll(
                    db,
                    sql: "SELECT record FROM indexRecord WHERE origin = ? AND sequence > ? ORDER BY sequence LIMIT ?",
                    arguments: [origin.code, Int64(after), limit]))
        }
    }

    /// Stores verified records that extend their origin's log contiguously; records already held are
    /// ignored and records beyond a gap are dropped (anti-entropy brings them after the gap).
    /// - Returns: the records stored (not those already held or beyond a gap).
    @discardableResult
    package func append(_ records: [IndexRecord]) throws -> [IndexRecord] {
        let ordered = records.sorted { ($0.origin, $0.sequence) < ($1.origin, $1.sequence) }
        let encoder = JSONEncoder()
        let now = ISO8601DateFormatter().string(from: Date())
        return try pool.write { db in
            var stored: [IndexRecord] = []
            var tops: [TrustID: UInt64] = [:]
            for record in ordered {
                let top: UInt64
                if let known = tops[record.origin] {
                    top = known
                } else {
                    top = try Self.headSequence(record.origin, db: db)
                }
                guard record.sequence == top + 1 else {
                    tops[record.origin] = top
                    continue
                }
                tops[record.origin] = record.sequence
                stored.append(record)
            }
            // Inserted in the table's key order (patient first): a batch of many then touches each
            // page once rather than jumping about the file.
            for record in stored.sorted(by: { $0.nhsNumber.digits < $1.nhsNumber.digits }) {
                try Self.insert(record, db: db, encoder: encoder, now: now)
            }
            return stored
        }
    }

    /// Allocates this node's next sequence number, lets `make` build and sign the record, and stores
    /// it, all in one transaction. `make` returns nil to publish nothing.
    package func publish(origin: TrustID, _ make: (UInt64) throws -> IndexRecord?) throws -> IndexRecord? {
        let encoder = JSONEncoder()
        let now = ISO8601DateFormatter().string(from: Date())
        return try pool.write { db in
            let top = try Self.headSequence(origin, db: db)
            guard let record = try make(top + 1) else { return nil }
            try Self.insert(record, db: db, encoder: encoder, now: now)
            return record
        }
    }

    /// Every record that concerns one patient (their studies and any opt-out), from every origin.
    package func records(nhs: NHSNumber) throws -> [IndexRecord] {
        try pool.read { db in try Self.records(nhs: nhs, db: db) }
    }

    /// Every record that concerns one patient and which of the studies they name this node holds,
    /// in one read: what a federated query needs.
    package func patient(nhs: NHSNumber) throws -> (records: [IndexRecord], held: Set<String>) {
        try pool.read { db in
            let records = try Self.records(nhs: nhs, db: db)
            // `study` is the catalogue's table of the studies held here, in the same file.
            let held = try String.fetchSet(
                db.cachedStatement(
                    sql: """
                        SELECT studyUID FROM study
                        WHERE studyUID IN (SELECT studyUID FROM indexRecord WHERE nhsNumber = ?)
                        """), arguments: [nhs.digits])
            return (records, held)
        }
    }

    private static func records(nhs: NHSNumber, db: Database) throws -> [IndexRecord] {
        try decode(
            Row.fetchAll(
                db.cachedStatement(sql: "SELECT record FROM indexRecord WHERE nhsNumber = ? ORDER BY origin, sequence"),
                arguments: [nhs.digits]))
    }

    /// Every patient with an opt-out record or a withdrawal, from any origin, in NHS number order.
    package func patientsWithOptOutRecords() throws -> [NHSNumber] {
        try pool.read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT DISTINCT nhsNumber FROM indexRecord INDEXED BY indexRecord_optOut
                    WHERE kind IN ('optOut', 'optOutWithdrawn') ORDER BY nhsNumber
                    """
            ).compactMap { try? NHSNumber($0) }
        }
    }

    /// The latest record an origin published for a study, if any.
    package func latest(origin: TrustID, studyUID: String) throws -> IndexRecord? {
        try pool.read { db in
            try Self.decode(
                Row.fetchAll(
                    db,
                    sql: """
                        SELECT record FROM indexRecord INDEXED BY indexRecord_study
                        WHERE studyUID = ? AND origin = ? ORDER BY sequence DESC LIMIT 1
                        """,
                    arguments: [studyUID, origin.code])
            ).first
        }
    }

    /// Records held per origin: each origin's head sequence, since an origin's records are held
    /// contiguously from 1. One row per origin, never a count of the records.
    package func countsByOrigin() throws -> [TrustID: Int] {
        try digest().mapValues { Int(clamping: $0) }
    }

    /// The highest sequence held of `origin` (0 for none), from its head row.
    private static func headSequence(_ origin: TrustID, db: Database) throws -> UInt64 {
        UInt64(
            try Int64.fetchOne(
                db.cachedStatement(sql: "SELECT sequence FROM indexHead WHERE origin = ?"), arguments: [origin.code])
                ?? 0)
    }

    private static func insert(_ record: IndexRecord, db: Database, encoder: JSONEncoder, now: String) throws {
        // Cached statements: gossip and a catch-up store hundreds of records per transaction.
        try db.cachedStatement(
            sql: """
                INSERT INTO indexRecord (origin, sequence, kind, nhsNumber, studyUID, record, receivedAt)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(
            arguments: [
                record.origin.code, Int64(record.sequence), record.kind.rawValue, record.nhsNumber.digits,
                record.studyUID, try encoder.encode(record), now,
            ])
        try setHead(record, db: db)
    }

    /// Makes `record` its origin's head (it has just been stored with the highest sequence).
    private static func setHead(_ record: IndexRecord, db: Database) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO indexHead (origin, sequence, contentHash) VALUES (?, ?, ?)
                ON CONFLICT(origin) DO UPDATE SET sequence = excluded.sequence, contentHash = excluded.contentHash
                WHERE excluded.sequence > indexHead.sequence
                """
        ).execute(
            arguments: [record.origin.code, Int64(record.sequence), Data(record.contentHash.rawBytes)])
    }

    /// The records of rows with a `record` column: read by ``IndexRecordReader`` where it can (the
    /// common shape, about twenty times faster), else by `JSONDecoder`.
    static func decode(_ rows: [Row]) throws -> [IndexRecord] {
        let decoder = JSONDecoder()
        return try rows.map { row in
            let json: Data = row["record"]
            if let record = json.withUnsafeBytes(IndexRecordReader.read) { return record }
            return try decoder.decode(IndexRecord.self, from: json)
        }
    }
}

extension IndexTable {
    /// For a study, each origin's latest record, where that record still lists the study (not
    /// withdrawn), newest first: ``IndexView``'s rule over the study's records.
    package func latestStudyRecords(studyUID: String) throws -> [IndexRecord] {
        let all = try pool.read { db in
            try Self.decode(
                Row.fetchAll(
                    db.cachedStatement(
                        sql: """
                            SELECT record FROM indexRecord INDEXED BY indexRecord_study
                            WHERE studyUID = ? ORDER BY origin, sequence
                            """), arguments: [studyUID]))
        }
        return IndexView(all).holders(of: studyUID)
    }
}
