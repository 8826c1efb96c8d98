public import Foundation
import GRDB
import Glibc
package import TrustMeshCrypto

/// What ``StudyStore/collectGarbage(stagedBefore:filesBefore:dryRun:)`` found and removed.
public struct GarbageReport: Sendable, Codable, Equatable {
    /// Catalogue rows of chunks no instance uses (left by abandoned fetches or replaced instances).
    public var chunkRows = 0
    /// Chunk files of their own that the catalogue does not list (left by an interrupted ingest).
    public var chunkFiles = 0
    /// Pack files no catalogue row points into (left by an abandoned fetch or a crash).
    public var packs = 0
    /// Bytes of files removed.
    public var bytesFreed = 0
    /// Bytes in packs still in use that belong to no listed chunk (kept; packs are never rewritten).
    public var deadPackBytes = 0
}

extension StudyStore {
    /// Removes what no study uses: unreferenced chunk rows staged before `stagedBefore` (a fetch
    /// younger than that may still resume from them), then chunk files and packs that no row lists,
    /// if last modified before `filesBefore` (an ingest or fetch in progress writes its files before
    /// its rows, so only old files are fair game).
    ///
    /// Safe beside a running node with the defaults the CLI uses (24 hours, 1 hour). A fetch that
    /// resumes after its staged chunks were collected simply moves them again.
    /// - Parameter dryRun: count, remove nothing.
    public func collectGarbage(stagedBefore: Date, filesBefore: Date, dryRun: Bool = false) throws -> GarbageReport {
        var report = GarbageReport()
        let cutoff = ISO8601DateFormatter().string(from: stagedBefore)
        let removedRows = try catalogue.removeUnreferencedChunks(stagedBefore: cutoff, dryRun: dryRun)
        report.chunkRows = removedRows

        let listed = try catalogue.chunkPlacement()
        let fileCutoff = filesBefore.timeIntervalSince1970
        for (path, info) in chunks.looseFiles() where info.modified < fileCutoff {
            guard let hash = try? Digest256(hex: (path as NSString).lastPathComponent) else { continue }
            if listed.loose.contains(hash) { continue }
            report.chunkFiles += 1
            report.bytesFreed += info.size
            if !dryRun { unlink(path) }
        }
        for (path, info) in chunks.packFiles() {
            let name = (path as NSString).lastPathComponent
            if let used = listed.packBytes[name] {
                report.deadPackBytes += max(0, info.size - used)
                continue
            }
            guard info.modified < fileCutoff else { continue }
            report.packs += 1
            report.bytesFreed += info.size
            if !dryRun { unlink(path) }
        }
        return report
    }
}

extension Catalogue {
    /// Deletes chunk rows no manifest references: ingested ones (an instance was replaced) and
    /// fetched ones staged before `stagedBefore`. Returns how many (or would, in a dry run).
    package func removeUnreferencedChunks(stagedBefore: String, dryRun: Bool) throws -> Int {
        let condition = """
            NOT EXISTS (SELECT 1 FROM manifest m WHERE m.chunkHash = chunk.hash)
            AND (stagedAt IS NULL OR stagedAt < ?)
            """
        return try pool.write { db in
            if dryRun {
                return try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM chunk WHERE \(condition)", arguments: [stagedBefore]) ?? 0
            }
            try db.execute(sql: "DELETE FROM chunk WHERE \(condition)", arguments: [stagedBefore])
            return db.changesCount
        }
    }

    /// Which chunks are files of their own, and how many listed bytes each pack holds.
    package func chunkPlacement() throws -> (loose: Set<Digest256>, packBytes: [String: Int]) {
        try pool.read { db in
            var loose: Set<Digest256> = []
            var packBytes: [String: Int] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT hash, pack, storedSize FROM chunk")
            while let row = try rows.next() {
                if let pack: String = row["pack"] {
                    packBytes[pack, default: 0] += row["storedSize"] as Int
                } else {
                    let hash: Data = row["hash"]
                    loose.insert(try Digest256(rawBytes: [UInt8](hash)))
                }
            }
            return (loose, packBytes)
        }
    }
}
