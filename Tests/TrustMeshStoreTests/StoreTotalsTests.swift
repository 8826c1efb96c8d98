import Foundation
import GRDB
import Testing
import TrustMeshDICOM
import TrustMeshTesting

@testable import TrustMeshStore

/// The store's totals (studies, unmatched studies, instances, bytes, chunks) are kept by triggers as
/// rows change, so a status page reads one row; after every kind of change they must equal what
/// counting the rows gives.
@Suite struct StoreTotalsTests {
    /// The totals as counting every row gives them (what `statistics()` read before it was kept).
    static func counted(_ store: StudyStore) throws -> StoreStatistics {
        try store.catalogue.pool.read { db in
            func int(_ sql: String) throws -> Int { try Int.fetchOne(db, sql: sql) ?? 0 }
            return StoreStatistics(
                studies: try int("SELECT COUNT(*) FROM study"),
                unmatchedStudies: try int("SELECT COUNT(*) FROM study WHERE nhsNumber IS NULL"),
                instances: try int("SELECT COUNT(*) FROM instance"),
                instanceBytes: try int("SELECT COALESCE(SUM(size), 0) FROM instance"),
                chunks: try int("SELECT COUNT(*) FROM chunk"),
                storedBytes: try int("SELECT COALESCE(SUM(storedSize), 0) FROM chunk"))
        }
    }

    @Test func keptTotalsEqualCountedOnesAfterIngestCorrectionMatchRemovalAndGarbage() async throws {
        let dir = try TemporaryDirectory()
        let store = try StudyStore(directory: dir.appending("store"))
        #expect(
            try store.statistics()
                == StoreStatistics(
                    studies: 0, unmatchedStudies: 0, instances: 0, instanceBytes: 0, chunks: 0, storedBytes: 0))

        let (_, files) = try makeStudy(in: dir.appending("a"), instances: 3, size: 96, seed: 1)
        _ = try await store.ingest(paths: [dir.appending("a")])
        let (unmatched, _) = try makeStudy(
            in: dir.appending("b"), patientID: "HOSP-0042", instances: 2, size: 64, seed: 2,
            studyUID: "1.2.826.0.1.3680043.10.999.171")
        _ = try await store.ingest(paths: [dir.appending("b")])
        let afterIngest = try store.statistics()
        #expect(afterIngest == (try Self.counted(store)))
        #expect(afterIngest.studies == 2 && afterIngest.unmatchedStudies == 1 && afterIngest.instances > 3)

        // The same files again change nothing.
        _ = try await store.ingest(paths: [dir.appending("a")])
        #expect(try store.statistics() == afterIngest)

        // A correction moves an instance to a new series of its study (new bytes, new chunks; the
        // old series may be left empty and swept).
        let moved = dir.appending("moved.dcm")
        try FileManager.default.copyItem(atPath: files[0], toPath: moved)
        let result = try await CommandRunner.run(
            "dcmodify",
            ["-nb", "-m", "(0020,000E)=1.2.826.0.1.3680043.10.999.172", "-m", "(0008,103E)=MOVED", moved])
        #expect(result.status == 0, "\(result.stderr)")
        let corrected = try await store.ingest(paths: [moved], mayCorrect: true)
        #expect(corrected.instancesReplaced == 1)
        #expect(try store.statistics() == (try Self.counted(store)))

        // A study is matched to a patient later; a study is removed (cascading to its series,
        // instances and manifests); unreferenced chunks are swept.
        try await store.catalogue.pool.write { db in
            try db.execute(
                sql: "UPDATE study SET nhsNumber = '9434765870' WHERE studyUID = ?",
                arguments: [unmatched.studyInstanceUID])
        }
        #expect(try store.statistics().unmatchedStudies == 0)
        #expect(try store.statistics() == (try Self.counted(store)))
        try await store.catalogue.pool.write { db in
            try db.execute(sql: "DELETE FROM study WHERE studyUID = ?", arguments: [unmatched.studyInstanceUID])
        }
        #expect(try store.statistics() == (try Self.counted(store)))
        let later = Date(timeIntervalSinceNow: 5)
        let swept = try store.collectGarbage(stagedBefore: later, filesBefore: later)
        #expect(swept.chunkRows > 0)
        let final = try store.statistics()
        #expect(final == (try Self.counted(store)))
        #expect(final.studies == 1 && final.instances == afterIngest.instances - 2)
    }
}
