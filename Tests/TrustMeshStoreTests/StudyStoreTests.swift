import Foundation
import Testing
import TrustMeshCrypto
import TrustMeshDICOM
import TrustMeshModel
import TrustMeshTesting

@testable import TrustMeshStore

/// A small synthetic study written to `directory`.
func makeStudy(
    in directory: String, patientID: String = "9434765919", instances: Int = 4, size: Int = 64, seed: UInt64 = 1,
    studyUID: String? = nil
) throws -> (study: SyntheticStudy, files: [String]) {
    var study = SyntheticStudy(patientID: patientID, instancesPerSeries: instances, seed: seed)
    study.rows = size
    study.columns = size
    if let studyUID { study.studyInstanceUID = studyUID }
    return (study, try study.write(to: directory))
}

func fileHashes(_ paths: [String]) throws -> [Digest256] {
    try paths.map { BLAKE2b256.hash([UInt8](try Data(contentsOf: URL(fileURLWithPath: $0)))) }
}

/// Files under a folder (recursively), sorted.
func files(under path: String) -> [String] {
    let enumerator = FileManager.default.enumerator(atPath: path)
    var found: [String] = []
    while let relative = enumerator?.nextObject() as? String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path + "/" + relative, isDirectory: &isDirectory),
            !isDirectory.boolValue
        {
            found.append(path + "/" + relative)
        }
    }
    return found.sorted()
}

/// Chunk files on disk (excluding the temporary folder).
func chunkFiles(_ storeDirectory: String) -> [String] {
    files(under: storeDirectory + "/chunks").filter { !($0.split(separator: "/").last ?? "").hasPrefix(".") }
}

