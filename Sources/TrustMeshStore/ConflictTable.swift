package import Foundation
import GRDB
import TrustMeshCrypto
package import TrustMeshModel

/// The evidence of equivocations: pairs of statements signed by one trust that cannot both be true
/// (two index records with one origin and sequence, two membership documents with one version, two
/// key certificates with one serial), kept for good in the catalogue's SQLite file, with how an
/// operator resolved each.
///
/// A conflict is recorded once per pair of statements (in either order, compared byte for byte), and
/// at most ``unresolvedLimit`` unresolved ones are kept per trust and kind: the trust's statements
/// are held from the first one anyway, and a thief with its key could otherwise sign new variants
/// without end. Resolving keeps both statements; it records who resolved it, when and why, and, for
/// index records, may put the other record in place of the held one (``resolve(id:at:by:note:replacing:)``).
package final class ConflictTable: Sendable {
    let pool: DatabasePool

    init(pool: DatabasePool) { self.pool = pool }

    /// The most unresolved conflicts kept per trust and kind.
    package static let unresolvedLimit = 16

    static func migrate(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v11: conflicts") { db in
            try db.execute(
                sql: """
                    CREATE TABLE conflict (
                        id INTEGER PRIMARY KEY,
                        kind TEXT NOT NULL,                  -- indexRecord, membership, certificate
                        trust TEXT NOT NULL,                 -- the trust that signed both
                        number INTEGER NOT NULL,             -- the sequence, version or serial both claim
                        detectedAt TEXT NOT NULL,            -- YYYY-MM-DDTHH:MM:SSZ
                        reason TEXT NOT NULL,
                        first BLOB NOT NULL,                 -- the statement held, JSON as signed and sent
                        second BLOB NOT NULL,                -- the statement that contradicts it
                        resolvedAt TEXT,                     -- NULL while unresolved
                        resolvedBy TEXT,
                        note TEXT,
                        keptSecond INTEGER NOT NULL DEFAULT 0 -- 1: the second replaced the first (index records)
                    );
                    CREATE INDEX conflict_trust ON conflict(kind, trust);
                    CREATE INDEX conflict_unresolved ON conflict(kind) WHERE resolvedAt IS NULL;
                    """)
        }
    }

    /// What kind of statement two conflicting ones are. An open set of names, like audit kinds.
    package struct Kind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        package let rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }
        package var description: String { rawValue }

        /// Two index records with one origin and sequence; `number` is the sequence.
        package static let indexRecord = Kind(rawValue: "indexRecord")
        /// Two membership documents with one version; `number` is the version.
        package static let membership = Kind(rawValue: "membership")
        /// Two key certificates with one serial; `number` is the serial.
        package static let certificate = Kind(rawValue: "certificate")

        /// The audit subject key that names `number` for this kind (`recordSequence`, `version`,
        /// `serial`).
        package var subjectKey: AuditEntry.SubjectKey {
            switch self {
            case .membership: .version
            case .certificate: .serial
            default: .recordSequence
            }
        }
    }

    /// How an operator resolved a conflict.
    package struct Resolution: Sendable, Equatable {
        /// When, `YYYY-MM-DDTHH:MM:SSZ`.
        package var at: String
        /// Who: the person's name or the local operator.
        package var by: String
        /// Why, in the operator's words.
        package var note: String
        /// Whether the second statement replaced the first (index records only).
        package var keptSecond: Bool
    }

    /// One conflict and its evidence.
    package struct Conflict: Sendable, Equatable, Identifiable {
        /// Its number at this node.
        package var id: Int64
        package var kind: Kind
        /// The trust that signed both.
        package var trust: TrustID
        /// The sequence, version or serial both claim.
        package var number: UInt64
        /// When this node found it, `YYYY-MM-DDTHH:MM:SSZ`.
        package var detectedAt: String
        /// Why they cannot both be true.
        package var reason: String
        /// The statement this node held, JSON.
        package var first: Data
        /// The statement that contradicts it, JSON.
        package var second: Data
        /// How it was resolved; `nil` while unresolved.
        package var resolution: Resolution?

        /// For an index-record conflict, the two records (held, other); `nil` for another kind or if
        /// either does not decode.
        package var records: (held: IndexRecord, other: IndexRecord)? {
            guard kind == .indexRecord else { return nil }
            let decoder = JSONDecoder()
            guard let held = try? decoder.decode(IndexRecord.self, from: first),
                let other = try? decoder.decode(IndexRecord.self, from: second)
            else { return nil }
            return (held, other)
        }
    }

    /// Keeps a conflict, unless the same pair is already kept (either order) or the trust already has
    /// ``unresolvedLimit`` unresolved conflicts of this kind.
    /// - Parameters:
    ///   - kind: What the statements are.
    ///   - trust: Who signed both.
    ///   - number: The sequence, version or serial both claim.
    ///   - reason: Why they cannot both be true.
    ///   - first: The statement held, JSON.
    ///   - second: The one that contradicts it, JSON.
    ///   - detectedAt: Now, `YYYY-MM-DDTHH:MM:SSZ`.
    /// - Returns: The conflict as kept, or `nil` if it was not new (or over the limit).
    /// - Throws: A database error.
    package func record(
        kind: Kind, trust: TrustID, number: UInt64, reason: String, first: Data, second: Data, detectedAt: String
    ) throws -> Conflict? {
        try pool.write { db in
            let known =
                try Int.fetchOne(
                    db,
                    sql: """
                        SELECT COUNT(*) FROM conflict WHERE kind = ?1 AND trust = ?2
                        AND ((first = ?3 AND second = ?4) OR (first = ?4 AND second = ?3))
                        """, arguments: [kind.rawValue, trust.code, first, second]) ?? 0
            guard known == 0 else { return nil }
            let open =
                try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM conflict WHERE kind = ? AND trust = ? AND resolvedAt IS NULL",
                    arguments: [kind.rawValue, trust.code]) ?? 0
            guard open < Self.unresolvedLimit else { return nil }
            try db.execute(
                sql: """
                    INSERT INTO conflict (kind, trust, number, detectedAt, reason, first, second)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    kind.rawValue, trust.code, Int64(clamping: number), detectedAt, reason, first, second,
                ])
            return Conflict(
                id: db.lastInsertedRowID, kind: kind, trust: trust, number: number, detectedAt: detectedAt,
                reason: reason, first: first, second: second, resolution: nil)
        }
    }

    /// Every conflict, oldest first.
    package func all() throws -> [Conflict] {
        try pool.read { db in try Self.fetch(db, where: "1") }
    }

    /// The unresolved conflicts, oldest first, of one kind and trust if given.
    package func unresolved(kind: Kind? = nil, trust: TrustID? = nil) throws -> [Conflict] {
        try pool.read { db in
            var clauses = ["resolvedAt IS NULL"]
            var arguments: [String] = []
            if let kind {
                clauses.append("kind = ?")
                arguments.append(kind.rawValue)
            }
            if let trust {
                clauses.append("trust = ?")
                arguments.append(trust.code)
            }
            return try Self.fetch(
                db, where: clauses.joined(separator: " AND "), arguments: StatementArguments(arguments))
        }
    }

    /// One conflict by its number.
    package func conflict(id: Int64) throws -> Conflict? {
        try pool.read { db in try Self.fetch(db, where: "id = ?", arguments: [id]).first }
    }

    /// What ``resolve(id:at:by:note:replacing:)`` did.
    package enum ResolveOutcome: Sendable, Equatable {
        /// Resolved now.
        case resolved(Conflict)
        /// No conflict has that number.
        case unknown
        /// It was resolved before (by whom, in the conflict).
        case alreadyResolved(Conflict)
    }

    /// Marks a conflict resolved, and, for an index-record conflict when `replacing` is the second
    /// record, puts it in place of the held one, in one transaction. Both statements stay as evidence.
    /// - Parameters:
    ///   - id: The conflict's number.
    ///   - at: Now, `YYYY-MM-DDTHH:MM:SSZ`.
    ///   - by: Who resolved it.
    ///   - note: Why.
    ///   - replacing: The conflict's second record, to keep it instead of the held one; `nil` keeps the
    ///     held one.
    /// - Throws: ``StoreError`` if `replacing` is given and no record is held at its sequence, or a
    ///   database error.
    package func resolve(id: Int64, at: String, by: String, note: String, replacing: IndexRecord? = nil) throws
        -> ResolveOutcome
    {
        try pool.write { db in
            guard var conflict = try Self.fetch(db, where: "id = ?", arguments: [id]).first else { return .unknown }
            guard conflict.resolution == nil else { return .alreadyResolved(conflict) }
            if let replacing { try IndexTable.replace(with: replacing, db: db) }
            try db.execute(
                sql: "UPDATE conflict SET resolvedAt = ?, resolvedBy = ?, note = ?, keptSecond = ? WHERE id = ?",
                arguments: [at, by, note, replacing != nil, id])
            conflict.resolution = Resolution(at: at, by: by, note: note, keptSecond: replacing != nil)
            return .resolved(conflict)
        }
    }

    private static func fetch(_ db: Database, where clause: String, arguments: StatementArguments = [])
        throws -> [Conflict]
    {
        try Row.fetchAll(
            db,
            sql: """
                SELECT id, kind, trust, number, detectedAt, reason, first, second, resolvedAt, resolvedBy, note,
                keptSecond FROM conflict WHERE \(clause) ORDER BY id
                """, arguments: arguments
        ).map { row in
            let resolvedAt: String? = row["resolvedAt"]
            let number: Int64 = row["number"]
            return Conflict(
                id: row["id"], kind: Kind(rawValue: row["kind"]), trust: try TrustID(row["trust"] as String),
                number: UInt64(max(0, number)), detectedAt: row["detectedAt"], reason: row["reason"],
                first: row["first"], second: row["second"],
                resolution: resolvedAt.map {
                    Resolution(
                        at: $0, by: row["resolvedBy"] ?? "", note: row["note"] ?? "", keptSecond: row["keptSecond"])
                })
        }
    }
}

extension StudyStore {
    /// The evidence of equivocations, in the same file.
    package var conflicts: ConflictTable { ConflictTable(pool: catalogue.pool) }
}
