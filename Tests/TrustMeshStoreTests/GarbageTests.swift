import Foundation
import Testing
import TrustMeshCrypto
import TrustMeshDICOM
import TrustMeshModel
import TrustMeshTesting

@testable import TrustMeshStore

@Suite struct GarbageTests {
    @Test func abandonedFetchesAndInterruptedIngestsAreSweptAndHeldStudiesAreNot() async throws {
        let dir = try TemporaryDirectory()
        let (held, originals) = try makeStudy(in: dir.appending("held"), instances: 3, size: 96, seed: 1)
        let (other, _) = try makeStudy(in: dir.appending("other"), instances: 4, size: 96, seed: 2)
        let store = try StudyStore(directory: dir.appending("store"))
        _ = try await store.ingest(paths: [dir.appending("held")])
        let source = try StudyStore(directory: dir.appending("source"))
        _ = try await source.ingest(paths: [dir.appending("other")])

        // An abandoned fetch: two batches stored, never committed.
        let manifest = try #require(try source.transferManifest(studyUID: other.studyInstanceUID))
        let missing = try store.missingChunks(of: manifest)
        try store.storeVerifiedChunks(missing.prefix(2).map { ($0, try source.storedChunk($0.hash)) })
        try store.storeVerifiedChunks(missing.dropFirst(2).prefix(2).map { ($0, try source.storedChunk($0.hash)) })
        // An interrupted ingest: a chunk file written, never listed.
        let orphan = Array("not part of any study".utf8)
        try orphan.withUnsafeBytes { try store.chunks.write(BLAKE2b256.hash(orphan), compressed: $0) }
        let before = try store.statistics()

        // Young garbage is left alone: a fetch may resume, an ingest may be about to commit.
        let young = try store.collectGarbage(
            stagedBefore: Date(timeIntervalSinceNow: -86_400), filesBefore: Date(timeIntervalSinceNow: -3_600))
        #expect(young == GarbageReport())

        let later = Date(timeIntervalSinceNow: 5)
        let dry = try store.collectGarbage(stagedBefore: later, filesBefore: later, dryRun: true)
        #expect(dry.chunkRows == 4)
        #expect(try store.statistics() == before)

        let swept = try store.collectGarbage(stagedBefore: later, filesBefore: later)
        #expect(swept.chunkRows == 4)
        #expect(swept.packs == 2)
        #expect(swept.chunkFiles == 1)
        #expect(swept.bytesFreed > 0)
        #expect(files(under: dir.appending("store/chunks/packs")).isEmpty)
        #expect(try store.statistics().chunks == before.chunks - 4)

        // The held study is whole; the abandoned fetch starts again from nothing.
        let exported = try store.export(studyUID: held.studyInstanceUID, to: dir.appending("out"))
        #expect(Set(try fileHashes(exported.files)) == Set(try fileHashes(originals)))
        #expect(try store.missingChunks(of: manifest).count == missing.count)
        #expect(try store.collectGarbage(stagedBefore: later, filesBefore: later) == GarbageReport())
    }
}
