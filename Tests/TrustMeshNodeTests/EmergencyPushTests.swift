import Foundation
import NIOHTTP1
import Testing
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshPeer
import TrustMeshPolicy
import TrustMeshStore
import TrustMeshTesting

/// The emergency push between real node processes: RRK's clinician pushes a study to a named
/// clinician at RKB with the real `trustmesh push`; RKB (which accepts pushes from RRK only) fetches
/// it under RRK's grant, lists it in its page's inbox and e-mails its notice address through a real
/// SMTP server on loopback (Python's aiosmtpd, Debian's python3-aiosmtpd); both logs hold the
/// disclosure; RJ1, not allowed, is refused, and so are a push of another kind and callers of the
/// push API without the right credentials.
@Suite(.serialized, .timeLimit(.minutes(4))) struct EmergencyPushTests {
    static let patient = "9434765919"
    static let study = "1.2.826.0.1.3680043.10.18.1"
    static let other = "1.2.826.0.1.3680043.10.18.2"
    static let duty = "imaging-duty@rkb.nhs.test"
    static let reason = "Trauma transfer: CT head for neurosurgical review tonight"
    static let clinician = "Dr Ama Boateng"

    /// The node's audit entries of the given kinds.
    static func entries(_ network: TestNetwork, _ code: String, _ kinds: Set<AuditEntry.Kind>) throws -> [AuditEntry] {
        try LocalNode(directory: network.dataDirectory(code)).store.audit.entries(kinds: kinds)
    }

    static func hashes(_ paths: [String]) throws -> Set<String> {
        Set(try paths.map { BLAKE2b256.hash([UInt8](try Data(contentsOf: URL(fileURLWithPath: $0)))).hex })
    }

    /// The study's files as `trustmesh export` writes them from `code`'s store.
    static func exported(_ network: TestNetwork, at code: String, study: String) async throws -> [String] {
        let out = network.directory.appending("export-\(code)-\(UUID().uuidString.prefix(6))")
        let result = try await CommandRunner.trustmesh([
            "export", "--data", network.dataDirectory(code), "--study", study, "--out", out,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        var files: [String] = []
        let enumerator = FileManager.default.enumerator(atPath: out)
        while let path = enumerator?.nextObject() as? String {
            if path.hasSuffix(".dcm") { files.append(out + "/" + path) }
        }
        return files
    }

    /// Messages aiosmtpd's Mailbox handler has delivered into the maildir.
    static func mails(in maildir: String) -> [String] {
        let folder = maildir + "/new"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.sorted().compactMap { try? String(contentsOfFile: folder + "/" + $0, encoding: .utf8) }
    }

    @Test func anEmergencyPushArrivesWholeIsNotifiedAndAuditedAndAPushFromATrustNotAllowedIsRefused() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB", "RJ1"])
        let originals = try await network.ingestSyntheticStudy(at: "RRK", patient: Self.patient, studyUID: Self.study)
        try await network.ingestSyntheticStudy(at: "RJ1", patient: Self.patient, studyUID: Self.other)

        // A real SMTP server on loopback: aiosmtpd's Mailbox handler writes each message to a maildir.
        let smtpPort = try FreePorts.allocate(1)[0]
        let maildir = network.directory.appending("maildir")
        let smtp = try BackgroundProcess(
            ["-m", "aiosmtpd", "-n", "-l", "127.0.0.1:\(smtpPort)", "-c", "aiosmtpd.handlers.Mailbox", maildir],
            logPath: network.directory.appending("smtp.log"), executable: "/usr/bin/python3", killHard: true)
        defer { smtp.stop() }
        try await poll("the SMTP server to listen", deadline: .seconds(20)) {
            guard smtp.isRunning else { throw CommandRunnerError(message: "aiosmtpd exited") }
            guard let socket = try? Loopback.connect(port: smtpPort) else { return false }
            close(socket)
            return true
        }

        try await network.start("RRK")
        try await network.start("RJ1")
        try await network.start(
            "RKB",
            arguments: [
                "--accept-push-from", "RRK", "--push-notify-email", Self.duty, "--smtp", "127.0.0.1:\(smtpPort)",
            ])

        // RRK's clinician pushes the study to a named clinician at RKB.
        let pushed = try await network.cli(
            "RRK",
            [
                "push", "--node", network.url("RRK"), "--study", Self.study, "--to", "RKB", "--clinician",
                Self.clinician, "--reason", Self.reason,
            ])
        #expect(pushed.status == 0, "\(pushed.stderr)\n\(network.log("RKB"))")
        #expect(pushed.stdout.contains("RKB accepted the push"), "\(pushed.stdout)")
        let sent = try #require(try Self.entries(network, "RRK", [.studyPushed]).last)
        let pushID = try #require(sent[.pushID])
        #expect(sent[.peer] == "RKB" && sent[.studyUID] == Self.study && sent[.nhsNumber] == Self.patient)
        #expect(sent[.actorKind] == "person" && sent.details?.contains(Self.reason) == true)

        // RKB fetches it under the grant: it arrives byte-identical, whole.
        try await poll("the pushed study at RKB", deadline: .seconds(60)) {
            try Self.entries(network, "RKB", [.fetchCompleted, .fetchAbandoned]).contains {
                $0[.studyUID] == Self.study
            }
        }
        let ended = try Self.entries(network, "RKB", [.fetchCompleted, .fetchAbandoned]).last
        #expect(ended?.kind == .fetchCompleted, "\(String(describing: ended))\n\(network.log("RKB"))")
        #expect(
            try Self.hashes(try await Self.exported(network, at: "RKB", study: Self.study))
                == (try Self.hashes(originals)))

        // Both logs hold the disclosure: RRK pushed and served it under its own grant; RKB received
        // and fetched it.
        let served = try Self.entries(network, "RRK", [.fetchServed]).filter { $0[.pushID] == pushID }
        #expect(served.count == 1 && served.first?[.peer] == "RKB", "\(served)")
        let received = try Self.entries(network, "RKB", [.pushReceived]).filter { $0[.pushID] == pushID }
        #expect(received.count == 1 && received.first?.actor == "peer RRK", "\(received)")
        #expect(try Self.entries(network, "RKB", [.fetchRequested]).contains { $0[.pushID] == pushID })

        // The e-mail: to the duty address, naming the study, the trust, the clinician and the
        // reason; no NHS number, no token, no key.
        try await poll("the push notice e-mail", deadline: .seconds(30)) { !Self.mails(in: maildir).isEmpty }
        let mail = try #require(Self.mails(in: maildir).first)
        #expect(mail.contains("X-RcptTo: \(Self.duty)"), "\(mail)")
        #expect(mail.contains("Subject: TrustMesh emergency push from RRK for \(Self.clinician)"), "\(mail)")
        for text in [Self.study, "From trust: RRK", Self.clinician, Self.reason, pushID] {
            #expect(mail.contains(text), "the e-mail does not name \(text)")
        }
        #expect(!mail.contains(Self.patient) && !mail.contains("943 476 5919"))
        #expect(!mail.contains(network.testToken("RRK")) && !mail.contains(network.testToken("RKB")))
        for code in ["RRK", "RKB"] {
            let secret = try Data(contentsOf: URL(fileURLWithPath: network.dataDirectory(code) + "/keys/signing.key"))
            #expect(
                !mail.contains(secret.base64EncodedString()) && !mail.contains(String(decoding: secret, as: UTF8.self)))
        }

        // The inbox on RKB's page, and the information governance page, list it.
        let priya = try await network.signIn("RKB", user: "priya")
        let home = try await TestNetwork.request(.GET, network.url("RKB") + "/", headers: priya.headers)
        #expect(home.body.contains("id=\"push-inbox\"") && home.body.contains(Self.reason), "\(home.body)")
        #expect(home.body.contains("href=\"/study?uid=\(Self.study)\""))
        let ines = try await network.signIn("RKB", user: "ines")
        let governance = try await TestNetwork.request(.GET, network.url("RKB") + "/governance", headers: ines.headers)
        #expect(governance.body.contains("data-push=\"\(pushID)\" data-direction=\"received\""), "\(governance.body)")
        let reviewed = try await WebTests.post(
            network.url("RKB") + "/governance/review", form: ["push": pushID], as: ines)
        #expect((300..<400).contains(reviewed.status) && reviewed.location.contains("/governance"), "\(reviewed)")
        #expect(
            try Self.entries(network, "RKB", [.emergencyReviewed]).contains {
                $0[.pushID] == pushID && $0[.actorKind] == "person"
            })
        // The auditor's replay judges RRK's share under the grant by the holder's own rule: no finding.
        var logs: [String] = []
        for code in ["RRK", "RKB"] {
            let path = network.directory.appending("\(code).jsonl")
            let export = try await CommandRunner.trustmesh([
                "audit", "export", "--data", network.dataDirectory(code), "--out", path,
            ])
            #expect(export.status == 0, "\(export.stderr)")
            logs.append(path)
        }
        let replay = try await CommandRunner.trustmesh(
            ["audit", "replay"] + logs + ["--topology", network.topologyPath, "--json"])
        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(replay.stdout.utf8)) as? [String: Any], "\(replay.stderr)")
        let findings = try #require(report["findings"] as? [[String: Any]]).compactMap { $0["kind"] as? String }
        #expect(
            !findings.contains { ["servedWithoutValidCare", "servedOptedOut", "unmatchedFetch"].contains($0) },
            "\(replay.stdout)\(replay.stderr)")
        let holderList = try await TestNetwork.request(
            .GET, network.url("RRK") + "/api/v1/push", headers: ["Authorization": "Bearer " + network.testToken("RRK")])
        #expect(holderList.body.contains(pushID) && holderList.body.contains("\"sent\""), "\(holderList.body)")

        // RJ1 is not allowed to push to RKB: refused, audited at both.
        let refused = try await network.cli(
            "RJ1",
            [
                "push", "--node", network.url("RJ1"), "--study", Self.other, "--to", "RKB", "--clinician",
                Self.clinician, "--reason", Self.reason,
            ])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("does not accept pushes from the sending trust"), "\(refused.stderr)")
        #expect(
            try Self.entries(network, "RKB", [.pushRefused]).contains {
                $0[.peer] == "RJ1" && $0[.rule] == "pushNotAllowed"
            })
        #expect(try Self.entries(network, "RJ1", [.pushRefused]).contains { $0[.rule] == "pushNotAllowed" })
        #expect(try Self.entries(network, "RKB", [.pushReceived]).allSatisfy { $0[.peer] == "RRK" })

        // A push of another kind: refused by the receiver, audited at both.
        let routine = try await network.cli(
            "RRK",
            [
                "push", "--node", network.url("RRK"), "--study", Self.study, "--to", "RKB", "--clinician",
                Self.clinician, "--reason", Self.reason, "--kind", "routine",
            ])
        #expect(routine.status != 0 && routine.stderr.contains("only emergency pushes"), "\(routine.stderr)")
        #expect(try Self.entries(network, "RKB", [.pushRefused]).contains { $0[.rule] == "pushNotEmergency" })
        #expect(try Self.entries(network, "RRK", [.pushRefused]).contains { $0[.rule] == "pushNotEmergency" })
        // A study the holder does not hold: refused at the holder before anything leaves.
        let notHeld = try await network.cli(
            "RRK",
            [
                "push", "--node", network.url("RRK"), "--study", Self.other, "--to", "RKB", "--clinician",
                Self.clinician, "--reason", Self.reason,
            ])
        #expect(notHeld.status != 0 && notHeld.stderr.contains("not held and published by RRK"), "\(notHeld.stderr)")

        // RRK's own node key, driven by hand: the same push sent again (a replay) and a grant
        // without a reason are refused by RKB, named and audited there.
        let rrk = try LocalNode(directory: network.dataDirectory("RRK"))
        let grant = try JSONDecoder().decode(PushGrant.self, from: Data(try #require(sent.details).utf8))
        let record = try #require(try rrk.store.index.latestStudyRecords(studyUID: Self.study).first)
        let client = PeerClient(
            me: try TrustID("RRK"), signing: try rrk.cachedSigningKey(), agreement: try rrk.agreementKey(),
            topology: try LocalNetwork.read(network.topologyPath))
        defer { Task { try? await client.shutdown() } }
        func send(_ grant: PushGrant) async throws -> PeerRefusal? {
            let payload = try JSONSerialization.data(withJSONObject: [
                "grant": try JSONSerialization.jsonObject(with: JSONEncoder().encode(grant)),
                "record": try JSONSerialization.jsonObject(with: JSONEncoder().encode(record)),
            ])
            do {
                _ = try await client.call(try TrustID("RKB"), path: "/peer/v1/push", payload: Array(payload))
                return nil
            } catch let refusal as PeerRefusal { return refusal }
        }
        let replayed = try await send(grant)
        #expect(
            replayed?.code == .pushRefused && replayed?.rule?.name == "pushReplayed", "\(String(describing: replayed))")
        var silent = grant.draft
        silent.id = UUID().uuidString.lowercased()
        silent.reason = " "
        let unreasoned = try await send(silent.signed(by: try rrk.cachedSigningKey()))
        #expect(unreasoned?.rule?.name == "pushNoReason", "\(String(describing: unreasoned))")
        let rkbRefusals = try Self.entries(network, "RKB", [.pushRefused]).compactMap { $0[.rule] }
        #expect(rkbRefusals.contains("pushReplayed") && rkbRefusals.contains("pushNoReason"), "\(rkbRefusals)")
        #expect(try Self.entries(network, "RKB", [.pushReceived]).count == 1)

        // The push API refuses a caller without a token, and one whose roles do not include a
        // clinician's, before reading the request: nothing is pushed or refused as a push.
        let pushesBefore = try Self.entries(network, "RRK", [.studyPushed, .pushRefused]).count
        let body = try JSONEncoder().encode([
            "study": Self.study, "to": "RKB", "clinician": Self.clinician, "reason": Self.reason,
        ])
        let anonymous = try await TestNetwork.request(
            .POST, network.url("RRK") + "/api/v1/push", body: body, headers: ["Content-Type": "application/json"])
        #expect(anonymous.status == 401, "\(anonymous.body)")
        let operatorToken = try await network.token("RRK", user: "olu")
        let operatorCall = try await TestNetwork.request(
            .POST, network.url("RRK") + "/api/v1/push", body: body,
            headers: ["Content-Type": "application/json", "Authorization": "Bearer " + operatorToken])
        #expect(operatorCall.status == 403, "\(operatorCall.body)")
        #expect(try Self.entries(network, "RRK", [.studyPushed, .pushRefused]).count == pushesBefore)
        #expect(try Self.entries(network, "RRK", [AuditEntry.Kind(rawValue: "accessRefused")]).count >= 2)

        // The study page's button, as RRK's clinician uses it: the form is on the page; a post
        // without the session's CSRF token is refused and pushes nothing; a push to a trust that does
        // not accept pushes comes back on the form with the reason; one to RKB goes.
        let ravi = try await network.signIn("RRK", user: "ravi")
        let studyPage = try await TestNetwork.request(
            .GET, network.url("RRK") + "/study?uid=\(Self.study)", headers: ravi.headers)
        #expect(
            studyPage.status == 200 && studyPage.body.contains("action=\"/push\""), "\(studyPage.body.prefix(3000))")
        func postPush(_ to: String, csrf: String) async throws -> TestNetwork.Answer {
            let fields = [
                "study": Self.study, "to": to, "clinician": Self.clinician, "reason": "Page push: " + Self.reason,
                "csrf": csrf,
            ]
            // Not TestNetwork.postForm: this one posts a CSRF token of its choosing (a forged one too).
            let form = TestNetwork.formEncoded(fields)
            var headers = ravi.headers
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            return try await TestNetwork.request(
                .POST, network.url("RRK") + "/push", body: Data(form.utf8), headers: headers)
        }
        let pushedBefore = try Self.entries(network, "RRK", [.studyPushed]).count
        let forged = try await postPush("RKB", csrf: "not-the-token")
        #expect(forged.status == 403, "\(forged.status)")
        #expect(try Self.entries(network, "RRK", [.studyPushed]).count == pushedBefore)
        let toRJ1 = try await postPush("RJ1", csrf: ravi.csrf)
        #expect(toRJ1.status == 409 && toRJ1.body.contains("does not accept pushes"), "\(toRJ1.body.prefix(3000))")
        let byPage = try await postPush("RKB", csrf: ravi.csrf)
        #expect(byPage.status == 200 && byPage.body.contains("id=\"pushed\""), "\(byPage.body.prefix(3000))")
        let pagePush = try #require(try Self.entries(network, "RRK", [.studyPushed]).last)
        #expect(pagePush.actor.contains("Ravi") && pagePush.details?.contains("Page push") == true, "\(pagePush)")
        try await poll("RKB to receive the page's push", deadline: .seconds(30)) {
            try Self.entries(network, "RKB", [.pushReceived]).contains { $0[.pushID] == pagePush[.pushID] }
        }
    }
}