@Suite(.timeLimit(.minutes(3))) struct StudyStoreTests {
    @Test func ingestThenExportIsByteIdentical() async throws {
        let dir = try TemporaryDirectory()
        let (study, originals) = try makeStudy(in: dir.appending("in"), instances: 5, size: 96)
        let store = try StudyStore(directory: dir.appending("store"))
        let report = try await store.ingest(paths: [dir.appending("in")])
        #expect(report.instancesAdded == 5)
        #expect(report.failures.isEmpty)
        #expect(report.studies == [study.studyInstanceUID])
        #expect(
            report.bytesRead
                == originals.reduce(0) { $0 + (try! FileManager.default.attributesOfItem(atPath: $1)[.size] as! Int) })

        let exported = try store.export(studyUID: study.studyInstanceUID, to: dir.appending("out"))
        #expect(exported.files.count == 5)
        #expect(Set(try fileHashes(exported.files)) == Set(try fileHashes(originals)))
    }

    @Test func reingestingTheSameFilesAddsNothing() async throws {
        let dir = try TemporaryDirectory()
        _ = try makeStudy(in: dir.appending("in"), instances: 3)
        let store = try StudyStore(directory: dir.appending("store"))
        let first = try await store.ingest(paths: [dir.appending("in")])
        let chunksBefore = chunkFiles(dir.appending("store"))
        let second = try await store.ingest(paths: [dir.appending("in")])
        #expect(first.bytesStored > 0)
        #expect(second.instancesUnchanged == 3)
        #expect(second.instancesAdded == 0)
        #expect(second.bytesStored == 0)
        #expect(second.chunksWritten == 0)
        #expect(chunkFiles(dir.appending("store")) == chunksBefore)
        #expect(try store.statistics().instances == 3)
    }

    @Test func theSameImagesUnderAnotherStudyAreStoredOnce() async throws {
        let dir = try TemporaryDirectory()
        // Same seed and size: identical pixel data; different UIDs and header.
        _ = try makeStudy(in: dir.appending("a"), instances: 3, size: 128, seed: 5)
        _ = try makeStudy(in: dir.appending("b"), instances: 3, size: 128, seed: 5)
        let store = try StudyStore(directory: dir.appending("store"))
        let a = try await store.ingest(paths: [dir.appending("a")])
        let b = try await store.ingest(paths: [dir.appending("b")])
        #expect(b.instancesAdded == 3)
        // Only the headers are new: a few hundred bytes per instance against 32 KB of pixels.
        #expect(b.newChunkBytes * 20 < a.newChunkBytes)
    }

    @Test func aLongerPatientNameStoresAtMostFivePercentNewBytes() async throws {
        let dir = try TemporaryDirectory()
        let (_, files) = try makeStudy(in: dir.appending("in"), instances: 1, size: 512)
        let store = try StudyStore(directory: dir.appending("store"))
        _ = try await store.ingest(paths: files)
        // Re-code the name as another trust's PAS would: a longer value near the start of the file.
        let edited = dir.appending("edited.dcm")
        try FileManager.default.copyItem(atPath: files[0], toPath: edited)
        let result = try await CommandRunner.run(
            "dcmodify", ["-nb", "-m", "(0010,0010)=MUCH-LONGER-SURNAME^FORENAME^MIDDLE", edited])
        #expect(result.status == 0, "\(result.stderr)")
        let size = try FileManager.default.attributesOfItem(atPath: edited)[.size] as! Int
        let report = try await store.ingest(paths: [edited], mayCorrect: true)
        #expect(report.instancesReplaced == 1)
        #expect(report.newChunkBytes > 0)
        #expect(Double(report.newChunkBytes) <= 0.05 * Double(size))
    }

    @Test func badFilesAreReportedAndLeaveNothingWhileGoodFilesGoIn() async throws {
        let dir = try TemporaryDirectory()
        let input = dir.appending("in")
        let (_, good) = try makeStudy(in: input, instances: 2)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good[0]))
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: input + "/truncated.dcm"))
        try Data("this is not DICOM at all, just a note left on a CD".utf8).write(
            to: URL(fileURLWithPath: input + "/README.txt"))
        let store = try StudyStore(directory: dir.appending("store"))
        let report = try await store.ingest(paths: [input])
        #expect(report.instancesAdded == 2)
        #expect(report.failures.count == 2)
        let reasons = report.failures.map(\.reason).joined(separator: "\n")
        #expect(reasons.contains("truncated.dcm"))
        #expect(reasons.contains("README.txt"))
        let stats = try store.statistics()
        #expect(stats.instances == 2)
        #expect(chunkFiles(dir.appending("store")).count == stats.chunks)
    }

    @Test func anInstanceNamingAnotherPatientIsRefusedAndItsChunksRemoved() async throws {
        let dir = try TemporaryDirectory()
        let (study, _) = try makeStudy(in: dir.appending("a"), patientID: "9434765919", instances: 2)
        // Same Study Instance UID, another patient, other pixels: a mis-filed image.
        _ = try makeStudy(
            in: dir.appending("b"), patientID: "4010232137", instances: 1, seed: 9, studyUID: study.studyInstanceUID)
        let store = try StudyStore(directory: dir.appending("store"))
        _ = try await store.ingest(paths: [dir.appending("a")])
        let chunksBefore = chunkFiles(dir.appending("store"))
        let report = try await store.ingest(paths: [dir.appending("b")])
        #expect(report.instancesAdded == 0)
        #expect(report.failures.count == 1)
        #expect(report.failures[0].reason.contains("NHS number ending 2137"))
        #expect(!report.failures[0].reason.contains("4010232137"))
        #expect(chunkFiles(dir.appending("store")) == chunksBefore)
        #expect(try store.statistics().instances == 2)
    }

    @Test func aStudyWithoutAValidNHSNumberIsStoredButUnmatched() async throws {
        let dir = try TemporaryDirectory()
        let (study, _) = try makeStudy(in: dir.appending("in"), patientID: "HOSP-000123")
        let store = try StudyStore(directory: dir.appending("store"))
        let report = try await store.ingest(paths: [dir.appending("in")])
        #expect(report.unmatchedStudies == [study.studyInstanceUID])
        #expect(try store.unmatchedStudies().map(\.studyInstanceUID) == [study.studyInstanceUID])
        #expect(try store.statistics().unmatchedStudies == 1)
    }

    @Test func anNHSIssuedOtherPatientIDMatchesTheStudy() async throws {
        let dir = try TemporaryDirectory()
        var study = SyntheticStudy(patientID: "HOSP-000123", instancesPerSeries: 1, seed: 3)
        study.rows = 32
        study.columns = 32
        study.otherPatientIDs = [OtherPatientID(patientID: "4010232137", issuer: "NHS")]
        _ = try study.write(to: dir.appending("in"))
        let store = try StudyStore(directory: dir.appending("store"))
        let report = try await store.ingest(paths: [dir.appending("in")])
        #expect(report.unmatchedStudies.isEmpty)
        let found = try store.studies(nhs: NHSNumber("401 023 2137"))
        #expect(found.map(\.studyInstanceUID) == [study.studyInstanceUID])
        #expect(found.first?.instanceCount == 1)
    }

    @Test func queryListsOnlyThatPatientsStudiesWithCountsAndSize() async throws {
        let dir = try TemporaryDirectory()
        let (mine, files) = try makeStudy(in: dir.appending("a"), patientID: "9434765919", instances: 3)
        _ = try makeStudy(in: dir.appending("b"), patientID: "4010232137", instances: 2, seed: 2)
        let store = try StudyStore(directory: dir.appending("store"))
        _ = try await store.ingest(paths: [dir.appending("a"), dir.appending("b")])
        let studies = try store.studies(nhs: NHSNumber("9434765919"))
        #expect(studies.count == 1)
        let s = try #require(studies.first)
        #expect(s.studyInstanceUID == mine.studyInstanceUID)
        #expect(s.instanceCount == 3)
        #expect(s.seriesCount == 1)
        #expect(s.modalities == ["CT"])
        let total = try files.reduce(0) { $0 + (try FileManager.default.attributesOfItem(atPath: $1)[.size] as! Int) }
        #expect(s.sizeBytes == total)
    }

    @Test func aCorruptChunkIsDetectedOnExportAndNoPartialFileIsLeft() async throws {
        let dir = try TemporaryDirectory()
        let (study, _) = try makeStudy(in: dir.appending("in"), instances: 1)
        let store = try StudyStore(directory: dir.appending("store"))
        _ = try await store.ingest(paths: [dir.appending("in")])
        let chunk = try #require(chunkFiles(dir.appending("store")).first)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: chunk)))
        bytes[bytes.count / 2] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: chunk))
        #expect(throws: StoreError.self) {
            try store.export(studyUID: study.studyInstanceUID, to: dir.appending("out"))
        }
        #expect(files(under: dir.appending("out")).isEmpty)
    }

    @Test func exportOfAnUnknownStudyNamesIt() throws {
        let dir = try TemporaryDirectory()
        let store = try StudyStore(directory: dir.appending("store"))
        let error = #expect(throws: StoreError.self) { try store.export(studyUID: "1.2.3.4", to: dir.appending("out")) }
        #expect(error?.description.contains("1.2.3.4") == true)
    }
}
