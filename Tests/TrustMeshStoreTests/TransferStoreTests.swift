import Foundation
import Testing
import TrustMeshCrypto
import TrustMeshDICOM
import TrustMeshModel
import TrustMeshTesting

@testable import TrustMeshStore

/// The store's side of a fetch, without the network: chunks received in batches land in pack files,
/// the study appears only when committed, and a pack is read back (and re-served) like any chunk.
@Suite struct TransferStoreTests {
    /// Moves every missing chunk of `uid` from `source` to `target` in batches of `batch` chunks.
    func transfer(_ uid: String, from source: StudyStore, to target: StudyStore, batch: Int = 3) throws
        -> TransferManifest
    {
        let manifest = try #require(try source.transferManifest(studyUID: uid))
        let missing = try target.missingChunks(of: manifest)
        for start in stride(from: 0, to: missing.count, by: batch) {
            let slice = missing[start..<min(start + batch, missing.count)]
            try target.storeVerifiedChunks(slice.map { ($0, try source.storedChunk($0.hash)) })
        }
        try target.commitTransfer(manifest, nhsNumber: try NHSNumber("9434765919"), source: "test")
        return manifest
    }

    @Test func fetchedChunksLandInPacksAndExportByteIdenticalAndReServe() async throws {
        let dir = try TemporaryDirectory()
        let (study, originals) = try makeStudy(in: dir.appending("in"), instances: 6, size: 96)
        let holder = try StudyStore(directory: dir.appending("a"))
        _ = try await holder.ingest(paths: [dir.appending("in")])
        let requester = try StudyStore(directory: dir.appending("b"))
        let manifest = try transfer(study.studyInstanceUID, from: holder, to: requester)

        let packs = files(under: dir.appending("b/chunks/packs"))
        let distinct = manifest.distinctChunks.count
        #expect(packs.count == (distinct + 2) / 3)
        #expect(chunkFiles(dir.appending("b")).allSatisfy { $0.hasSuffix(".pack") })
        let exported = try requester.export(studyUID: study.studyInstanceUID, to: dir.appending("out"))
        #expect(Set(try fileHashes(exported.files)) == Set(try fileHashes(originals)))

        // A third node fetches from the second, whose chunks are all in packs.
        let third = try StudyStore(directory: dir.appending("c"))
        _ = try transfer(study.studyInstanceUID, from: requester, to: third, batch: 100)
        let again = try third.export(studyUID: study.studyInstanceUID, to: dir.appending("out3"))
        #expect(Set(try fileHashes(again.files)) == Set(try fileHashes(originals)))
    }

    @Test func aStudyIsNotVisibleUntilCommittedAndResumesFromStoredBatches() async throws {
        let dir = try TemporaryDirectory()
        let (study, _) = try makeStudy(in: dir.appending("in"), instances: 6, size: 96)
        let holder = try StudyStore(directory: dir.appending("a"))
        _ = try await holder.ingest(paths: [dir.appending("in")])
        let manifest = try #require(try holder.transferManifest(studyUID: study.studyInstanceUID))
        let requester = try StudyStore(directory: dir.appending("b"))
        let all = try requester.missingChunks(of: manifest)
        try requester.storeVerifiedChunks(all.prefix(2).map { ($0, try holder.storedChunk($0.hash)) })

        #expect(try requester.holds(studyUID: study.studyInstanceUID) == false)
        #expect(throws: StoreError.self) {
            try requester.commitTransfer(manifest, nhsNumber: try NHSNumber("9434765919"), source: "test")
        }
        #expect(try requester.holds(studyUID: study.studyInstanceUID) == false)
        // Reopening the store (a restart) keeps the stored batch: only the rest is missing.
        let reopened = try StudyStore(directory: dir.appending("b"))
        #expect(try reopened.missingChunks(of: manifest).count == all.count - 2)
    }

    @Test func aDamagedPackIsCaughtOnExportAndNoPartialFileIsLeft() async throws {
        let dir = try TemporaryDirectory()
        let (study, _) = try makeStudy(in: dir.appending("in"), instances: 2, size: 96)
        let holder = try StudyStore(directory: dir.appending("a"))
        _ = try await holder.ingest(paths: [dir.appending("in")])
        let requester = try StudyStore(directory: dir.appending("b"))
        _ = try transfer(study.studyInstanceUID, from: holder, to: requester, batch: 100)
        let pack = try #require(files(under: dir.appending("b/chunks/packs")).first)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: pack)))
        bytes[bytes.count / 2] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: pack))

        let error = #expect(throws: StoreError.self) {
            try requester.export(studyUID: study.studyInstanceUID, to: dir.appending("out"))
        }
        #expect(error?.description.contains("corrupt") == true || error?.description.contains("match") == true)
        #expect(files(under: dir.appending("out")).filter { !$0.hasSuffix(".partial") }.count < 2)
        #expect(files(under: dir.appending("out")).allSatisfy { !$0.hasSuffix(".partial") })
    }
}
