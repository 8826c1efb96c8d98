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

    /// How long a relationship of each kind counts from its start when choosing one to present: the
    /// same defaults as `TrustMeshPolicy`'s `NetworkPolicy.defaultCaps` (the store cannot import the
    /// policy; a test checks they agree). The holder's policy decides; this only avoids presenting a
    /// stale one.
    package static let defaultCaps: [CareRelationship.Kind: TimeInterval] = [
        .referral: 365 * 86_400, .outpatient: 365 * 86_400, .mdt: 365 * 86_400, .admission: 90 * 86_400,
        .emergency: 72 * 3600,
    ]

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

    /// Relationships signed as `TrustMesh/CareRelationship/v2`: who recorded them (the verified
    /// person's issuer and subject, NULL for a local operator), their kind, reason and emergency
    /// justification, as columns beside the signed JSON. Version 1 relationships (no clinician
    /// identity or reason) are removed: no holder accepts them any more, and no node was deployed
    /// holding any.
    static func migrateIdentity(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v7: care relationships name the verified clinician") { db in
            try db.execute(
                sql: """
                    DELETE FROM careRelationship;
                    ALTER TABLE careRelationship ADD COLUMN kind TEXT NOT NULL DEFAULT '';
                    ALTER TABLE careRelationship ADD COLUMN clinicianIssuer TEXT;   -- NULL: a local operator
                    ALTER TABLE careRelationship ADD COLUMN clinicianSubject TEXT;
                    ALTER TABLE careRelationship ADD COLUMN reason TEXT NOT NULL DEFAULT '';
                    ALTER TABLE careRelationship ADD COLUMN justification TEXT;     -- an emergency's
                    CREATE INDEX careRelationship_kind ON careRelationship(kind);
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
                    INSERT INTO careRelationship (
                        id, trust, nhsNumber, start, expiry, record, recordedAt, kind, clinicianIssuer,
                        clinicianSubject, reason, justification)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(id) DO NOTHING
                    """,
                arguments: [
                    care.id, care.trust.code, care.nhsNumber.digits, care.start, care.expiry, json, now,
                    care.kind.rawValue, care.clinicianIdentity?.issuer, care.clinicianIdentity?.subject, care.reason,
                    care.justification,
                ])
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

    /// The relationships of one kind, newest first.
    /// - Parameter kind: The kind, e.g. ``CareRelationship/Kind/emergency`` for the information
    ///   governance review.
    package func all(kind: CareRelationship.Kind) throws -> [CareRelationship] {
        try pool.read { db in
            try Self.decode(
                Row.fetchAll(
                    db, sql: "SELECT record FROM careRelationship WHERE kind = ? ORDER BY start DESC, rowid DESC",
                    arguments: [kind.rawValue]))
        }
    }

    /// The relationships for one patient that are current at `now`, newest first.
    ///
    /// Current means started (`start` ≤ `now`), not expired (`expiry` ≥ `now`), and started at most
    /// the cap for its kind before `now`: the time rules of `SharingPolicy.isCurrent` without clock
    /// skew, since these are this trust's own records.
    /// - Parameters:
    ///   - nhs: The patient.
    ///   - now: The time to judge at.
    ///   - caps: Seconds a relationship of each kind counts from its start; pass the network
    ///     policy's caps if they are not the defaults. A kind missing here has no cap.
    package func current(
        for nhs: NHSNumber, now: Date, caps: [CareRelationship.Kind: TimeInterval] = defaultCaps
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
                guard let expiry = care.expiryDate, expiry >= now else { return false }
            }
            return caps[care.kind].map { now.timeIntervalSince(start) <= $0 } ?? true
        }
    }

    private static func decode(_ rows: [Row]) throws -> [CareRelationship] {
        let decoder = JSONDecoder()
        return try rows.map { row in try decoder.decode(CareRelationship.self, from: row["record"] as Data) }
    }
}
