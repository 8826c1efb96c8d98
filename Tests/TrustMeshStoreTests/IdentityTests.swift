import Foundation
import Testing
import TrustMeshCrypto
import TrustMeshDICOM
import TrustMeshModel
import TrustMeshTesting

@testable import TrustMeshStore

/// The identity of data at the store: a UID is a UID, a series or instance held in one study is
/// never re-filed under another, held bytes change only by a correction, a fetched manifest is
/// what its holder announced, and export writes only inside its folder.
@Suite(.timeLimit(.minutes(3))) struct IdentityTests {
    static let patientA = "9434765919"
    static let patientB = "4010232137"

    /// A copy of `file` at `path` with attributes changed by dcmodify (dcmtk), e.g. `(0020,000E)=1.2`.
    static func modified(_ file: String, to path: String, _ changes: [String]) async throws -> String {
        try FileManager.default.copyItem(atPath: file, toPath: path)
        let result = try await CommandRunner.run("dcmodify", ["-nb"] + changes.flatMap { ["-m", $0] } + [path])
        #expect(result.status == 0, "\(result.stderr)")
        return path
    }

    static func attributes(_ path: String) throws -> DICOMAttributes { try DICOMReader.read(path: path).attributes }

    @Test func aUIDThatIsAPathIsRefusedAtIngestNamingTheAttributeAndNothingIsStored() async throws {
        let dir = try TemporaryDirectory()
        let (_, files) = try makeStudy(in: dir.appending("in"), instances: 1)
        let bad = try await Self.modified(
            files[0], to: dir.appending("bad.dcm"), ["(0020,000E)=../../../../../../outside/ESCAPED"])
        let store = try StudyStore(directory: dir.appending("store"))
        let report = try await store.ingest(paths: [bad])
        #expect(report.instancesIngested == 0)
        #expect(report.failures.count == 1)
        #expect(report.failures.first?.reason.contains("SeriesInstanceUID is not a valid UID") == true)
        #expect(try store.statistics().instances == 0)
        #expect(chunkFiles(dir.appending("store")).isEmpty)
    }

    @Test func aSeriesHeldInAnotherStudyIsNeverRefiledEvenForAnotherPatient() async throws {
        let dir = try TemporaryDirectory()
        let (study, files) = try makeStudy(in: dir.appending("in"), instances: 3)
        let store = try StudyStore(directory: dir.appending("store"))
        #expect(try await store.ingest(paths: [dir.appending("in")]).instancesAdded == 3)
        let chunksBefore = chunkFiles(dir.appending("store")).count
        // Patient A's series UID, a new study and SOP Instance UID, patient B's NHS number.
        let attack = try await Self.modified(
            files[0], to: dir.appending("attack.dcm"),
            [
                "(0020,000D)=1.2.826.0.1.3680043.10.999.77", "(0008,0018)=1.2.826.0.1.3680043.10.999.77.1",
                "(0010,0020)=\(Self.patientB)",
            ])
        let report = try await store.ingest(paths: [attack])
        #expect(report.instancesIngested == 0)
        let failure = try #require(report.failures.first)
        #expect(failure.identityConflict == true)
        #expect(failure.reason.contains("a series is never re-filed"))
        #expect(try store.study(uid: study.studyInstanceUID)?.instanceCount == 3)
        #expect(try store.study(uid: "1.2.826.0.1.3680043.10.999.77") == nil)
        #expect(try store.studies(nhs: NHSNumber(Self.patientB)).isEmpty)
        #expect(chunkFiles(dir.appending("store")).count == chunksBefore)
    }

    @Test func anInstanceHeldInAnotherStudyIsNeverReplaced() async throws {
        let dir = try TemporaryDirectory()
        let (study, files) = try makeStudy(in: dir.appending("in"), instances: 2)
        let store = try StudyStore(directory: dir.appending("store"))
        _ = try await store.ingest(paths: [dir.appending("in")])
        let before = try #require(try store.studyManifestHash(uid: study.studyInstanceUID))
        let attack = try await Self.modified(
            files[0], to: dir.appending("attack.dcm"),
            ["(0020,000D)=1.2.826.0.1.3680043.10.999.78", "(0020,000E)=1.2.826.0.1.3680043.10.999.78.1"])
        // Even the operator's correction cannot move an instance to another study.
        let report = try await store.ingest(paths: [attack], mayCorrect: true)
        #expect(report.failures.first?.identityConflict == true)
        #expect(report.failures.first?.reason.contains("an instance is never re-filed") == true)
        #expect(try store.studyManifestHash(uid: study.studyInstanceUID) == before)
        #expect(try store.study(uid: "1.2.826.0.1.3680043.10.999.78") == nil)
    }

    @Test func otherBytesUnderAHeldUIDAreRefusedUnlessACorrectionAndACorrectionNamesBothHashes() async throws {
        let dir = try TemporaryDirectory()
        let (study, files) = try makeStudy(in: dir.appending("in"), instances: 2)
        let store = try StudyStore(directory: dir.appending("store"))
        _ = try await store.ingest(paths: [dir.appending("in")])
        let before = try #require(try store.studyManifestHash(uid: study.studyInstanceUID))
        let sop = try #require(try Self.attributes(files[0]).sopInstanceUID)
        let changed = try await Self.modified(files[0], to: dir.appending("changed.dcm"), ["(0010,0010)=OTHER^NAME"])

        let refused = try await store.ingest(paths: [changed])
        #expect(refused.failures.first?.identityConflict == true)
        #expect(refused.failures.first?.reason.contains("held bytes are not replaced") == true)
        #expect(try store.studyManifestHash(uid: study.studyInstanceUID) == before)
        let exported = try store.export(studyUID: study.studyInstanceUID, to: dir.appending("out1"))
        #expect(Set(try fileHashes(exported.files)) == Set(try fileHashes(files)))

        let corrected = try await store.ingest(paths: [changed], mayCorrect: true)
        #expect(corrected.instancesReplaced == 1)
        let correction = try #require(corrected.corrections.first)
        #expect(correction.sopInstanceUID == sop && correction.studyUID == study.studyInstanceUID)
        #expect(correction.oldManifestHash != correction.newManifestHash)
        #expect(try store.studyManifestHash(uid: study.studyInstanceUID) != before)
        #expect(try store.study(uid: study.studyInstanceUID)?.instanceCount == 2)
    }

    @Test func oneIngestCannotRefileASeriesItAddedEarlierInTheSameTransaction() async throws {
        let dir = try TemporaryDirectory()
        let (_, files) = try makeStudy(in: dir.appending("in"), instances: 2)
        let second = try await Self.modified(
            files[1], to: dir.appending("second.dcm"), ["(0020,000D)=1.2.826.0.1.3680043.10.999.79"])
        let store = try StudyStore(directory: dir.appending("store"))
        let report = try await store.ingest(paths: [files[0], second], workers: 1)
        #expect(report.instancesAdded == 1)
        #expect(report.failures.count == 1 && report.failures.first?.identityConflict == true)
        #expect(try store.study(uid: "1.2.826.0.1.3680043.10.999.79") == nil)
    }

    @Test func exportDoesNotFollowASymlinkPlantedInItsFolder() async throws {
        let dir = try TemporaryDirectory()
        let (study, files) = try makeStudy(in: dir.appending("in"), instances: 1)
        let a = try Self.attributes(files[0])
        let store = try StudyStore(directory: dir.appending("store"))
        _ = try await store.ingest(paths: files)
        let outside = dir.appending("outside")
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let out = dir.appending("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        // The series folder is a link to a folder outside.
        try FileManager.default.createSymbolicLink(
            atPath: out + "/" + a.seriesInstanceUID!, withDestinationPath: outside)
        #expect(throws: StoreError.self) { _ = try store.export(studyUID: study.studyInstanceUID, to: out) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)

        // The file itself is a link to a file outside: refused, the target untouched.
        let out2 = dir.appending("out2")
        try FileManager.default.createDirectory(
            atPath: out2 + "/" + a.seriesInstanceUID!, withIntermediateDirectories: true)
        try Data("victim".utf8).write(to: URL(fileURLWithPath: outside + "/victim"))
        try FileManager.default.createSymbolicLink(
            atPath: out2 + "/" + a.seriesInstanceUID! + "/" + a.sopInstanceUID! + ".dcm.partial",
            withDestinationPath: outside + "/victim")
        #expect(throws: StoreError.self) { _ = try store.export(studyUID: study.studyInstanceUID, to: out2) }
        #expect(try String(contentsOfFile: outside + "/victim", encoding: .utf8) == "victim")
    }

    // MARK: Fetched manifests

    static let key = SigningKey()

    /// The holder's signed index record for a study it holds, as `publishChanges` builds it.
    static func record(_ store: StudyStore, _ uid: String) throws -> IndexRecord {
        let summary = try #require(try store.study(uid: uid))
        return try IndexRecord.Draft(
            origin: TrustID("RRK"), sequence: 1, kind: .study, nhsNumber: NHSNumber(patientA), studyUID: uid,
            studyDate: summary.studyDate, modalities: summary.modalities, bodyParts: summary.bodyParts,
            studyDescription: summary.description, accessionNumber: summary.accessionNumber,
            seriesCount: summary.seriesCount, instanceCount: summary.instanceCount, sizeBytes: summary.sizeBytes,
            manifestHash: try store.studyManifestHash(uid: uid), issuedAt: "2026-03-14T09:26:53Z"
        ).signed(by: key)
    }

    @Test func aFetchedManifestMustBeWhatItsHolderAnnounced() async throws {
        let dir = try TemporaryDirectory()
        let (study, _) = try makeStudy(in: dir.appending("in"), instances: 3)
        let holder = try StudyStore(directory: dir.appending("a"))
        _ = try await holder.ingest(paths: [dir.appending("in")])
        let uid = study.studyInstanceUID
        let manifest = try #require(try holder.transferManifest(studyUID: uid))
        let record = try Self.record(holder, uid)
        try manifest.check(announced: record)
        #expect(manifest.contentHash == record.manifestHash)

        func refused(_ change: (inout TransferManifest) -> Void, _ reason: String) {
            var tampered = manifest
            change(&tampered)
            do {
                try tampered.check(announced: record)
                Issue.record("a manifest that \(reason) was accepted")
            } catch {
                #expect("\(error)".contains(reason), "\(error)")
            }
        }
        refused({ $0.instances.removeLast() }, "instances where the holder's index record announces 3")
        refused({ $0.instances[0].seriesUID = "../../x" }, "invalid SeriesInstanceUID")
        refused({ $0.instances[0].chunks[0].size = 2 << 20 }, "at most 1048576")
        refused({ $0.instances[1].sopInstanceUID = $0.instances[0].sopInstanceUID }, "twice")
        // Two instances' contents swapped: counts and sizes agree, the content does not.
        refused(
            {
                let first = $0.instances[0]
                ($0.instances[0].chunks, $0.instances[0].size) = ($0.instances[1].chunks, $0.instances[1].size)
                ($0.instances[1].chunks, $0.instances[1].size) = (first.chunks, first.size)
            }, "does not match the content")
        refused({ $0.instances[0].attributes.studyInstanceUID = "1.2.3.5" }, "attributes name other UIDs")
        refused({ $0.nhsNumber = Self.patientB }, "another study or patient")
    }

    @Test func aFetchedInstanceWhoseOwnHeaderContradictsTheManifestIsNotCommitted() async throws {
        let dir = try TemporaryDirectory()
        let (study, _) = try makeStudy(in: dir.appending("in"), instances: 2)
        let holder = try StudyStore(directory: dir.appending("a"))
        _ = try await holder.ingest(paths: [dir.appending("in")])
        var manifest = try #require(try holder.transferManifest(studyUID: study.studyInstanceUID))
        let requester = try StudyStore(directory: dir.appending("b"))
        let missing = try requester.missingChunks(of: manifest)
        try requester.storeVerifiedChunks(missing.map { ($0, try holder.storedChunk($0.hash)) })
        // The manifest files the second instance under another series than its header names.
        manifest.instances[1].seriesUID = "1.2.826.0.1.3680043.10.999.80"
        manifest.instances[1].attributes.seriesInstanceUID = "1.2.826.0.1.3680043.10.999.80"
        do {
            try requester.commitTransfer(manifest, nhsNumber: NHSNumber(Self.patientA), source: "test")
            Issue.record("a contradicted manifest was committed")
        } catch {
            #expect("\(error)".contains("own header has another SeriesInstanceUID"), "\(error)")
        }
        #expect(try requester.holds(studyUID: study.studyInstanceUID) == false)
        // The patient too: the same chunks under another NHS number.
        let honest = try #require(try holder.transferManifest(studyUID: study.studyInstanceUID))
        #expect(throws: StoreError.self) {
            try requester.commitTransfer(honest, nhsNumber: NHSNumber(Self.patientB), source: "test")
        }
        #expect(try requester.holds(studyUID: study.studyInstanceUID) == false)
        try requester.commitTransfer(honest, nhsNumber: NHSNumber(Self.patientA), source: "test")
        #expect(try requester.holds(studyUID: study.studyInstanceUID))
    }

    // MARK: The header check on the receive path

    /// Each chunk's plaintext, by hash, sliced from the files the study was made of (a chunk's
    /// plaintext is the instance's bytes at its place in the manifest).
    static func plaintexts(_ files: [String], _ manifest: TransferManifest) throws -> [Digest256: [UInt8]] {
        var bySOP: [String: [UInt8]] = [:]
        for file in files {
            bySOP[try attributes(file).sopInstanceUID ?? ""] = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        }
        var chunks: [Digest256: [UInt8]] = [:]
        for instance in manifest.instances {
            let bytes = try #require(bySOP[instance.sopInstanceUID])
            var offset = 0
            for chunk in instance.chunks {
                let plain = Array(bytes[offset..<(offset + chunk.size)])
                #expect(BLAKE2b256.hash(plain) == chunk.hash)
                chunks[chunk.hash] = plain
                offset += chunk.size
            }
        }
        return chunks
    }

    /// Hands `chunks` to `headers` as a fetch's receiver does once each is verified, and stores them.
    static func receive(
        _ chunks: [TransferManifest.Chunk], _ plain: [Digest256: [UInt8]], into store: StudyStore,
        from holder: StudyStore, headers: TransferHeaderCheck
    ) throws {
        for chunk in chunks {
            try #require(plain[chunk.hash]).withUnsafeBytes { headers.received(chunk.hash, plaintext: $0) }
        }
        try store.storeVerifiedChunks(chunks.map { ($0, try holder.storedChunk($0.hash)) })
    }

    @Test func aHeaderContradictionFoundAsTheChunksArriveCommitsNothingAndHeldInstancesAreNotReadAgain() async throws {
        let dir = try TemporaryDirectory()
        let (study, files) = try makeStudy(in: dir.appending("in"), instances: 3)
        let holder = try StudyStore(directory: dir.appending("a"))
        _ = try await holder.ingest(paths: [dir.appending("in")])
        let honest = try #require(try holder.transferManifest(studyUID: study.studyInstanceUID))
        let plain = try Self.plaintexts(files, honest)
        let requester = try StudyStore(directory: dir.appending("b"))
        let patientA = try NHSNumber(Self.patientA)

        // The holder files the second instance under another series than its own header names.
        var lie = honest
        lie.instances[1].seriesUID = "1.2.826.0.1.3680043.10.999.80"
        lie.instances[1].attributes.seriesInstanceUID = "1.2.826.0.1.3680043.10.999.80"
        let missing = try requester.missingChunks(of: lie)
        let checked = try requester.headerCheck(for: lie, nhsNumber: patientA, receiving: missing)
        // Second chunks before first ones: the order they arrive in does not matter.
        try Self.receive(missing.reversed(), plain, into: requester, from: holder, headers: checked)
        let found = try #require(checked.contradiction)
        #expect("\(found)".contains("own header has another SeriesInstanceUID"), "\(found)")
        do {
            try requester.commitTransfer(checked, source: "test")
            Issue.record("a contradicted manifest was committed")
        } catch {
            #expect("\(error)" == "\(found)")
        }
        #expect(try requester.holds(studyUID: study.studyInstanceUID) == false)

        // The honest manifest: every instance is read as its chunks arrive, none is read back.
        let fetch = try requester.headerCheck(for: honest, nhsNumber: patientA, receiving: missing)
        for chunk in honest.distinctChunks {
            try #require(plain[chunk.hash]).withUnsafeBytes { fetch.received(chunk.hash, plaintext: $0) }
        }
        #expect(fetch.contradiction == nil)
        #expect(fetch.readOnReceipt == honest.instances.count)
        #expect(fetch.unread.isEmpty)
        try requester.commitTransfer(fetch, source: "test")
        #expect(try requester.holds(studyUID: study.studyInstanceUID))

        // Fetched again: every instance is held with the same bytes and identity, so none is read.
        let again = try requester.headerCheck(for: honest, nhsNumber: patientA, receiving: [])
        #expect(again.unread.isEmpty && again.readOnReceipt == 0)
        try requester.commitTransfer(again, source: "test")
        // Under another patient nothing counts as held: each header is read back, and contradicts.
        let other = try requester.headerCheck(for: honest, nhsNumber: NHSNumber(Self.patientB), receiving: nil)
        #expect(other.unread.count == honest.instances.count)
        #expect(throws: StoreError.self) { try requester.commitTransfer(other, source: "test") }
    }

    /// Elements after Pixel Data are beyond what the receive path has in hand: such an instance
    /// is read back whole before the commit, so a PatientID placed after the pixels (which the
    /// reader, like the holder's ingest, takes over the one before them) is still checked.
    @Test func anInstanceWithElementsAfterPixelDataIsReadBackNotAssumed() async throws {
        let dir = try TemporaryDirectory()
        let (study, files) = try makeStudy(in: dir.appending("in"), instances: 2)
        // (0010,0020) LO "4010232137" appended after Pixel Data, Explicit VR Little Endian (PS3.5 §7.1.2).
        let trailer: [UInt8] = [0x10, 0x00, 0x20, 0x00, 0x4C, 0x4F, 0x0A, 0x00] + Array(Self.patientB.utf8)
        for file in files {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file))) + trailer
            try Data(bytes).write(to: URL(fileURLWithPath: file))
            #expect(try Self.attributes(file).patientID == Self.patientB)
        }
        let holder = try StudyStore(directory: dir.appending("a"))
        _ = try await holder.ingest(paths: [dir.appending("in")])
        let manifest = try #require(try holder.transferManifest(studyUID: study.studyInstanceUID))
        #expect(manifest.nhsNumber == Self.patientB)
        let plain = try Self.plaintexts(files, manifest)
        let requester = try StudyStore(directory: dir.appending("b"))
        let missing = try requester.missingChunks(of: manifest)

        // Announced as patient A, whose number the header names before the pixels.
        let lie = try requester.headerCheck(for: manifest, nhsNumber: NHSNumber(Self.patientA), receiving: missing)
        try Self.receive(missing, plain, into: requester, from: holder, headers: lie)
        #expect(lie.contradiction == nil)
        #expect(lie.readOnReceipt == 0)
        #expect(lie.unread.count == manifest.instances.count)
        do {
            try requester.commitTransfer(lie, source: "test")
            Issue.record("an instance whose header names another patient after its pixels was committed")
        } catch {
            #expect("\(error)".contains("own header has another NHS number"), "\(error)")
        }
        #expect(try requester.holds(studyUID: study.studyInstanceUID) == false)
        try requester.commitTransfer(manifest, nhsNumber: NHSNumber(Self.patientB), source: "test")
        #expect(try requester.holds(studyUID: study.studyInstanceUID))
    }
}
