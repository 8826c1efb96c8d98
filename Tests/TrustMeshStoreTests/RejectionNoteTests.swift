import Foundation
import Testing
import TrustMeshDICOM
import TrustMeshTesting

@testable import TrustMeshStore

/// IHE IOCM rejection notes at ingest: recognised by their title and evidence (notes written by
/// pydicom), applied in the commit instead of being stored, refused by name when they cannot be.
@Suite(.timeLimit(.minutes(3))) struct RejectionNoteTests {
    /// A store holding one four-instance study, and its files.
    func heldStudy(_ dir: TemporaryDirectory) async throws -> (StudyStore, SyntheticStudy, [String]) {
        let store = try StudyStore(directory: dir.appending("store"))
        let (study, files) = try makeStudy(in: dir.appending("in"), instances: 4)
        let report = try await store.ingest(paths: files)
        try #require(report.instancesAdded == 4)
        return (store, study, files)
    }

    func dump(_ path: String) throws -> DataSetDump {
        var source = try FileByteSource(path: path)
        return try DataSetDump.read(source: &source)
    }

    @Test func eachRejectionCodeIsRecognisedWithItsEvidenceAndOtherTitlesAreNot() async throws {
        let dir = try TemporaryDirectory(prefix: "rejection-codes")
        let (_, files) = try makeStudy(in: dir.appending("in"), instances: 3)
        for code in ["113001", "113037", "113038", "113039"] {
            for implicit in [false, true] {
                let path = dir.appending("\(code)-\(implicit).dcm")
                let uid = try await RejectionNotes.write(
                    to: path, rejecting: Array(files.prefix(2)), options: .init(code: code, implicitVR: implicit))
                guard case .rejection(let note) = try RejectionNote.recognise(try dump(path)) else {
                    Issue.record("\(code) (implicit VR: \(implicit)) was not recognised")
                    continue
                }
                #expect(note.code == code)
                #expect(note.meaning == RejectionNote.codes[code])
                #expect(note.sopInstanceUID == uid)
                #expect(note.instances.count == 2)
                let first = try DICOMReader.read(path: files[0]).attributes
                #expect(note.instances.first?.sopInstanceUID == first.sopInstanceUID)
                #expect(note.instances.first?.seriesUID == first.seriesInstanceUID)
                #expect(note.studies == [first.studyInstanceUID!])
            }
        }
        // "Of Interest" (113000), a rejection code under another scheme, and another SOP class:
        // ordinary objects.
        let others: [RejectionNotes.Options] = [
            .init(code: "113000"), .init(code: "113037", scheme: "SCT"),
            .init(sopClassUID: "1.2.840.10008.5.1.4.1.1.88.22"),
        ]
        for (i, options) in others.enumerated() {
            let path = dir.appending("other-\(i).dcm")
            try await RejectionNotes.write(to: path, rejecting: files, options: options)
            #expect(try RejectionNote.recognise(try dump(path)) == .notARejectionNote)
        }
    }

    @Test func aNoteWithoutEvidenceIsRefusedByNameAndRemovesNothing() async throws {
        let dir = try TemporaryDirectory(prefix: "rejection-no-evidence")
        let (store, study, files) = try await heldStudy(dir)
        let path = dir.appending("note.dcm")
        try await RejectionNotes.write(to: path, rejecting: files, options: .init(evidence: false))
        #expect(throws: RejectionNoteError.self) { try RejectionNote.recognise(try dump(path)) }
        let report = try await store.ingest(paths: [path])
        #expect(report.rejectionNotes == nil)
        #expect(report.failures.count == 1)
        #expect(report.failures.first?.reason.contains("Current Requested Procedure Evidence Sequence") == true)
        #expect(try store.study(uid: study.studyInstanceUID)?.instanceCount == 4)
    }

    @Test func aNoteRejectingEveryInstanceRemovesTheStudyAndIsNotStored() async throws {
        let dir = try TemporaryDirectory(prefix: "rejection-whole")
        let (store, study, files) = try await heldStudy(dir)
        let path = dir.appending("note.dcm")
        let noteUID = try await RejectionNotes.write(to: path, rejecting: files)
        let report = try await store.ingest(paths: [path])
        #expect(report.rejectionNotes == 1)
        #expect(report.failures.isEmpty)
        #expect(try store.study(uid: study.studyInstanceUID) == nil)
        #expect(try store.studyUID(ofInstance: noteUID) == nil)
        let applied = try store.unsettledRejections(studies: [study.studyInstanceUID])
        #expect(applied.count == 1)
        #expect(applied.first?.noteUID == noteUID)
        #expect(applied.first?.studyRemoved == true)
        #expect(applied.first?.instances == 4)
        #expect(applied.first?.code == "113037")
        // The same note again changes nothing.
        let again = try await store.ingest(paths: [path])
        #expect(again.instancesUnchanged == 1)
        try store.settleRejection(noteUID)
        #expect(try store.unsettledRejections(studies: [study.studyInstanceUID]).isEmpty)
    }

    @Test func aNoteRejectingSomeInstancesLeavesTheOthers() async throws {
        let dir = try TemporaryDirectory(prefix: "rejection-partial")
        let (store, study, files) = try await heldStudy(dir)
        let before = try store.studyManifestHash(uid: study.studyInstanceUID)
        let path = dir.appending("note.dcm")
        try await RejectionNotes.write(to: path, rejecting: Array(files.prefix(1)), options: .init(code: "113001"))
        let report = try await store.ingest(paths: [path])
        #expect(report.rejectionNotes == 1)
        #expect(try store.study(uid: study.studyInstanceUID)?.instanceCount == 3)
        #expect(try store.studyManifestHash(uid: study.studyInstanceUID) != before)
        let applied = try store.unsettledRejections(studies: [study.studyInstanceUID])
        #expect(applied.first?.studyRemoved == false)
        #expect(applied.first?.instances == 1)
        // The whole study sent again: the rejected instance is refused naming its note, the others
        // are unchanged, and the study stays as the note left it.
        let noteUID = try #require(applied.first?.noteUID)
        let afterNote = try store.studyManifestHash(uid: study.studyInstanceUID)
        // C-STORE answers from the admission, before the commit: it refuses the rejected instance
        // with the commit's own words, so a modality resending it is told, not answered Success.
        guard case .refused(let early) = try StudyAdmissionTests.admission(store, files[0]) else {
            Issue.record("the rejected instance was admitted")
            return
        }
        guard case .held = try StudyAdmissionTests.admission(store, files[1]) else {
            Issue.record("an instance the note left was not held")
            return
        }
        let resent = try await store.ingest(paths: files)
        #expect(resent.failures.count == 1, "\(resent.failures)")
        #expect(resent.failures.first?.path == files[0])
        #expect(
            resent.failures.first?.reason.contains(
                "was rejected by note \(noteUID) (code 113001) and is not stored again")
                == true, "\(resent.failures)")
        #expect(resent.failures.first?.reason == early.description)
        #expect(resent.instancesUnchanged == 3)
        #expect(try store.study(uid: study.studyInstanceUID)?.instanceCount == 3)
        #expect(try store.studyManifestHash(uid: study.studyInstanceUID) == afterNote)
    }

    @Test func aKOSThatIsNotARejectionNoteIsStoredAsAnObject() async throws {
        let dir = try TemporaryDirectory(prefix: "rejection-kos")
        let (store, study, files) = try await heldStudy(dir)
        let path = dir.appending("note.dcm")
        let uid = try await RejectionNotes.write(to: path, rejecting: files, options: .init(code: "113000"))
        let report = try await store.ingest(paths: [path])
        #expect(report.rejectionNotes == nil)
        #expect(report.instancesAdded == 1)
        #expect(try store.study(uid: study.studyInstanceUID)?.instanceCount == 5)
        #expect(try store.studyUID(ofInstance: uid) == study.studyInstanceUID)
    }

    @Test func aCopysMarkSurvivesReopeningTheStoreAndSaysWhy() throws {
        let dir = try TemporaryDirectory(prefix: "rejection-mark")
        let path = dir.appending("store")
        do {
            let store = try StudyStore(directory: path)
            try store.mark(
                CopyMark(
                    studyUID: "1.2.3", origin: "RRK", state: .withdrawn,
                    reason: "Rejected for Patient Safety Reasons (DCM 113037)", recordSequence: 7,
                    issuedAt: "2026-12-05T10:00:00Z", markedAt: "2026-12-05T10:00:01Z"))
            try store.mark(
                CopyMark(
                    studyUID: "1.2.4", origin: "RRK", state: .corrected, reason: nil, recordSequence: 8,
                    issuedAt: "2026-12-06T10:00:00Z", markedAt: "2026-12-06T10:00:01Z"))
        }
        let reopened = try StudyStore(directory: path)
        let withdrawn = try #require(try reopened.copyMark(studyUID: "1.2.3"))
        #expect(withdrawn.recordSequence == 7)
        #expect(
            withdrawn.note
                == "withdrawn by its origin RRK on 2026-12-05: Rejected for Patient Safety Reasons (DCM 113037)")
        #expect(
            try reopened.copyMark(studyUID: "1.2.4")?.note == "corrected at the origin RRK on 2026-12-06: fetch again")
        #expect(try reopened.copyMarks().map(\.studyUID) == ["1.2.4", "1.2.3"])
        try reopened.discardCopy(studyUID: "1.2.4")
        #expect(try reopened.copyMark(studyUID: "1.2.4") == nil)
        #expect(try reopened.copyMark(studyUID: "1.2.9") == nil)
    }

    @Test func aNoteForAStudyNotHeldIsRefused() async throws {
        let dir = try TemporaryDirectory(prefix: "rejection-unheld")
        let store = try StudyStore(directory: dir.appending("store"))
        let (_, files) = try makeStudy(in: dir.appending("in"), instances: 2)
        let path = dir.appending("note.dcm")
        try await RejectionNotes.write(to: path, rejecting: files)
        let report = try await store.ingest(paths: [path])
        #expect(report.failures.first?.reason.contains("which this node does not hold") == true)
        #expect(try store.statistics().studies == 0)
    }
}
