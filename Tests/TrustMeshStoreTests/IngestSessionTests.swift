import Foundation
import Testing
import TrustMeshDICOM
import TrustMeshTesting

@testable import TrustMeshStore

/// The ingest STOW-RS uses (instances handed over one at a time, from memory or a file, committed
/// at the end) stores exactly what `ingest(paths:)` stores, and leaves nothing when abandoned.
@Suite(.timeLimit(.minutes(3))) struct IngestSessionTests {
    /// Prepares `paths` in a session, alternately from memory and from the file, named `part-N.dcm`.
    static func prepare(_ paths: [String], session: IngestSession) throws -> [PreparedInstance] {
        try paths.enumerated().map { index, path in
            let info = try DICOMReader.read(path: path)
            let content: IngestSession.Content =
                index % 2 == 0 ? .bytes([UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))) : .file(path: path)
            return try session.prepare(name: "part-\(index + 1).dcm", info: info, content: content)
        }
    }

    static func names(_ paths: [String]) -> [String] { paths.map { ($0 as NSString).lastPathComponent } }

    @Test func instancesFromMemoryOrFilesGiveTheChunksAndManifestsOfAPlainIngest() async throws {
        let dir = try TemporaryDirectory()
        // Small chunks, so every instance is cut many times (header, then pixel data).
        let (study, originals) = try makeStudy(in: dir.appending("in"), instances: 6, size: 160)
        let plain = try StudyStore(directory: dir.appending("plain"), parameters: .small)
        _ = try await plain.ingest(paths: originals)
        let streamed = try StudyStore(directory: dir.appending("streamed"), parameters: .small)
        let session = IngestSession(store: streamed, mayCorrect: false)
        let prepared = try Self.prepare(originals, session: session)
        #expect(prepared.allSatisfy { $0.manifest.count > 2 })
        let report = try session.commit(prepared, batchSize: 4)

        #expect(report.instancesAdded == originals.count)
        #expect(report.failures.isEmpty)
        #expect(report.studies == [study.studyInstanceUID])
        #expect(report.chunksWritten == Self.names(chunkFiles(dir.appending("streamed"))).count)
        #expect(Self.names(chunkFiles(dir.appending("streamed"))) == Self.names(chunkFiles(dir.appending("plain"))))
        let manifest = try #require(try streamed.studyManifestHash(uid: study.studyInstanceUID))
        #expect(manifest == (try plain.studyManifestHash(uid: study.studyInstanceUID)))
        let exported = try streamed.export(studyUID: study.studyInstanceUID, to: dir.appending("out"))
        #expect(Set(try fileHashes(exported.files)) == Set(try fileHashes(originals)))
    }

    @Test func anAbandonedSessionCommitsNothingAndRemovesItsChunks() throws {
        let dir = try TemporaryDirectory()
        let (_, originals) = try makeStudy(in: dir.appending("in"), instances: 3, size: 96)
        let store = try StudyStore(directory: dir.appending("store"), parameters: .small)
        let session = IngestSession(store: store, mayCorrect: false)
        _ = try Self.prepare(originals, session: session)
        #expect(!chunkFiles(dir.appending("store")).isEmpty, "the chunks are written as each instance arrives")
        session.abandon()
        #expect(chunkFiles(dir.appending("store")).isEmpty)
        #expect(try store.statistics().instances == 0)
    }

    /// A client that timed out sends its study again while its first request is still arriving;
    /// the first then ends without committing: the chunks the second is about to commit stay.
    @Test func aSessionThatEndsLeavesTheChunksAnotherLiveSessionWrote() throws {
        let dir = try TemporaryDirectory()
        let (study, originals) = try makeStudy(in: dir.appending("in"), instances: 2, size: 96)
        let store = try StudyStore(directory: dir.appending("store"), parameters: .small)
        let first = IngestSession(store: store, mayCorrect: false)
        let second = IngestSession(store: store, mayCorrect: false)
        _ = try Self.prepare(originals, session: first)
        let prepared = try Self.prepare(originals, session: second)
        first.abandon()
        #expect(try second.commit(prepared).instancesAdded == originals.count)
        let exported = try store.export(studyUID: study.studyInstanceUID, to: dir.appending("out"))
        #expect(Set(try fileHashes(exported.files)) == Set(try fileHashes(originals)))
    }

    @Test func aRefusalNamesTheInstanceAndLeavesNothingOfItWhileTheOthersAreStored() async throws {
        let dir = try TemporaryDirectory()
        let (study, held) = try makeStudy(in: dir.appending("held"), instances: 2, size: 96)
        let store = try StudyStore(directory: dir.appending("store"), parameters: .small)
        _ = try await store.ingest(paths: held)
        let chunksBefore = chunkFiles(dir.appending("store"))
        // Another patient's instances under the held study: refused at the commit, as ingest refuses them.
        let (_, intruders) = try makeStudy(
            in: dir.appending("intruder"), patientID: "4010232137", instances: 1, size: 96, seed: 9,
            studyUID: study.studyInstanceUID)
        let (newStudy, fresh) = try makeStudy(in: dir.appending("fresh"), instances: 1, size: 96, seed: 5)
        let session = IngestSession(store: store, mayCorrect: false)
        let report = try session.commit(try Self.prepare(fresh + intruders, session: session))

        #expect(report.instancesAdded == fresh.count)
        #expect(
            report.failures.map(\.path) == (fresh.count..<(fresh.count + intruders.count)).map { "part-\($0 + 1).dcm" })
        #expect(report.failures.allSatisfy { $0.reason.contains("NHS number ending") })
        #expect(report.studies == [newStudy.studyInstanceUID])
        let freshChunks = Set(chunkFiles(dir.appending("store"))).subtracting(chunksBefore)
        #expect(freshChunks.count == report.chunksWritten, "only the stored instance's new chunks are kept")

        // An instance without a Study Instance UID is refused before a byte of it is stored.
        var info = try DICOMReader.read(path: fresh[0])
        info.attributes.studyInstanceUID = nil
        let other = IngestSession(store: store, mayCorrect: false)
        #expect(throws: StoreError.self) {
            try other.prepare(name: "part-1.dcm", info: info, content: .file(path: fresh[0]))
        }
    }
}
