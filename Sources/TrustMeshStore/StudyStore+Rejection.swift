import Foundation
import GRDB
package import TrustMeshDICOM
import TrustMeshModel

/// IHE IOCM rejection notes at ingest (docs/ARCHITECTURE.md "Corrections follow the copies"), and the
/// marks this node keeps on copies whose origin withdrew or corrected them.
///
/// A rejection note is recognised when its instance is prepared (every ingest door: CLI, C-STORE,
/// STOW-RS) and applied in the catalogue commit they all share: the rejected instances (and series,
/// and the study, left empty) are removed in the same transaction, and the note is recorded in the
/// `rejection` table instead of being stored as an instance. The node then audits and publishes each
/// recorded rejection once (``Catalogue/unsettledRejections(studies:)``).
extension StudyStore {
    /// The rejection note in an instance, if it is one: read only for Key Object Selection
    /// Documents (a few kilobytes), from the file or the bytes being ingested.
    /// - Throws: ``StoreError/rejectionNote(path:reason:)`` for a note titled with a rejection code
    ///   whose evidence is missing or incomplete, or that cannot be read whole.
    package static func rejectionNote(
        _ info: DICOMFileInfo, name: String, bytes: [UInt8]? = nil, path: String? = nil
    ) throws(StoreError) -> RejectionNote? {
        guard info.attributes.sopClassUID == RejectionNote.keyObjectSelectionSOPClassUID else { return nil }
        let dump: DataSetDump
        do {
            if let bytes {
                var source = BytesSource(bytes)
                dump = try DataSetDump.read(source: &source)
            } else {
                var source = try FileByteSource(path: path ?? name)
                dump = try DataSetDump.read(source: &source)
            }
        } catch {
            throw StoreError.rejectionNote(
                path: name, reason: "a Key Object Selection Document that cannot be read whole: \(error)")
        }
        do {
            guard case .rejection(let note) = try RejectionNote.recognise(dump) else { return nil }
            return note
        } catch {
            throw StoreError.rejectionNote(path: name, reason: error.description)
        }
    }
}

/// A rejection note this node applied, as the `rejection` table records it.
package struct AppliedRejection: Sendable, Hashable {
    /// The note's SOP Instance UID.
    package var noteUID: String
    /// The study the note rejects instances of.
    package var studyUID: String
    /// The study's NHS number (nil: unmatched).
    package var nhsNumber: String?
    /// The rejection code (DCM) and its meaning.
    package var code: String
    package var meaning: String
    /// How many held instances it removed.
    package var instances: Int
    /// Whether the study was left with no instance (and so removed).
    package var studyRemoved: Bool
    /// The file or part the note came in as.
    package var source: String
    /// When it was applied (ISO 8601).
    package var receivedAt: String
}

/// Why a copy held here is hidden: its origin withdrew it, or announced other content for it.
package struct CopyMark: Sendable, Hashable {
    /// What the origin did.
    package enum State: String, Sendable {
        /// The origin withdrew the study: the copy is hidden for good.
        case withdrawn
        /// The origin re-announced the study with another manifest: the copy is hidden and a
        /// fetch brings the new version.
        case corrected
    }

    package var studyUID: String
    /// The trust that withdrew or corrected it.
    package var origin: String
    package var state: State
    /// The reason the origin's record gives, if any.
    package var reason: String?
    /// The origin's record that caused the mark.
    package var recordSequence: UInt64
    /// When the origin signed that record, and when this node marked its copy (ISO 8601).
    package var issuedAt: String
    package var markedAt: String

    /// A mark, as ``LocalNode`` makes one from the origin's record.
    package init(
        studyUID: String, origin: String, state: State, reason: String?, recordSequence: UInt64, issuedAt: String,
        markedAt: String
    ) {
        self.studyUID = studyUID
        self.origin = origin
        self.state = state
        self.reason = reason
        self.recordSequence = recordSequence
        self.issuedAt = issuedAt
        self.markedAt = markedAt
    }

    /// The note shown wherever the copy would have been: why it is hidden.
    package var note: String {
        let day = String(issuedAt.prefix(10))
        switch state {
        case .withdrawn:
            return "withdrawn by its origin \(origin) on \(day)" + (reason.map { ": \($0)" } ?? "")
        case .corrected:
            return "corrected at the origin \(origin) on \(day): fetch again" + (reason.map { " (\($0))" } ?? "")
        }
    }
}

