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

    @Test func aManifestSurvivesItsWireFormExactly() async throws {
        let dir = try TemporaryDirectory()
        let (study, _) = try makeStudy(in: dir.appending("in"), instances: 6, size: 64)
        let holder = try StudyStore(directory: dir.appending("a"))
        _ = try await holder.ingest(paths: [dir.appending("in")])
        var manifest = try #require(try holder.transferManifest(studyUID: study.studyInstanceUID))
        #expect(try JSONDecoder().decode(TransferManifest.self, from: JSONEncoder().encode(manifest)) == manifest)

        // What the catalogue never produces must survive too: an instance whose own fields
        // disagree with its attributes, one without them, and attributes that differ per instance.
        manifest.instances[0].sopInstanceUID = "1.2.3.999"
        manifest.instances[1].attributes.sopInstanceUID = nil
        manifest.instances[1].attributes.transferSyntaxUID = nil
        manifest.instances[2].seriesUID = "1.2.3.998"
        manifest.instances[3].attributes.patientName = "OTHER^NAME"
        manifest.instances[4].chunks = manifest.instances[0].chunks + manifest.instances[4].chunks
        let wire = try JSONEncoder().encode(manifest)
        #expect(try JSONDecoder().decode(TransferManifest.self, from: wire) == manifest)
        let shared = try #require(try JSONSerialization.jsonObject(with: wire) as? [String: Any])["shared"] as? [Any]
        #expect(shared?.count == 2)  // the study's set, and instance 3's with the other name
    }

    @Test func aDamagedManifestIsRefused() throws {
        let good = #"{"studyUID":"1.2","chunks":"","shared":[{}],"instances":[]}"#
        #expect(try JSONDecoder().decode(TransferManifest.self, from: Data(good.utf8)).instances.isEmpty)
        for bad in [
            #"{"studyUID":"1.2","chunks":"AAAA","shared":[],"instances":[]}"#,  // not whole records
            #"{"studyUID":"1.2","chunks":"","shared":[{}],"instances":[{"size":1,"shared":0,"own":{},"chunks":[]}]}"#,
            #"{"studyUID":"1.2","chunks":"","shared":[],"instances":[{"uid":"1","series":"2","size":1,"syntax":"3","shared":0,"own":{},"chunks":[]}]}"#,
            #"{"studyUID":"1.2","chunks":"","shared":[{}],"instances":[{"uid":"1","series":"2","size":1,"syntax":"3","shared":0,"own":{},"chunks":[0]}]}"#,
        ] {
            #expect(throws: DecodingError.self, "\(bad)") {
                try JSONDecoder().decode(TransferManifest.self, from: Data(bad.utf8))
            }
        }
    }
}
