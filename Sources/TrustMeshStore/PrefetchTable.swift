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
        migrator.registerMigration("v17: worklist lines") { db in
            try db.execute(
                sql: """
                    CREATE TABLE worklistLine (
                        id INTEGER PRIMARY KEY,
                        nhsNumber TEXT NOT NULL,
                        source TEXT NOT NULL,                -- the feed, or the clinic list's uploader
                        reference TEXT,                      -- the feed's appointment/order reference
                        kind TEXT NOT NULL,                  -- the feed event's kind
                        at REAL,                             -- the appointment, seconds since 1970
                        day TEXT NOT NULL,                   -- its day in the trust's time, YYYY-MM-DD
                        place TEXT NOT NULL,                 -- the clinic or meeting ('' when unnamed)
                        clinician TEXT,                      -- named by the feed: data, not a signed-in person
                        decision TEXT NOT NULL,              -- planned, noRule, optedOut, cancelled, past
                        rule TEXT,                           -- the rule that planned it
                        held INTEGER NOT NULL,               -- priors the rule matched already held here
                        detail TEXT,
                        updatedAt REAL NOT NULL
                    );
                    CREATE INDEX worklistLine_list ON worklistLine(day, place);
                    CREATE INDEX worklistLine_reference ON worklistLine(nhsNumber, source, reference);
                    """)
        }
    }

    /// One patient on a clinic's or meeting's list, with what the pre-fetch engine decided for them.
    package struct Line: Sendable, Equatable {
        package var id: Int64
        package var nhsNumber: String
        package var source: String
        package var reference: String?
        package var kind: String
        package var at: Date?
        package var day: String
        package var place: String
        package var clinician: String?
        /// `planned`, `noRule`, `optedOut`, `cancelled` or `past`.
        package var decision: String
        package var rule: String?
        /// Priors the rule matched that are held here already (not fetched).
        package var held: Int
        package var detail: String?

        package init(
            nhsNumber: String, source: String, reference: String?, kind: String, at: Date?, day: String,
            place: String, clinician: String?, decision: String, rule: String?, held: Int = 0, detail: String?
        ) {
            self.id = 0
            self.nhsNumber = nhsNumber
            self.source = source
            self.reference = reference
            self.kind = kind
            self.at = at
            self.day = day
            self.place = place
            self.clinician = clinician
            self.decision = decision
            self.rule = rule
            self.held = held
            self.detail = detail
        }
    }

    /// Keeps what a feed event decided for the worklist. An event naming a reference already listed
    /// (a reschedule, a second booking, a cancellation) updates that line; a cancellation or a
    /// past appointment changes only the decision of the lines it ends, and is listed on its own
    /// only when nothing was listed for it.
    package func record(_ line: Line, now: Date = Date()) throws {
        try pool.write { db in
            let ends = line.decision == "cancelled" || line.decision == "past"
            if line.reference != nil {
                if ends {
                    try db.execute(
                        sql: """
                            UPDATE worklistLine SET decision = ?, detail = ?, updatedAt = ?
                            WHERE nhsNumber = ? AND source = ? AND reference = ?
                            """,
                        arguments: [
                            line.decision, line.detail, now.timeIntervalSince1970, line.nhsNumber, line.source,
                            line.reference,
                        ])
                } else {
                    try db.execute(
                        sql: """
                            UPDATE worklistLine SET kind = ?, at = ?, day = ?, place = ?, clinician = ?, decision = ?,
                                rule = ?, held = ?, detail = ?, updatedAt = ?
                            WHERE nhsNumber = ? AND source = ? AND reference = ?
                            """,
                        arguments: [
                            line.kind, line.at?.timeIntervalSince1970, line.day, line.place, line.clinician,
                            line.decision, line.rule, line.held, line.detail, now.timeIntervalSince1970,
                            line.nhsNumber, line.source, line.reference,
                        ])
                }
                if db.changesCount > 0 { return }
            }
            try db.execute(
                sql: """
                    INSERT INTO worklistLine (nhsNumber, source, reference, kind, at, day, place, clinician, decision,
                        rule, held, detail, updatedAt)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    line.nhsNumber, line.source, line.reference, line.kind, line.at?.timeIntervalSince1970, line.day,
                    line.place, line.clinician, line.decision, line.rule, line.held, line.detail,
                    now.timeIntervalSince1970,
                ])
        }
    }

    /// The clinics and meetings listed, newest day first: each day, place and how many patients.
    package func lists(limit: Int = 200) throws -> [(day: String, place: String, patients: Int)] {
        try pool.read { db in
            try GRDB.Row.fetchAll(
                db,
                sql: """
                    SELECT day, place, COUNT(*) AS patients FROM worklistLine
                    GROUP BY day, place ORDER BY day DESC, place LIMIT ?
                    """,
                arguments: [limit]
            ).map { ($0["day"], $0["place"], $0["patients"]) }
        }
    }

    /// One clinic's or meeting's list for a day, in appointment order.
    package func lines(day: String, place: String) throws -> [Line] {
        try pool.read { db in
            try GRDB.Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM worklistLine WHERE day = ? AND place = ? ORDER BY at, nhsNumber, id
                    """,
                arguments: [day, place]
            ).map { row in
                var line = Line(
                    nhsNumber: row["nhsNumber"], source: row["source"], reference: row["reference"],
                    kind: row["kind"], at: (row["at"] as Double?).map { Date(timeIntervalSince1970: $0) },
                    day: row["day"], place: row["place"], clinician: row["clinician"], decision: row["decision"],
                    rule: row["rule"], held: row["held"], detail: row["detail"])
                line.id = row["id"]
                return line
            }
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
