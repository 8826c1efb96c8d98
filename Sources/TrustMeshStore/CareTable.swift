package import Foundation
import GRDB
package import TrustMeshModel

/// This trust's care relationships: the signed tickets its fetches carry, in the catalogue's SQLite
/// file.
///
/// Each row keeps the signed relationship as JSON (the form peers receive) beside the columns it is
/// looked up by. A relationship is stored only if it reads back: ``add(_:)`` round-trips it through
/// `CareRelationship`'s validating decoder, so ``all()`` never meets a row it cannot decode.
package final class CareTable: Sendable {
    let pool: DatabasePool

    init(pool: DatabasePool) { self.pool = pool }

    /// How long a relationship with no stated expiry counts when choosing one to present: the same
    /// default as `TrustMeshPolicy`'s `PolicySettings.maximumAgeWithoutExpiry` (the store cannot
    /// import the policy). The holder's policy decides; this only avoids presenting a stale one.
    package static let defaultMaximumAgeWithoutExpiry: TimeInterval = 365 * 86_400

    static func migrate(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v3: care relationships") { db in
            // A rowid table: "newest first" breaks ties in `start` by insertion order.
            try db.execute(
                sql: """
                    CREATE TABLE careRelationship (
                        id TEXT NOT NULL UNIQUE,             -- lowercase UUID
                        trust TEXT NOT NULL,                 -- the caring (signing) trust
                        nhsNumber TEXT NOT NULL,
                        start TEXT NOT NULL,                 -- YYYY-MM-DDTHH:MM:SSZ: sorts as time
                        expiry TEXT,
                        record BLOB NOT NULL,                -- the signed relationship, JSON
                        recordedAt TEXT NOT NULL
                    );
                    CREATE INDEX careRelationship_nhs ON careRelationship(nhsNumber);
                    """
            )
        }
    }

    /// Stores a relationship; one already held with the same id is kept as it is.
    ///
    /// The signature is not checked here: the node stores only relationships it signed itself.
    /// - Returns: `true` if stored, `false` if the id was already held.
    /// - Throws: `DecodingError` if the relationship's fields are not in their documented forms
    ///   (it could not be read back), or a database error.
    @discardableResult
    package func add(_ care: CareRelationship) throws -> Bool {
        let json = try JSONEncoder().encode(care)
        _ = try JSONDecoder().decode(CareRelationship.self, from: json)
        let now = CareTime.format(Date())
        return try pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO careRelationship (id, trust, nhsNumber, start, expiry, record, recordedAt)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(id) DO NOTHING
                    """,
                arguments: [care.id, care.trust.code, care.nhsNumber.digits, care.start, care.expiry, json, now])
            return db.changesCount > 0
        }
    }

    /// Every relationship held, newest first (latest start, then latest recorded).
    package func all() throws -> [CareRelationship] {
        try pool.read { db in
            try Self.decode(
                Row.fetchAll(db, sql: "SELECT record FROM careRelationship ORDER BY start DESC, rowid DESC"))
        }
    }

    /// One relationship by its id, if held.
    package func get(id: String) throws -> CareRelationship? {
        try pool.read { db in
            try Self.decode(Row.fetchAll(db, sql: "SELECT record FROM careRelationship WHERE id = ?", arguments: [id]))
                .first
        }
    }

    /// The relationships for one patient that are current at `now`, newest first.
    ///
    /// Current means started (`start` ≤ `now`), not expired (`expiry` ≥ `now`), and, with no stated
    /// expiry, started at most `maximumAgeWithoutExpiry` before `now`: the time rules of
    /// `SharingPolicy.isCurrent` without clock skew, since these are this trust's own records.
    /// - Parameters:
    ///   - nhs: The patient.
    ///   - now: The time to judge at.
    ///   - maximumAgeWithoutExpiry: Seconds a relationship with no expiry counts; pass the policy's
    ///     setting if it is not the default.
    package func current(
        for nhs: NHSNumber, now: Date, maximumAgeWithoutExpiry: TimeInterval = defaultMaximumAgeWithoutExpiry
    ) throws -> [CareRelationship] {
        let held = try pool.read { db in
            try Self.decode(
                Row.fetchAll(
                    db, sql: "SELECT record FROM careRelationship WHERE nhsNumber = ? ORDER BY start DESC, rowid DESC",
                    arguments: [nhs.digits]))
        }
        return held.filter { care in
            guard let start = care.startDate, start <= now else { return false }
            if care.expiry != nil {
                guard let expiry = care.expiryDate else { return false }
                return expiry >= now
            }
            return now.timeIntervalSince(start) <= maximumAgeWithoutExpiry
        }
    }

    private static func decode(_ rows: [Row]) throws -> [CareRelationship] {
        let decoder = JSONDecoder()
        return try rows.map { row in try decoder.decode(CareRelationship.self, from: row["record"] as Data) }
    }
}
