import Foundation
import Testing
import TrustMeshDICOM
import TrustMeshTesting

@testable import TrustMeshStore

/// The check made before an instance is stored (C-STORE answers from it, then catalogues later)
/// must refuse exactly what ingest's commit refuses, with the same text and the same kind.
@Suite(.timeLimit(.minutes(3))) struct StudyAdmissionTests {
    /// What the admission decides from the catalogue alone.
    static func admission(_ store: StudyStore, _ path: String) throws -> Admission {
        let checked = try StudyStore.check(path: path)
        return StudyStore.admission(checked, path: path, held: [try store.heldIdentity(of: checked)])
    }

    @Test func aRefusalBeforeStoringReadsExactlyAsTheCommitsRefusal() async throws {
        let dir = try TemporaryDirectory()
        let (study, files) = try makeStudy(in: dir.appending("in"), instances: 3)
        let store = try StudyStore(directory: dir.appending("store"))
        #expect(try await store.ingest(paths: [files[0], files[1]]).instancesAdded == 2)

        // A new instance of the held study is new; a held one is held (only its bytes decide).
        guard case .new = try Self.admission(store, files[2]) else { Issue.record("not new"); return }
        guard case .held = try Self.admission(store, files[0]) else { Issue.record("not held"); return }

        let attacks: [(String, String, [String])] = [
            // A held instance filed under another study.
            (
                "instance", files[0],
                ["(0020,000D)=1.2.826.0.1.3680043.10.999.81", "(0020,000E)=1.2.826.0.1.3680043.10.999.81.1"]
            ),
            // A held series under another study (new instance).
            (
                "series", files[2],
                ["(0020,000D)=1.2.826.0.1.3680043.10.999.82", "(0008,0018)=1.2.826.0.1.3680043.10.999.82.1"]
            ),
            // Another patient's NHS number in the held study (new series and instance).
            (
                "patient", files[2],
                [
                    "(0010,0020)=\(IdentityTests.patientB)", "(0020,000E)=1.2.826.0.1.3680043.10.999.83",
                    "(0008,0018)=1.2.826.0.1.3680043.10.999.83.1",
                ]
            ),
        ]
        for (name, source, changes) in attacks {
            let path = try await IdentityTests.modified(source, to: dir.appending("\(name).dcm"), changes)
            guard case .refused(let early) = try Self.admission(store, path) else {
                Issue.record("\(name): not refused before storing")
                continue
            }
            let report = try await store.ingest(paths: [path])
            let failure = try #require(report.failures.first, "\(name)")
            #expect(failure.reason == early.description, "\(name)")
            #expect((failure.identityConflict == true) == early.isIdentityConflict, "\(name)")
        }
        #expect(try store.study(uid: study.studyInstanceUID)?.instanceCount == 2)

        // Bad files: the check throws what ingest reports.
        let noSeries = try await IdentityTests.modified(files[2], to: dir.appending("bad.dcm"), ["(0020,000E)=../x"])
        let garbage = dir.appending("garbage.dcm")
        try Data("not DICOM at all".utf8).write(to: URL(fileURLWithPath: garbage))
        for path in [noSeries, garbage] {
            var thrown: StoreError?
            do { _ = try StudyStore.check(path: path) } catch { thrown = error }
            let report = try await store.ingest(paths: [path])
            #expect(report.failures.first?.reason == thrown?.description, "\(path)")
        }
    }
}
