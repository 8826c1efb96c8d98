import Foundation
import GRDB
import Synchronization
package import TrustMeshCrypto
import TrustMeshDICOM
package import TrustMeshModel

/// The node's catalogue: studies, series, instances, their manifests (ordered chunk hashes) and the
/// chunks, in one SQLite file (WAL) opened once per process.
///
/// Each invariant is kept by one write transaction: an instance, its manifest and the chunk rows it
/// references appear together or not at all.
package final class Catalogue: Sendable {
    let pool: DatabasePool

    /// Opens or creates the catalogue at `path` and brings its schema up to date.
    package init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            // FULL: a committed ingest survives power loss, not just a crash of the process
            // (https://www.sqlite.org/pragma.html#pragma_synchronous).
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
        index = IndexTable(pool: pool)
        care = CareTable(pool: pool)
        audit = AuditTable(pool: pool)
        network = NetworkTable(pool: pool)
        prefetch = PrefetchTable(pool: pool)
    }

    /// A connection of its own for ``checkpoint()``, opened on first use.
    private let checkpointer = Mutex<DatabaseQueue?>(nil)

    /// Copies what the write-ahead log holds into the database file (SQLite's passive checkpoint),
    /// on a connection of its own: it waits for no writer and holds none up.
    ///
    /// Left to itself SQLite checkpoints inside the commit that takes the log past 1,000 pages,
    /// so one write in every few hundred (one audited query in about 250) also copied and synced
    /// 4 MB before it returned: most of a query's p99. A running node calls this every 100 ms, off
    /// every request's path, so its commits find the log short and never checkpoint.
    /// - Returns: the log's frames and how many of them are now in the database.
    @discardableResult
    package func checkpoint() throws -> (walFrameCount: Int, checkpointedFrameCount: Int) {
        try checkpointer.withLock { connection in
            if connection == nil {
                var configuration = Configuration()
                configuration.busyMode = .timeout(10)
                connection = try DatabaseQueue(path: pool.path, configuration: configuration)
            }
            return try connection!.writeWithoutTransaction { try $0.checkpoint(.passive) }
        }
    }

    /// The federated index records, in the same file.
    package let index: IndexTable

    /// This trust's care relationships, in the same file.
    package let care: CareTable

    /// This node's audit log and its peers' latest checkpoints, in the same file.
    package let audit: AuditTable

    /// The signed membership versions, key certificates and revocations held, in the same file.
    package let network: NetworkTable

    /// The pre-fetch tasks planned from the hospital's feeds, in the same file.
    package let prefetch: PrefetchTable

    /// Versioned migrations: a migration that has shipped is never edited, only followed.
    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: studies, series, instances, manifests, chunks") { db in
            try db.execute(
                sql: """
                    CREATE TABLE chunk (
                        hash BLOB PRIMARY KEY NOT NULL,      -- BLAKE2b-256 of the plaintext
                        size INTEGER NOT NULL,               -- plaintext bytes
                        storedSize INTEGER NOT NULL          -- zstd frame bytes on disk
                    ) WITHOUT ROWID;
                    CREATE TABLE study (
                        studyUID TEXT PRIMARY KEY NOT NULL,
                        nhsNumber TEXT,                      -- NULL: unmatched, never published
                        patientID TEXT, patientName TEXT, birthDate TEXT, sex TEXT,
                        studyDate TEXT, studyTime TEXT, accession TEXT, description TEXT,
                        referringPhysician TEXT, institution TEXT,
                        createdAt TEXT NOT NULL, updatedAt TEXT NOT NULL
                    );
                    CREATE INDEX study_nhs ON study(nhsNumber);
                    CREATE TABLE series (
                        seriesUID TEXT PRIMARY KEY NOT NULL,
                        studyUID TEXT NOT NULL REFERENCES study(studyUID) ON DELETE CASCADE,
                        modality TEXT, seriesNumber TEXT, description TEXT, bodyPart TEXT
                    );
                    CREATE INDEX series_study ON series(studyUID);
                    CREATE TABLE instance (
                        sopInstanceUID TEXT PRIMARY KEY NOT NULL,
                        seriesUID TEXT NOT NULL REFERENCES series(seriesUID) ON DELETE CASCADE,
                        sopClassUID TEXT, instanceNumber TEXT, numberOfFrames TEXT, transferSyntaxUID TEXT,
                        size INTEGER NOT NULL,
                        manifestHash BLOB NOT NULL,          -- BLAKE2b-256 over the ordered chunk hashes
                        ingestedAt TEXT NOT NULL
                    );
                    CREATE INDEX instance_series ON instance(seriesUID);
                    CREATE TABLE manifest (
                        sopInstanceUID TEXT NOT NULL REFERENCES instance(sopInstanceUID) ON DELETE CASCADE,
                        position INTEGER NOT NULL,
                        chunkHash BLOB NOT NULL REFERENCES chunk(hash),
                        PRIMARY KEY (sopInstanceUID, position)
                    ) WITHOUT ROWID;
                    CREATE INDEX manifest_chunk ON manifest(chunkHash);
                    """
            )
        }
        IndexTable.migrate(&migrator)
        CareTable.migrate(&migrator)
        AuditTable.migrate(&migrator)
        migrator.registerMigration("v5: chunks in pack files") { db in
            // NULL pack: the chunk is a file of its own, chunks/ab/<hash> (ingested chunks).
            try db.execute(
                sql: "ALTER TABLE chunk ADD COLUMN pack TEXT; ALTER TABLE chunk ADD COLUMN packOffset INTEGER")
        }
        migrator.registerMigration("v6: when fetched chunks were staged") { db in
            // Set for chunks a fetch stored before their study was committed; NULL for ingested chunks.
            try db.execute(sql: "ALTER TABLE chunk ADD COLUMN stagedAt TEXT")
        }
        CareTable.migrateIdentity(&migrator)
        IndexTable.migrateHeads(&migrator)
        ConflictTable.migrate(&migrator)
        NetworkTable.migrate(&migrator)
        migrateTotals(&migrator)
        IndexTable.migrateClustered(&migrator)
        migrateCorrections(&migrator)
        PrefetchTable.migrate(&migrator)
        migrateRejectedInstances(&migrator)
        return migrator
    }

    /// Whether the catalogue lists a chunk (and so its file is durable).
    package func hasChunk(_ hash: Digest256) throws -> Bool {
        try pool.read { db in
            try Bool.fetchOne(db, sql: "SELECT 1 FROM chunk WHERE hash = ?", arguments: [Data(hash.rawBytes)]) ?? false
        }
    }

    /// Of `hashes`, those the catalogue lists.
    package func knownChunks(_ hashes: Set<Digest256>) throws -> Set<Digest256> {
        try pool.read { db in
            var known: Set<Digest256> = []
            let statement = try db.cachedStatement(sql: "SELECT 1 FROM chunk WHERE hash = ?")
            for hash in hashes where try Bool.fetchOne(statement, arguments: [Data(hash.rawBytes)]) ?? false {
                known.insert(hash)
            }
            return known
        }
    }

    /// What happened to one instance in ``commit(_:chunks:mayCorrect:)``.
    package enum Outcome: Sendable, Equatable {
        case added
        case unchanged
        /// A correction: the instance's previous manifest hash.
        case replaced(previous: Digest256)
        /// An IOCM rejection note, applied (its instances removed) and recorded, not stored.
        case rejected
        case refused(StoreErrorBox)
    }

    /// Commits prepared instances in one transaction; an instance that contradicts what is held
    /// (another patient in its study, a series or instance of another study, other bytes under a
    /// held SOP Instance UID when `mayCorrect` is not set) is refused, and only it.
    /// - Parameter mayCorrect: whether an instance of a held study may be replaced by other bytes
    ///   under the same SOP Instance UID (the trust's operator, through its own ingest doors).
    package func commit(
        _ instances: [PreparedInstance], chunks: [Digest256: ChunkSize], mayCorrect: Bool = false
    ) throws -> [Outcome] {
        let now = ISO8601DateFormatter().string(from: Date())
        return try pool.write { db in
            var outcomes: [Outcome] = []
            var touched: Set<String> = []
            for instance in instances {
                outcomes.append(
                    try Self.commit(
                        instance, chunks: chunks, mayCorrect: mayCorrect, now: now, touched: &touched, db: db))
            }
            // A series left empty when a correction moved an instance to another series of its
            // study. Only a correction can leave one, and the sweep reads every series and study:
            // an ingest that replaced nothing skips it.
            if outcomes.contains(where: { if case .replaced = $0 { true } else { false } }) {
                try db.execute(sql: "DELETE FROM series WHERE seriesUID NOT IN (SELECT seriesUID FROM instance)")
                try db.execute(sql: "DELETE FROM study WHERE studyUID NOT IN (SELECT studyUID FROM series)")
            }
            return outcomes
        }
    }

    /// Commits instances all together or not at all (a fetched study): the first refusal rolls the
    /// transaction back and is thrown. Nothing held is ever replaced this way.
    package func commitAll(_ instances: [PreparedInstance]) throws -> [Outcome] {
        let now = ISO8601DateFormatter().string(from: Date())
        return try pool.write { db in
            var outcomes: [Outcome] = []
            var touched: Set<String> = []
            for instance in instances {
                let outcome = try Self.commit(
                    instance, chunks: [:], mayCorrect: false, now: now, touched: &touched, db: db)
                if case .refused(let box) = outcome { throw box.error }
                outcomes.append(outcome)
            }
            return outcomes
        }
    }

    /// One instance, inside the caller's write transaction: the identity checks and the writes they
    /// allow happen together, so no other ingest can slip between them.
    /// - Parameter touched: studies whose `updatedAt` this transaction has already set.
    private static func commit(
        _ instance: PreparedInstance, chunks: [Digest256: ChunkSize], mayCorrect: Bool, now: String,
        touched: inout Set<String>, db: Database
    ) throws -> Outcome {
        let a = instance.attributes
        let manifestHash = Data(instance.manifestHash.rawBytes)
        func refuse(_ reason: String) -> Outcome {
            .refused(StoreErrorBox(.identityConflict(path: instance.path, reason: reason)))
        }
        // A rejection note removes what it names instead of being stored (StudyStore+Rejection.swift).
        if let note = instance.rejection { return try apply(note, of: instance, now: now, db: db) }
        // An instance a note rejected here is not stored again, whoever sends it.
        if let rejected = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT noteUID, code FROM rejectedInstance WHERE sopInstanceUID = ?"),
            arguments: [instance.sopInstanceUID])
        {
            let noteUID: String = rejected["noteUID"]
            let code: String = rejected["code"]
            return refuse(IdentityRule.rejected(instance.sopInstanceUID, noteUID: noteUID, code: code))
        }
        var previous: Digest256?
        // Cached statements: a fetched study commits hundreds of instances in one transaction, and
        // preparing each statement anew was most of that commit's time.
        if let row = try Row.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT i.manifestHash, i.seriesUID, s.studyUID FROM instance i
                    JOIN series s ON s.seriesUID = i.seriesUID WHERE i.sopInstanceUID = ?
                    """),
            arguments: [instance.sopInstanceUID]
        ) {
            let existingHash: Data = row["manifestHash"]
            let existingSeries: String = row["seriesUID"]
            let existingStudy: String = row["studyUID"]
            // An instance of another study (or so another patient) is never replaced: SOP
            // Instance UIDs are unique worldwide (PS3.5 §9.1), so this is a forgery or an error.
            guard existingStudy == instance.studyUID else {
                return refuse(
                    "an instance is never re-filed: SOPInstanceUID \(instance.sopInstanceUID) is held in another study")
            }
            if existingHash == manifestHash && existingSeries == instance.seriesUID { return .unchanged }
            guard mayCorrect else {
                return refuse(
                    "held bytes are not replaced: SOPInstanceUID \(instance.sopInstanceUID) is held with other "
                        + "content; only the trust's operator may correct it (trustmesh ingest, or STOW-RS as an "
                        + "operator)")
            }
            previous = try Digest256(rawBytes: [UInt8](existingHash))
        }
        // A series belongs to one study for good: an instance naming a held series under another
        // study would otherwise move the whole series to it (and to its patient).
        if let held = try String.fetchOne(
            db.cachedStatement(sql: "SELECT studyUID FROM series WHERE seriesUID = ?"), arguments: [instance.seriesUID]),
            held != instance.studyUID
        {
            return refuse(
                "a series is never re-filed: SeriesInstanceUID \(instance.seriesUID) is held in another study")
        }
        // The patient of an instance must match the study it joins: merging two patients' images
        // is a clinical safety hazard, so the instance is refused instead.
        if let study = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT nhsNumber, patientID FROM study WHERE studyUID = ?"),
            arguments: [instance.studyUID]
        ) {
            let nhs: String? = study["nhsNumber"]
            if nhs != instance.nhsNumber?.digits {
                let theirs = nhs.map { "NHS number ending \($0.suffix(4))" } ?? "no NHS number"
                let mine = instance.nhsNumber.map { "NHS number ending \($0.digits.suffix(4))" } ?? "no NHS number"
                return .refused(
                    StoreErrorBox(
                        .patientMismatch(
                            study: instance.studyUID,
                            reason: "\(instance.path) has \(mine) but the study already held has \(theirs)"
                        )
                    )
                )
            }
            if touched.insert(instance.studyUID).inserted {
                try db.cachedStatement(sql: "UPDATE study SET updatedAt = ? WHERE studyUID = ?").execute(
                    arguments: [now, instance.studyUID])
            }
        } else {
            touched.insert(instance.studyUID)
            try db.execute(
                sql: """
                    INSERT INTO study (studyUID, nhsNumber, patientID, patientName, birthDate, sex, studyDate,
                        studyTime, accession, description, referringPhysician, institution, createdAt, updatedAt)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    instance.studyUID, instance.nhsNumber?.digits, a.patientID, a.patientName, a.patientBirthDate,
                    a.patientSex, a.studyDate, a.studyTime, a.accessionNumber, a.studyDescription,
                    a.referringPhysicianName, a.institutionName, now, now,
                ]
            )
        }
        try db.cachedStatement(
            sql: """
                INSERT INTO series (seriesUID, studyUID, modality, seriesNumber, description, bodyPart)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(seriesUID) DO NOTHING
                """
        ).execute(
            arguments: [
                instance.seriesUID, instance.studyUID, a.modality, a.seriesNumber, a.seriesDescription,
                a.bodyPartExamined,
            ]
        )
        if previous != nil {
            try db.execute(sql: "DELETE FROM instance WHERE sopInstanceUID = ?", arguments: [instance.sopInstanceUID])
        }
        try db.cachedStatement(
            sql: """
                INSERT INTO instance (sopInstanceUID, seriesUID, sopClassUID, instanceNumber, numberOfFrames,
                    transferSyntaxUID, size, manifestHash, ingestedAt)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(
            arguments: [
                instance.sopInstanceUID, instance.seriesUID, a.sopClassUID, a.instanceNumber, a.numberOfFrames,
                instance.transferSyntaxUID, instance.size, manifestHash, now,
            ]
        )
        let insertChunk = try db.cachedStatement(
            sql: "INSERT OR IGNORE INTO chunk (hash, size, storedSize) VALUES (?, ?, ?)"
        )
        let insertManifest = try db.cachedStatement(
            sql: "INSERT INTO manifest (sopInstanceUID, position, chunkHash) VALUES (?, ?, ?)"
        )
        for (position, hash) in instance.manifest.enumerated() {
            let blob = Data(hash.rawBytes)
            if let size = chunks[hash] {
                try insertChunk.execute(arguments: [blob, size.plain, size.stored])
            }
            try insertManifest.execute(arguments: [instance.sopInstanceUID, position, blob])
        }
        return previous.map { .replaced(previous: $0) } ?? .added
    }

    // MARK: Reading

    /// The studies held for one patient, newest first.
    package func studies(nhs: NHSNumber) throws -> [StudySummary] {
        try studies(where: "st.nhsNumber = ?", arguments: [nhs.digits])
    }

    /// Studies with no valid NHS number: stored, never published.
    package func unmatchedStudies() throws -> [StudySummary] {
        try studies(where: "st.nhsNumber IS NULL", arguments: [])
    }

    /// One study, if held.
    package func study(uid: String) throws -> StudySummary? {
        try studies(where: "st.studyUID = ?", arguments: [uid]).first
    }

    func studies(where condition: String, arguments: StatementArguments) throws -> [StudySummary] {
        try pool.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT st.*,
                        (SELECT COUNT(*) FROM series se WHERE se.studyUID = st.studyUID) AS seriesCount,
                        (SELECT COUNT(*) FROM instance i JOIN series se ON se.seriesUID = i.seriesUID
                            WHERE se.studyUID = st.studyUID) AS instanceCount,
                        (SELECT COALESCE(SUM(i.size), 0) FROM instance i JOIN series se ON se.seriesUID = i.seriesUID
                            WHERE se.studyUID = st.studyUID) AS size,
                        (SELECT GROUP_CONCAT(DISTINCT se.modality) FROM series se WHERE se.studyUID = st.studyUID)
                            AS modalities,
                        (SELECT GROUP_CONCAT(DISTINCT se.bodyPart) FROM series se WHERE se.studyUID = st.studyUID)
                            AS bodyParts
                    FROM study st WHERE \(condition)
                    ORDER BY st.studyDate DESC, st.studyTime DESC, st.studyUID
                    """,
                arguments: arguments
            )
            return rows.map { row in
                StudySummary(
                    studyInstanceUID: row["studyUID"],
                    nhsNumber: row["nhsNumber"],
                    patientName: row["patientName"],
                    studyDate: row["studyDate"],
                    studyTime: row["studyTime"],
                    accessionNumber: row["accession"],
                    description: row["description"],
                    modalities: (row["modalities"] as String?)?.split(separator: ",").map(String.init).sorted() ?? [],
                    bodyParts: (row["bodyParts"] as String?)?.split(separator: ",").map(String.init).sorted() ?? [],
                    seriesCount: row["seriesCount"],
                    instanceCount: row["instanceCount"],
                    sizeBytes: row["size"]
                )
            }
        }
    }

    /// The identity of a study's content: BLAKE2b-256 over each instance's SOP Instance UID and
    /// manifest hash, in SOP Instance UID order. Nil if the study is not held.
    package func studyManifestHash(uid: String) throws -> Digest256? {
        try pool.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT i.sopInstanceUID, i.manifestHash FROM instance i
                    JOIN series se ON se.seriesUID = i.seriesUID
                    WHERE se.studyUID = ? ORDER BY i.sopInstanceUID
                    """,
                arguments: [uid])
            guard !rows.isEmpty else { return nil }
            var hasher = BLAKE2b256()
            for row in rows {
                let sop: String = row["sopInstanceUID"]
                let hash: Data = row["manifestHash"]
                hasher.update(Array(sop.utf8) + [0])
                hasher.update([UInt8](hash))
            }
            return hasher.finalize()
        }
    }

    /// Whether the study is held here.
    package func holds(studyUID: String) throws -> Bool {
        try pool.read { db in
            try Bool.fetchOne(db, sql: "SELECT 1 FROM study WHERE studyUID = ?", arguments: [studyUID]) ?? false
        }
    }

    /// The instances of a study with their manifests, in series then instance order.
    package func instances(ofStudy uid: String) throws -> [StoredInstance] {
        try pool.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT i.sopInstanceUID, i.seriesUID, i.size, m.chunkHash, c.size AS chunkSize
                    FROM instance i
                    JOIN series se ON se.seriesUID = i.seriesUID
                    JOIN manifest m ON m.sopInstanceUID = i.sopInstanceUID
                    JOIN chunk c ON c.hash = m.chunkHash
                    WHERE se.studyUID = ?
                    ORDER BY se.seriesUID, CAST(i.instanceNumber AS INTEGER), i.sopInstanceUID, m.position
                    """,
                arguments: [uid]
            )
            var result: [StoredInstance] = []
            for row in rows {
                let sop: String = row["sopInstanceUID"]
                let hashBytes: Data = row["chunkHash"]
                let chunk = StoredInstance.Chunk(
                    hash: try Digest256(rawBytes: [UInt8](hashBytes)), size: row["chunkSize"])
                if result.last?.sopInstanceUID == sop {
                    result[result.count - 1].chunks.append(chunk)
                } else {
                    result.append(
                        StoredInstance(
                            sopInstanceUID: sop, seriesUID: row["seriesUID"], size: row["size"], chunks: [chunk])
                    )
                }
            }
            return result
        }
    }

    /// Totals for status displays: one row, kept by triggers in every transaction that adds or
    /// removes a study, instance or chunk (``migrateTotals(_:)``), so a status page costs the same
    /// at ten studies and at ten million.
    package func statistics() throws -> StoreStatistics {
        try pool.read { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: "SELECT studies, unmatched, instances, instanceBytes, chunks, storedBytes FROM storeTotal")
            else { throw StoreError.catalogue("the store's totals row is missing") }
            return StoreStatistics(
                studies: row["studies"], unmatchedStudies: row["unmatched"], instances: row["instances"],
                instanceBytes: row["instanceBytes"], chunks: row["chunks"], storedBytes: row["storedBytes"]
            )
        }
    }

    /// The store's totals as one row, counted once from what is held and then kept by triggers in
    /// the transaction of every insert, delete or change of a study, instance or chunk (cascading
    /// deletes included), so no reader ever counts rows.
    private static func migrateTotals(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v13: store totals") { db in
            try db.execute(
                sql: """
                    CREATE TABLE storeTotal (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        studies INTEGER NOT NULL,
                        unmatched INTEGER NOT NULL,          -- studies without an NHS number
                        instances INTEGER NOT NULL,
                        instanceBytes INTEGER NOT NULL,
                        chunks INTEGER NOT NULL,
                        storedBytes INTEGER NOT NULL
                    );
                    INSERT INTO storeTotal VALUES (1,
                        (SELECT COUNT(*) FROM study), (SELECT COUNT(*) FROM study WHERE nhsNumber IS NULL),
                        (SELECT COUNT(*) FROM instance), (SELECT COALESCE(SUM(size), 0) FROM instance),
                        (SELECT COUNT(*) FROM chunk), (SELECT COALESCE(SUM(storedSize), 0) FROM chunk));
                    CREATE TRIGGER storeTotal_studyAdded AFTER INSERT ON study BEGIN
                        UPDATE storeTotal SET studies = studies + 1, unmatched = unmatched + (NEW.nhsNumber IS NULL);
                    END;
                    CREATE TRIGGER storeTotal_studyRemoved AFTER DELETE ON study BEGIN
                        UPDATE storeTotal SET studies = studies - 1, unmatched = unmatched - (OLD.nhsNumber IS NULL);
                    END;
                    CREATE TRIGGER storeTotal_studyMatched AFTER UPDATE OF nhsNumber ON study BEGIN
                        UPDATE storeTotal SET unmatched = unmatched - (OLD.nhsNumber IS NULL) + (NEW.nhsNumber IS NULL);
                    END;
                    CREATE TRIGGER storeTotal_instanceAdded AFTER INSERT ON instance BEGIN
                        UPDATE storeTotal SET instances = instances + 1, instanceBytes = instanceBytes + NEW.size;
                    END;
                    CREATE TRIGGER storeTotal_instanceRemoved AFTER DELETE ON instance BEGIN
                        UPDATE storeTotal SET instances = instances - 1, instanceBytes = instanceBytes - OLD.size;
                    END;
                    CREATE TRIGGER storeTotal_instanceResized AFTER UPDATE OF size ON instance BEGIN
                        UPDATE storeTotal SET instanceBytes = instanceBytes - OLD.size + NEW.size;
                    END;
                    CREATE TRIGGER storeTotal_chunkAdded AFTER INSERT ON chunk BEGIN
                        UPDATE storeTotal SET chunks = chunks + 1, storedBytes = storedBytes + NEW.storedSize;
                    END;
                    CREATE TRIGGER storeTotal_chunkRemoved AFTER DELETE ON chunk BEGIN
                        UPDATE storeTotal SET chunks = chunks - 1, storedBytes = storedBytes - OLD.storedSize;
                    END;
                    CREATE TRIGGER storeTotal_chunkResized AFTER UPDATE OF storedSize ON chunk BEGIN
                        UPDATE storeTotal SET storedBytes = storedBytes - OLD.storedSize + NEW.storedSize;
                    END;
                    """)
        }
    }

    /// Of the given chunk hashes, which the catalogue does not list (used to clean up orphans).
    package func unlisted(_ hashes: some Sequence<Digest256>) throws -> [Digest256] {
        let known = try knownChunks(Set(hashes))
        return hashes.filter { !known.contains($0) }
    }
}

/// A ``StoreError`` as an `Equatable` value (compared by text).
package struct StoreErrorBox: Sendable, Equatable {
    package let error: StoreError
    package init(_ error: StoreError) { self.error = error }
    package static func == (lhs: Self, rhs: Self) -> Bool { lhs.error.description == rhs.error.description }
}

/// A chunk's plaintext and stored sizes.
package struct ChunkSize: Sendable {
    package var plain: Int
    package var stored: Int
}

/// An instance as the catalogue holds it: where its bytes are.
package struct StoredInstance: Sendable {
    package struct Chunk: Sendable {
        package var hash: Digest256
        package var size: Int
    }
    package var sopInstanceUID: String
    package var seriesUID: String
    package var size: Int
    package var chunks: [Chunk]
}
