import Foundation
import NIOHTTP1
import Testing
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshStore
import TrustMeshTesting

/// Every door that discloses a patient's imaging, or what imaging they have, writes an audit entry
/// naming who (the signed-in person, the DICOM peer, the operating-system user) and the patient and
/// study, before the data leaves. One real node with its DICOM listener, people signed in through
/// the test identity provider, dcmtk's `findscu`/`movescu`/`storescp`, and the `trustmesh` CLI
/// running while the node runs.
@Suite(.serialized, .timeLimit(.minutes(3))) struct DisclosureAuditTests {
    static let nhs = "9434765919"
    static let study = "1.2.826.0.1.3680043.10.15.1"
    /// The synthetic patient's name: no entry may carry it.
    static let patientName = "AUDITED^SECRETNAME"
    /// Scripts/idp_provider.py's `USERS`: priya (consultant), sam (nurse), both clinicians at RKB.
    static let priya = "6f1c2a9e-3b7d-4e0a-9c51-2d8f0b7a1e01"
    static let sam = "6f1c2a9e-3b7d-4e0a-9c51-2d8f0b7a1e02"

    /// The node's entries written since the last call: each door's step reads only its own.
    final class Log: @unchecked Sendable {
        let directory: String
        private var mark: UInt64 = 0
        init(_ directory: String) { self.directory = directory }

        func new() throws -> [AuditEntry] {
            let entries = try LocalNode(directory: directory).store.audit.after(sequence: mark)
            mark = entries.last?.sequence ?? mark
            return entries
        }
    }

    /// Whether an entry names the person (by their provider's subject) and this patient and study.
    static func names(_ entry: AuditEntry, person: String, study: Bool = true) -> Bool {
        entry[.actorKind] == "person" && entry[.actorSubject] == person && entry[.nhsNumber] == nhs
            && (!study || entry[.studyUID] == Self.study)
    }

    static func json(_ body: String) throws -> [[String: Any]] {
        try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [[String: Any]])
    }

    static func first(_ object: [String: Any], _ tag: String) -> String? {
        ((object[tag] as? [String: Any])?["Value"] as? [Any])?.first as? String
    }

    @Test func everyDoorAuditsItsDisclosureNamingWhoThePatientAndTheStudy() async throws {
        let network = try TestNetwork(trusts: ["RKB"])
        let ports = try FreePorts.allocate(2)
        let (dicomPort, destinationPort) = (ports[0], ports[1])
        let input = network.directory.appending("in")
        let made = try await CommandRunner.trustmesh([
            "synthesize", "--out", input, "--patient-id", Self.nhs, "--patient-name", Self.patientName,
            "--study-uid", Self.study, "--series", "2", "--instances", "3", "--size", "64",
        ])
        #expect(made.status == 0, "\(made.stderr)")
        let ingested = try await CommandRunner.trustmesh(["ingest", "--data", network.dataDirectory("RKB"), input])
        #expect(ingested.status == 0, "\(ingested.stderr)")

        let received = network.directory.appending("moved")
        try FileManager.default.createDirectory(atPath: received, withIntermediateDirectories: true)
        let storescp = try BackgroundProcess(
            ["-aet", "DEST", "+xa", "+B", "-fe", ".dcm", "-od", received, "\(destinationPort)"],
            logPath: network.directory.appending("storescp.log"), executable: "/usr/bin/storescp", killHard: true)
        defer { storescp.stop() }
        try await network.start(
            "RKB",
            arguments: [
                "--dicom-port", "\(dicomPort)", "--move-destination", "DEST=127.0.0.1:\(destinationPort)",
                "--query-retrieve-ae", "MOVESCU,FINDSCU",
            ])
        let base = network.url("RKB")
        let log = Log(network.dataDirectory("RKB"))
        _ = try log.new()

        // The page: a study page view is one `view` entry naming priya, her session, the patient
        // and the study; the page's thumbnails are covered by it and add none.
        let priyaPage = try await network.signIn("RKB", user: "priya")
        let page = try await TestNetwork.request(.GET, base + "/study?uid=\(Self.study)", headers: priyaPage.headers)
        #expect(page.status == 200, "\(page.body.prefix(300))")
        let sops = page.body.components(separatedBy: "src=\"/thumbnail/").dropFirst().compactMap {
            $0.split(separator: "\"").first.map(String.init)
        }
        #expect(sops.count == 6)
        for sop in sops {
            let picture = try await TestNetwork.request(.GET, base + "/thumbnail/" + sop, headers: priyaPage.headers)
            #expect(picture.status == 200)
        }
        let viewed = try log.new().filter { $0.kind == .view }
        #expect(viewed.count == 1, "\(viewed)")
        let view = try #require(viewed.first)
        #expect(Self.names(view, person: Self.priya))
        #expect(view.actor == "Dr Priya Shah" && view[.session] != nil && view.details == "study page")

        // A thumbnail fetched with no page view of its study by that person: its own entry, naming
        // the instance; a second thumbnail of the study by them is covered by it.
        let samPage = try await network.signIn("RKB", user: "sam")
        for sop in sops.prefix(2) {
            let picture = try await TestNetwork.request(.GET, base + "/thumbnail/" + sop, headers: samPage.headers)
            #expect(picture.status == 200)
        }
        let samViews = try log.new().filter { $0.kind == .view }
        #expect(samViews.count == 1, "\(samViews)")
        #expect(samViews.first.map { Self.names($0, person: Self.sam) } == true, "\(samViews)")
        #expect(samViews.first?[.sopInstanceUID] == sops.first && samViews.first?.details == "thumbnail")

        // Information governance reads the patient's audit trail: that, too, is an entry.
        let inesPage = try await network.signIn("RKB", user: "ines")
        let trail = try await TestNetwork.request(.GET, base + "/audit?nhs=\(Self.nhs)", headers: inesPage.headers)
        #expect(trail.status == 200, "\(trail.body.prefix(300))")
        let read = try log.new().filter { $0.kind == .auditViewed }
        #expect(
            read.count == 1 && read.first?[.actorKind] == "person" && read.first?[.nhsNumber] == Self.nhs, "\(read)")
        #expect(read.first?[.actorSubject] != Self.priya)
        // An entry edited in the catalogue after the page checked the chain still shows as altered.
        let edited = try await CommandRunner.run(
            "/usr/bin/env",
            [
                "python3", "-c",
                "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); "
                    + "db.execute(\"UPDATE auditEntry SET json = CAST(replace(CAST(json AS TEXT), 'Dr Priya Shah', "
                    + "'Dr Nobody') AS BLOB) WHERE kind = 'view'\"); db.commit()",
                network.dataDirectory("RKB") + "/store/catalogue.sqlite",
            ])
        #expect(edited.status == 0, "\(edited.stderr)")
        let altered = try await TestNetwork.request(
            .GET, base + "/audit?clinician=nobody", headers: inesPage.headers)
        #expect(altered.body.contains("<td>Dr Nobody</td>") && altered.body.contains("No: RKB #"), "\(altered.body)")
        #expect(altered.body.contains("bad hash"))

        // FHIR search: a search for the patient's imaging, `query`, naming priya and the patient.
        let bearer = ["Authorization": "Bearer " + (try await network.token("RKB", user: "priya"))]
        let fhir = try await TestNetwork.request(
            .GET, base + "/fhir/ImagingStudy?patient.identifier=https://fhir.nhs.uk/Id/nhs-number%7C\(Self.nhs)",
            headers: bearer)
        #expect(fhir.status == 200 && fhir.body.contains(Self.study), "\(fhir.body.prefix(300))")
        #expect(try log.new().contains { $0.kind == .query && Self.names($0, person: Self.priya, study: false) })

        // DICOMweb QIDO-RS: by patient, by study (naming the study), the study's series and instances.
        let dicomJSON = bearer.merging(["Accept": "application/dicom+json"]) { $1 }
        for (query, namesStudy) in [
            ("/studies?PatientID=\(Self.nhs)", false), ("/studies?StudyInstanceUID=\(Self.study)", true),
            ("/studies/\(Self.study)/series", true),
        ] {
            let answer = try await TestNetwork.request(.GET, base + "/dicom-web" + query, headers: dicomJSON)
            #expect(answer.status == 200 && answer.body.contains(Self.study), "\(query): \(answer.body.prefix(300))")
            #expect(
                try log.new().contains { $0.kind == .query && Self.names($0, person: Self.priya, study: namesStudy) },
                "\(query)")
        }
        let instances = try Self.json(
            try await TestNetwork.request(
                .GET, base + "/dicom-web/studies/\(Self.study)/instances", headers: dicomJSON
            ).body)
        #expect(instances.count == 6)
        #expect(try log.new().contains { $0.kind == .query && Self.names($0, person: Self.priya) })
        let series = try #require(instances.first.flatMap { Self.first($0, "0020000E") })
        let sop = try #require(instances.first.flatMap { Self.first($0, "00080018") })

        // WADO-RS: the study, a series, an instance and metadata, each `retrieve` naming what left.
        let multipart = bearer.merging(["Accept": "multipart/related; type=\"application/dicom\""]) { $1 }
        for (path, accept, keys) in [
            ("/studies/\(Self.study)", multipart, [AuditEntry.SubjectKey.instances: "6"]),
            ("/studies/\(Self.study)/series/\(series)", multipart, [.seriesUID: series, .instances: "3"]),
            ("/studies/\(Self.study)/series/\(series)/instances/\(sop)", multipart, [.sopInstanceUID: sop]),
            ("/studies/\(Self.study)/metadata", dicomJSON, [.metadata: "6"]),
        ] {
            let answer = try await TestNetwork.request(.GET, base + "/dicom-web" + path, headers: accept)
            #expect(answer.status == 200, "\(path): \(answer.body.prefix(300))")
            let retrieved = try log.new().filter { $0.kind == .retrieve }
            #expect(retrieved.count == 1, "\(path): \(retrieved)")
            #expect(retrieved.first.map { Self.names($0, person: Self.priya) } == true, "\(path)")
            for (key, value) in keys { #expect(retrieved.first?[key] == value, "\(path): \(key)") }
        }

        // DIMSE: C-FIND is a `query` and C-MOVE a `retrieve`, naming the calling AE as the system.
        try await poll("RKB's DICOM listener", deadline: .seconds(30)) {
            ((try? await LocalAPIClient.status(node: network.api("RKB")))?.dicom?.port ?? 0) > 0
        }
        try Dcmtk.run(
            "findscu",
            [
                "-S", "-aet", "FINDSCU", "-aec", "TM_RKB", "-k", "QueryRetrieveLevel=STUDY", "-k",
                "PatientID=\(Self.nhs)", "-k", "StudyInstanceUID", "127.0.0.1", "\(dicomPort)",
            ])
        let found = try log.new().filter { $0.kind == .query }
        #expect(
            found.contains {
                $0.actor.hasPrefix("DICOM FINDSCU at ") && $0[.actorKind] == "system" && $0[.nhsNumber] == Self.nhs
            }, "\(found)")
        try Dcmtk.run(
            "movescu",
            [
                "-S", "-aet", "MOVESCU", "-aec", "TM_RKB", "-aem", "DEST", "-k", "QueryRetrieveLevel=STUDY", "-k",
                "StudyInstanceUID=\(Self.study)", "127.0.0.1", "\(dicomPort)",
            ])
        let moved = try log.new().filter { $0.kind == .retrieve }
        #expect(moved.count == 1, "\(moved)")
        #expect(moved.first?.actor.hasPrefix("DICOM MOVESCU at ") == true && moved.first?[.actorKind] == "system")
        #expect(moved.first?[.nhsNumber] == Self.nhs && moved.first?[.studyUID] == Self.study)
        #expect(moved.first?[.instances] == "6" && moved.first?.details?.contains("C-MOVE to DEST") == true)

        // `trustmesh export --data` while the node runs: `export`, naming the operating-system user,
        // the patient, the study, what was written and where.
        let out = network.directory.appending("exported")
        let exported = try await CommandRunner.trustmesh([
            "export", "--data", network.dataDirectory("RKB"), "--study", Self.study, "--out", out,
        ])
        #expect(exported.status == 0, "\(exported.stderr)")
        let exports = try log.new().filter { $0.kind == .export }
        #expect(exports.count == 1, "\(exports)")
        let export = try #require(exports.first)
        #expect(export.actor == LocalNode.localOperatorName && export[.actorKind] == "system")
        #expect(export[.nhsNumber] == Self.nhs && export[.studyUID] == Self.study && export[.instances] == "6")
        #expect(export.details == out)
        let written = FileManager.default.enumerator(atPath: out)?.allObjects.compactMap { $0 as? String } ?? []
        let bytes = try written.filter { $0.hasSuffix(".dcm") }.reduce(0) {
            $0 + ((try FileManager.default.attributesOfItem(atPath: out + "/" + $1)[.size] as? Int) ?? 0)
        }
        #expect(written.filter { $0.hasSuffix(".dcm") }.count == 6 && export[.bytes] == "\(bytes)")

        // No entry carries the patient's name.
        let all = try LocalNode(directory: network.dataDirectory("RKB")).store.audit.all()
        #expect(all.contains { $0.kind == .view })
        let encoded = String(decoding: try JSONEncoder().encode(all), as: UTF8.self)
        #expect(!encoded.contains("SECRETNAME"))

        // A disclosure that cannot be logged does not happen: the catalogue refuses `view`,
        // `retrieve` and `export` entries (a trigger, as a full or broken database would).
        let refuse = ["view", "retrieve", "export"].map {
            "CREATE TRIGGER refuse_\($0) BEFORE INSERT ON auditEntry WHEN NEW.kind = '\($0)' "
                + "BEGIN SELECT RAISE(ABORT, 'audit refused by the test'); END;"
        }.joined()
        let installed = try await CommandRunner.run(
            "/usr/bin/sqlite3",
            ["-cmd", ".timeout 10000", network.dataDirectory("RKB") + "/store/catalogue.sqlite", refuse])
        #expect(installed.status == 0, "\(installed.stderr)")
        let unlogged = try await TestNetwork.request(
            .GET, base + "/study?uid=\(Self.study)", headers: priyaPage.headers)
        #expect(unlogged.status == 500 && !unlogged.body.contains("/thumbnail/"), "\(unlogged.body.prefix(300))")
        // A new session of priya's has no window yet: its thumbnail needs an entry, so is not sent.
        let again = try await network.signIn("RKB", user: "priya")
        let picture = try await TestNetwork.request(.GET, base + "/thumbnail/" + sops[0], headers: again.headers)
        #expect(picture.status == 500 && !picture.body.hasPrefix("\u{89}PNG"))
        let wado = try await TestNetwork.request(.GET, base + "/dicom-web/studies/\(Self.study)", headers: multipart)
        #expect(wado.status == 500 && !wado.body.contains("DICM"))
        let refusedOut = network.directory.appending("not-exported")
        let refused = try await CommandRunner.trustmesh([
            "export", "--data", network.dataDirectory("RKB"), "--study", Self.study, "--out", refusedOut,
        ])
        #expect(refused.status != 0 && refused.stderr.contains("could not append export"), "\(refused.stderr)")
        let leaked = FileManager.default.enumerator(atPath: refusedOut)?.allObjects.compactMap { $0 as? String } ?? []
        #expect(leaked.filter { $0.hasSuffix(".dcm") }.isEmpty, "\(leaked)")
        #expect(try log.new().filter { [.view, .retrieve, .export].contains($0.kind) }.isEmpty)
    }

    /// The thumbnail window: an entry covers its actor's thumbnails of the study for its length,
    /// not another actor's nor another study's; after it, the next thumbnail writes again; a
    /// released claim writes again; the table stays bounded.
    @Test func aViewCoversItsActorsThumbnailsOfTheStudyForTheWindowOnly() throws {
        let window = ViewAuditWindow(length: 900, maximumWindows: 3)
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let alice = Actor.system("alice")
        let bob = Actor.system("bob")
        window.opened(alice, studyUID: "1.2.3", at: start)
        #expect(!window.claim(alice, studyUID: "1.2.3", at: start.addingTimeInterval(899)))
        #expect(window.claim(bob, studyUID: "1.2.3", at: start))
        #expect(window.claim(alice, studyUID: "1.2.4", at: start))
        #expect(window.claim(alice, studyUID: "1.2.3", at: start.addingTimeInterval(900)))
        #expect(!window.claim(alice, studyUID: "1.2.3", at: start.addingTimeInterval(1000)))
        // An entry that could not be written is claimed again by the next thumbnail.
        let later = start.addingTimeInterval(5000)
        #expect(window.claim(bob, studyUID: "1.2.5", at: later))
        window.release(bob, studyUID: "1.2.5", at: later)
        #expect(window.claim(bob, studyUID: "1.2.5", at: later))
        // Past the bound open windows are forgotten: only more entries, never fewer.
        window.opened(alice, studyUID: "1.2.6", at: later)
        #expect(!window.claim(alice, studyUID: "1.2.6", at: later.addingTimeInterval(1)))
        for index in 0..<10 { _ = window.claim(bob, studyUID: "9.\(index)", at: later) }
        #expect(window.claim(alice, studyUID: "1.2.6", at: later.addingTimeInterval(2)))
    }
}