extension Catalogue {
    /// The tables of corrections (migration v15): rejection notes applied here, and marks on copies.
    static func migrateCorrections(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v15: rejection notes and marked copies") { db in
            try db.execute(
                sql: """
                    CREATE TABLE rejection (
                        noteUID TEXT PRIMARY KEY NOT NULL,   -- the KOS's SOP Instance UID
                        studyUID TEXT NOT NULL,              -- the study it rejects instances of
                        noteStudyUID TEXT NOT NULL,          -- the study the KOS itself names
                        nhsNumber TEXT,
                        code TEXT NOT NULL, meaning TEXT NOT NULL,
                        instances INTEGER NOT NULL,          -- held instances removed
                        studyRemoved INTEGER NOT NULL,
                        source TEXT NOT NULL,
                        receivedAt TEXT NOT NULL,
                        settledAt TEXT                       -- audited and published by the node
                    );
                    CREATE INDEX rejection_unsettled ON rejection(noteStudyUID) WHERE settledAt IS NULL;
                    CREATE TABLE copyMark (
                        studyUID TEXT PRIMARY KEY NOT NULL,
                        origin TEXT NOT NULL,
                        state TEXT NOT NULL,                 -- withdrawn | corrected
                        reason TEXT,
                        recordSequence INTEGER NOT NULL,
                        issuedAt TEXT NOT NULL,
                        markedAt TEXT NOT NULL
                    );
                    """)
        }
    }

    /// Every instance a note applied here rejected, so that it is never stored again (a modality
    /// or PACS resending the wrong patient's image after the correction). Notes applied before
    /// this migration are not kept (only their counts are), so their instances are not listed.
    static func migrateRejectedInstances(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v18: rejected instances") { db in
            try db.execute(
                sql: """
                    CREATE TABLE rejectedInstance (
                        sopInstanceUID TEXT PRIMARY KEY NOT NULL,
                        noteUID TEXT NOT NULL,
                        code TEXT NOT NULL
                    ) WITHOUT ROWID;
                    """)
        }
    }

    /// Applies a rejection note inside the commit's transaction: removes the held instances it
    /// names (their series and study when left empty), records it, and remembers every instance it
    /// names (`rejectedInstance`) so that none is stored again. A note applied before is
    /// `.unchanged`.
    /// - Returns: the outcome for the note's own instance (never stored as an instance).
    static func apply(
        _ note: RejectionNote, of instance: PreparedInstance, now: String, db: Database
    ) throws -> Outcome {
        if try Bool.fetchOne(db, sql: "SELECT 1 FROM rejection WHERE noteUID = ?", arguments: [note.sopInstanceUID])
            ?? false
        {
            return .unchanged
        }
        func refuse(_ reason: String) -> Outcome {
            .refused(StoreErrorBox(.rejectionNote(path: instance.path, reason: reason)))
        }
        let studies = note.studies
        guard studies.count == 1, let study = studies.first else {
            return refuse(
                "rejection note \(note.sopInstanceUID) names \(studies.count) studies; one note rejects "
                    + "instances of one study here")
        }
        guard
            let row = try Row.fetchOne(db, sql: "SELECT nhsNumber FROM study WHERE studyUID = ?", arguments: [study])
        else {
            return refuse(
                "rejection note \(note.sopInstanceUID) rejects instances of study \(study), which this node does "
                    + "not hold")
        }
        // The note must speak for the study's own patient: a note naming another patient removes
        // nothing (the same rule as any instance joining a held study).
        let nhs: String? = row["nhsNumber"]
        guard nhs == instance.nhsNumber?.digits else {
            return refuse(
                "rejection note \(note.sopInstanceUID) names another patient than study \(study) held here")
        }
        var removed = 0
        let remember = try db.cachedStatement(
            sql: "INSERT OR IGNORE INTO rejectedInstance (sopInstanceUID, noteUID, code) VALUES (?, ?, ?)")
        for reference in note.instances {
            try remember.execute(arguments: [reference.sopInstanceUID, note.sopInstanceUID, note.code])
            try db.execute(
                sql: """
                    DELETE FROM instance WHERE sopInstanceUID = ? AND seriesUID IN
                        (SELECT seriesUID FROM series WHERE seriesUID = ? AND studyUID = ?)
                    """,
                arguments: [reference.sopInstanceUID, reference.seriesUID, study])
            removed += db.changesCount
        }
        try db.execute(
            sql: """
                DELETE FROM series WHERE studyUID = ? AND seriesUID NOT IN (SELECT seriesUID FROM instance)
                """,
            arguments: [study])
        var studyRemoved = false
        if try !(Bool.fetchOne(db, sql: "SELECT 1 FROM series WHERE studyUID = ?", arguments: [study]) ?? false) {
            try db.execute(sql: "DELETE FROM study WHERE studyUID = ?", arguments: [study])
            studyRemoved = true
        }
        try db.execute(
            sql: """
                INSERT INTO rejection (noteUID, studyUID, noteStudyUID, nhsNumber, code, meaning, instances,
                    studyRemoved, source, receivedAt)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                note.sopInstanceUID, study, instance.studyUID, nhs, note.code, note.meaning, removed, studyRemoved,
                instance.path, now,
            ])
        return .rejected
    }

    /// Rejections applied but not yet audited and published, for notes that came in studies among
    /// `studies` (the studies an ingest touched).
    package func unsettledRejections(studies: Set<String>) throws -> [AppliedRejection] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM rejection WHERE settledAt IS NULL ORDER BY receivedAt, noteUID")
                .filter { studies.contains($0["noteStudyUID"]) }
                .map { row in
                    AppliedRejection(
                        noteUID: row["noteUID"], studyUID: row["studyUID"], nhsNumber: row["nhsNumber"],
                        code: row["code"], meaning: row["meaning"], instances: row["instances"],
                        studyRemoved: row["studyRemoved"], source: row["source"], receivedAt: row["receivedAt"])
                }
        }
    }

    /// Records that the node audited and published a rejection.
    package func settleRejection(_ noteUID: String) throws {
        let now = ISO8601DateFormatter().string(from: Date())
        try pool.write { db in
            try db.execute(sql: "UPDATE rejection SET settledAt = ? WHERE noteUID = ?", arguments: [now, noteUID])
        }
    }

    /// Marks a copy held here (replacing an earlier mark of it).
    package func mark(_ mark: CopyMark) throws {
        try pool.write { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO copyMark (studyUID, origin, state, reason, recordSequence, issuedAt,
                        markedAt)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    mark.studyUID, mark.origin, mark.state.rawValue, mark.reason, Int64(mark.recordSequence),
                    mark.issuedAt, mark.markedAt,
                ])
        }
    }

    /// The mark on a copy held here, if any.
    package func copyMark(studyUID: String) throws -> CopyMark? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM copyMark WHERE studyUID = ?", arguments: [studyUID])
                .flatMap(Self.copyMark(_:))
        }
    }

    /// The marks of those of `studyUIDs` that are marked, in one read: a patient's page or query
    /// asks about the studies held for that patient, never the whole table.
    package func copyMarks(studyUIDs: some Collection<String>) throws -> [CopyMark] {
        guard !studyUIDs.isEmpty else { return [] }
        return try pool.read { db in
            let statement = try db.cachedStatement(sql: "SELECT * FROM copyMark WHERE studyUID = ?")
            return try studyUIDs.compactMap { try Row.fetchOne(statement, arguments: [$0]).flatMap(Self.copyMark(_:)) }
        }
    }

    /// Every marked copy, newest mark first (the operator's list).
    package func copyMarks() throws -> [CopyMark] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM copyMark ORDER BY markedAt DESC, studyUID")
                .compactMap(Self.copyMark(_:))
        }
    }

    /// Removes a copy's mark and its catalogue rows in one transaction (the old version of a
    /// corrected study, before it is fetched again): its chunks stay, so the new version's fetch
    /// need not move what did not change, and `trustmesh gc` sweeps the rest.
    package func discardCopy(studyUID: String) throws {
        try pool.write { db in
            try db.execute(
                sql: """
                    DELETE FROM instance WHERE seriesUID IN (SELECT seriesUID FROM series WHERE studyUID = ?)
                    """,
                arguments: [studyUID])
            try db.execute(sql: "DELETE FROM series WHERE studyUID = ?", arguments: [studyUID])
            try db.execute(sql: "DELETE FROM study WHERE studyUID = ?", arguments: [studyUID])
            try db.execute(sql: "DELETE FROM copyMark WHERE studyUID = ?", arguments: [studyUID])
        }
    }

    private static func copyMark(_ row: Row) -> CopyMark? {
        guard let state = CopyMark.State(rawValue: row["state"]) else { return nil }
        let sequence: Int64 = row["recordSequence"]
        return CopyMark(
            studyUID: row["studyUID"], origin: row["origin"], state: state, reason: row["reason"],
            recordSequence: UInt64(sequence), issuedAt: row["issuedAt"], markedAt: row["markedAt"])
    }
}

extension StudyStore {
    /// Of `uids`, the studies held here, in one read (gossip asks this of every batch it stores).
    package func heldStudies(among uids: some Sequence<String>) throws -> Set<String> {
        try catalogue.pool.read { db in
            let statement = try db.cachedStatement(sql: "SELECT 1 FROM study WHERE studyUID = ?")
            var held: Set<String> = []
            for uid in uids where try Bool.fetchOne(statement, arguments: [uid]) ?? false { held.insert(uid) }
            return held
        }
    }

    /// Rejections applied but not yet audited and published, for notes that came in `studies`.
    package func unsettledRejections(studies: Set<String>) throws -> [AppliedRejection] {
        try catalogue.unsettledRejections(studies: studies)
    }

    /// Records that the node audited and published a rejection.
    package func settleRejection(_ noteUID: String) throws { try catalogue.settleRejection(noteUID) }

    /// Marks a copy held here (replacing an earlier mark of it).
    package func mark(_ mark: CopyMark) throws { try catalogue.mark(mark) }

    /// The mark on a copy held here, if any.
    package func copyMark(studyUID: String) throws -> CopyMark? { try catalogue.copyMark(studyUID: studyUID) }

    /// Every marked copy, newest mark first.
    package func copyMarks() throws -> [CopyMark] { try catalogue.copyMarks() }

    /// The marks of those of `studyUIDs` that are marked.
    package func copyMarks(studyUIDs: some Collection<String>) throws -> [CopyMark] {
        try catalogue.copyMarks(studyUIDs: studyUIDs)
    }

    /// Removes a copy's mark and its catalogue rows (its chunks stay for the next fetch).
    package func discardCopy(studyUID: String) throws { try catalogue.discardCopy(studyUID: studyUID) }
}
