package import Foundation
import GRDB

/// The pre-fetch tasks this node has planned (one prior study for one patient because of one feed
/// event), in the catalogue's SQLite file so that a restart loses none.
///
/// The task itself is the pre-fetch engine's JSON (`TrustMeshPrefetch.PrefetchTask`); the columns
/// beside it are what the engine looks tasks up by. States: `waiting` (for its time), `fetching`,
/// `ready`, `failed` (with the reason, e.g. the holder's refusal rule), `cancelled` (a cancellation
/// or a past appointment).
package final class PrefetchTable: Sendable {
    let pool: DatabasePool

    init(pool: DatabasePool) { self.pool = pool }

    static func migrate(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v16: pre-fetch tasks") { db in
            try db.execute(
                sql: """
                    CREATE TABLE prefetchTask (
                        id INTEGER PRIMARY KEY,
                        nhsNumber TEXT NOT NULL,
                        studyUID TEXT NOT NULL,
                        source TEXT NOT NULL,                -- the feed that asked
                        reference TEXT,                      -- the feed's appointment/order reference
                        notBefore REAL NOT NULL,             -- seconds since 1970
                        state TEXT NOT NULL,                 -- waiting, fetching, ready, failed, cancelled
                        fetchID TEXT,                        -- the fetch, once started
                        detail TEXT,                         -- why it failed or was cancelled
                        task BLOB NOT NULL,                  -- the planned task, JSON
                        updatedAt REAL NOT NULL
                    );
                    CREATE INDEX prefetchTask_patient ON prefetchTask(nhsNumber);
                    CREATE INDEX prefetchTask_waiting ON prefetchTask(notBefore) WHERE state = 'waiting';
                    CREATE INDEX prefetchTask_fetching ON prefetchTask(state) WHERE state = 'fetching';
                    """)
        }
    }

    /// One stored task.
    package struct Row: Sendable, Equatable {
        package var id: Int64
        package var state: String
        package var fetchID: String?
        package var detail: String?
        /// The task's JSON.
        package var task: Data
    }

    /// Stores new tasks, `waiting`.
    package func add(
        _ tasks: [(
            nhsNumber: String, studyUID: String, source: String, reference: String?, notBefore: Date, json: Data
        )],
        now: Date = Date()
    ) throws {
        guard !tasks.isEmpty else { return }
        try pool.write { db in
            let statement = try db.cachedStatement(
                sql: """
                    INSERT INTO prefetchTask (nhsNumber, studyUID, source, reference, notBefore, state, task, updatedAt)
                    VALUES (?, ?, ?, ?, ?, 'waiting', ?, ?)
                    """)
            for task in tasks {
                try statement.execute(arguments: [
                    task.nhsNumber, task.studyUID, task.source, task.reference, task.notBefore.timeIntervalSince1970,
                    task.json, now.timeIntervalSince1970,
                ])
            }
        }
    }

    /// Cancels a patient's waiting tasks that one feed planned under one reference (a
    /// cancellation, a past appointment).
    /// - Returns: how many were cancelled.
    @discardableResult
    package func cancel(
        nhsNumber: String, source: String, reference: String?, detail: String, now: Date = Date()
    ) throws -> Int {
        try pool.write { db in
            try db.execute(
                sql: """
                    UPDATE prefetchTask SET state = 'cancelled', detail = ?, updatedAt = ?
                    WHERE nhsNumber = ? AND source = ? AND reference IS ? AND state = 'waiting'
                    """,
                arguments: [detail, now.timeIntervalSince1970, nhsNumber, source, reference])
            return db.changesCount
        }
    }

    /// Every task planned for a patient, any state, oldest first.
    package func tasks(nhsNumber: String) throws -> [Row] {
        try pool.read { db in
            try Row.fetch(db, "WHERE nhsNumber = ? ORDER BY id", [nhsNumber])
        }
    }

    /// Waiting tasks whose time has come, oldest first, at most `limit`.
    package func due(now: Date, limit: Int = 32) throws -> [Row] {
        try pool.read { db in
            try Row.fetch(
                db, "WHERE state = 'waiting' AND notBefore <= ? ORDER BY notBefore, id LIMIT ?",
                [now.timeIntervalSince1970, limit])
        }
    }

    /// Tasks being fetched.
    package func fetching() throws -> [Row] {
        try pool.read { db in try Row.fetch(db, "WHERE state = 'fetching' ORDER BY id", []) }
    }

    /// The newest tasks, for the worklist.
    package func recent(limit: Int = 500) throws -> [Row] {
        try pool.read { db in try Row.fetch(db, "ORDER BY id DESC LIMIT ?", [limit]) }
    }

    /// Moves a task to `state`, with the fetch it started or why it ended.
    package func set(_ id: Int64, state: String, fetchID: String? = nil, detail: String? = nil, now: Date = Date())
        throws
    {
        try pool.write { db in
            try db.execute(
                sql: """
                    UPDATE prefetchTask SET state = ?, fetchID = COALESCE(?, fetchID), detail = ?, updatedAt = ?
                    WHERE id = ?
                    """,
                arguments: [state, fetchID, detail, now.timeIntervalSince1970, id])
        }
    }
}

extension PrefetchTable.Row {
    fileprivate static func fetch(_ db: Database, _ tail: String, _ arguments: StatementArguments) throws -> [Self] {
        try GRDB.Row.fetchAll(
            db, sql: "SELECT id, state, fetchID, detail, task FROM prefetchTask " + tail, arguments: arguments
        )
        .map { row in
            Self(id: row["id"], state: row["state"], fetchID: row["fetchID"], detail: row["detail"], task: row["task"])
        }
    }
}
