import Foundation
import Testing
import TrustMeshCrypto
import TrustMeshFetch
import TrustMeshGossip
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshPeer
import TrustMeshStore
import TrustMeshTesting

/// Node keys rotated and revoked on a running network of real node processes.
@Suite(.serialized, .timeLimit(.minutes(5))) struct KeyRotationTests {
    static let patient = "9434765919"
    let codes = ["RAA", "RBB", "RCC", "RDD"]

    func ingest(_ network: TestNetwork, at code: String, studyUID: String, instances: Int = 2, size: Int = 32)
        async throws
    {
        let input = network.directory.appending("in-\(studyUID)")
        let made = try await CommandRunner.trustmesh([
            "synthesize", "--out", input, "--patient-id", Self.patient, "--instances", "\(instances)", "--size",
            "\(size)", "--study-uid", studyUID,
        ])
        #expect(made.status == 0, "\(made.stderr)")
        let ingested = try await CommandRunner.trustmesh(["ingest", "--data", network.dataDirectory(code), input])
        #expect(ingested.status == 0, "\(ingested.stdout)\(ingested.stderr)")
    }

    func lists(_ network: TestNetwork, _ code: String, _ studyUID: String) async -> Bool {
        guard let result = try? await LocalAPIClient.query(node: network.api(code), nhs: try NHSNumber(Self.patient))
        else { return false }
        return result.studies.contains { $0.studyInstanceUID == studyUID }
    }

    func entries(_ network: TestNetwork, _ code: String, _ kinds: Set<AuditEntry.Kind>) throws -> [AuditEntry] {
        try LocalNode(directory: network.dataDirectory(code)).store.audit.entries(kinds: kinds)
    }

    func run(_ arguments: [String]) async throws -> ProcessResult {
        let result = try await CommandRunner.trustmesh(arguments)
        #expect(result.status == 0, "trustmesh \(arguments.joined(separator: " ")): \(result.stdout)\(result.stderr)")
        return result
    }

    @Test func keysRotatedDuringAFetchAndGossipRefuseNothingAndLoseNothing() async throws {
        let network = try TestNetwork(trusts: codes)
        // RAA serves one chunk batch, then holds the rest until the gate file exists.
        let gate = network.directory.appending("gate")
        try await network.start("RAA", environment: ["TRUSTMESH_FAULT_BATCH_GATE": gate])
        for code in codes.dropFirst() { try await network.start(code, arguments: ["--fetch-batch-kb", "64"]) }
        let study = "1.2.826.0.1.3680043.10.17.1"
        try await ingest(network, at: "RAA", studyUID: study, instances: 40, size: 512)
        for code in codes.dropFirst() {
            try await poll("\(code) to list RAA's study", deadline: .seconds(30)) { await lists(network, code, study) }
        }
        let care = try await network.cli(
            "RBB", ["care", "add", "--node", network.url("RBB"), "--nhs", Self.patient, "--kind", "referral"])
        #expect(care.status == 0, "\(care.stderr)")
        let oldKey = try LocalNode(directory: network.dataDirectory("RAA")).signingKey().verifyingKey

        // A fetch from RAA is under way when RAA's keys change.
        let started = try await LocalAPIClient.startFetch(node: network.api("RBB"), study: study, from: "RAA")
        try await poll("the fetch to move its first chunks", deadline: .seconds(30)) {
            try await LocalAPIClient.fetchProgress(node: network.api("RBB"), id: started.id).chunksReceived > 0
        }
        let rotated = try await run([
            "keys", "rotate", "--data", network.dataDirectory("RAA"), "--root", network.networkDirectory + "/roots/RAA",
        ])
        #expect(rotated.stdout.contains("certificate #2"))
        #expect(rotated.stdout.contains("running node switches"))
        try await poll("RAA to switch to its new keys", deadline: .seconds(30)) {
            try !entries(network, "RAA", [.keyChanged]).isEmpty
        }
        let newKey = try LocalNode(directory: network.dataDirectory("RAA")).signingKey().verifyingKey
        #expect(newKey != oldKey)
        let midway = try await LocalAPIClient.fetchProgress(node: network.api("RBB"), id: started.id)
        #expect(
            midway.state == .transferring,
            """
            the fetch ended before the rotation took effect (\(midway.chunksReceived) received, \
            \(midway.chunksAlreadyHeld) already held of \(midway.chunksTotal)): the test proves nothing
            """)
        FileManager.default.createFile(atPath: gate, contents: Data())

        // Every peer takes the certificate in; the fetch completes; RAA's new records reach everyone.
        for code in codes.dropFirst() {
            try await poll("\(code) to take RAA's new certificate", deadline: .seconds(30)) {
                try entries(network, code, [.keyCertified]).contains { $0[.peer] == "RAA" && $0[.serial] == "2" }
            }
        }
        var ended = midway
        try await poll("the fetch to end", deadline: .seconds(60)) {
            ended = try await LocalAPIClient.fetchProgress(node: network.api("RBB"), id: started.id)
            return ended.state == .completed || ended.state == .failed
        }
        #expect(ended.state == .completed, "\(ended.error ?? "")")
        #expect(ended.chunksReceived + ended.chunksAlreadyHeld == ended.chunksTotal)
        let later = "1.2.826.0.1.3680043.10.17.2"
        try await ingest(network, at: "RAA", studyUID: later)
        for code in codes.dropFirst() {
            try await poll("\(code) to list RAA's study signed with the new key", deadline: .seconds(30)) {
                await lists(network, code, later)
            }
        }
        // Nothing was refused anywhere; each completed fetch and published record is there once.
        for code in codes {
            let refused = try entries(network, code, [.peerRefused, .fetchRefused])
            #expect(
                refused.isEmpty,
                "\(code) refused: \(refused.map { "\($0.kind.rawValue) \($0[.rule] ?? "") \($0.actor)" })")
        }
        #expect(try entries(network, "RBB", [.fetchCompleted]).count == 1)
        #expect(try entries(network, "RAA", [.fetchServed]).count == 1)
        let records = try LocalNode(directory: network.dataDirectory("RDD")).store.index.records(
            origin: try TrustID("RAA"), after: 0, limit: 100)
        #expect(records.map(\.sequence) == Array(1...UInt64(records.count)))
        #expect(Set(records.compactMap(\.studyUID)) == [study, later])
        // RAA's own log: the first entry signed with the new key is keyChanged, naming the old.
        let changed = try #require(try entries(network, "RAA", [.keyChanged]).first)
        #expect(changed.details == oldKey.base64)
        for code in codes { #expect(network.stop(code) == 0) }
    }

    @Test func aRevokedStolenKeyIsRefusedByEveryNodeAndTheRefusalsAreAudited() async throws {
        let network = try TestNetwork(trusts: codes)
        for code in codes { try await network.start(code) }
        let raa = try LocalNode(directory: network.dataDirectory("RAA"))
        // The thief copies RAA's keys.
        let stolen = try raa.signingKey()
        let stolenAgreement = try raa.agreementKey()
        // RAA rotates, then revokes the stolen key as compromised from the moment of the theft.
        let theft = Timestamp.text(Date())
        _ = try await run([
            "keys", "rotate", "--data", network.dataDirectory("RAA"), "--root", network.networkDirectory + "/roots/RAA",
        ])
        try await poll("RAA to switch to its new keys", deadline: .seconds(30)) {
            try !entries(network, "RAA", [.keyChanged]).isEmpty
        }
        let revoked = try await run([
            "keys", "revoke", "--data", network.dataDirectory("RAA"), "--root",
            network.networkDirectory + "/roots/RAA", "--key", stolen.verifyingKey.base64, "--reason", "compromised",
            "--since", theft,
        ])
        #expect(revoked.stdout.contains("compromised since"))
        let sent = ContinuousClock.now
        for code in codes.dropFirst() {
            try await poll("\(code) to hold the revocation", deadline: .seconds(30)) {
                try entries(network, code, [.keyRevoked]).contains { $0[.peer] == "RAA" }
            }
        }
        let elapsed = ContinuousClock.now - sent
        print("revocation: every node held it \(elapsed) after it was stored at RAA")
        // The stated bound: with 200 ms rounds and one member asked a round, 15 rounds.
        #expect(elapsed < .seconds(3), "the revocation took \(elapsed) to reach every node")

        // The thief, speaking as RAA with the stolen key, is refused by every node, and each audits it.
        let thief = PeerClient(
            me: try TrustID("RAA"), signing: stolen, agreement: stolenAgreement,
            topology: try LocalNetwork.read(network.topologyPath))
        defer { Task { try? await thief.shutdown() } }
        for code in codes.dropFirst() {
            let payload = Array(try JSONEncoder().encode(GossipRequest(from: try TrustID("RAA"), digest: [:])))
            var refusal: PeerRefusal?
            do {
                _ = try await thief.call(try TrustID(code), path: "/peer/v1/gossip", payload: payload)
            } catch let error as PeerRefusal { refusal = error }
            #expect(
                refusal?.code == .badSignature || refusal?.code == .unknownPeer,
                "\(code): \(String(describing: refusal))")
            try await poll("\(code) to audit the refusal", deadline: .seconds(10)) {
                try entries(network, code, [.peerRefused]).contains {
                    $0[.rule] == "badSignature" || $0[.rule] == "unknownPeer"
                }
            }
        }
        // RAA itself, with its new key, still gossips: a study it publishes reaches every node.
        let study = "1.2.826.0.1.3680043.10.17.3"
        try await ingest(network, at: "RAA", studyUID: study)
        for code in codes.dropFirst() {
            try await poll("\(code) to list RAA's study", deadline: .seconds(30)) { await lists(network, code, study) }
        }
        for code in codes { #expect(network.stop(code) == 0) }
    }

    @Test func gossipRefusesARecordSignedWithARevokedKeyAfterItsTimeAndKeepsOneSignedBefore() async throws {
        let origin = try TrustID("RAA")
        let me = try TrustID("RBB")
        let root = SigningKey()
        let key = SigningKey()
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        var document = SignedMembership(
            Membership(
                network: "n", version: 1, threshold: 1,
                members: [
                    .init(ods: origin, name: "A", address: "127.0.0.1:1", root: root.verifyingKey),
                    .init(ods: me, name: "B", address: "127.0.0.1:2", root: SigningKey().verifyingKey),
                ], issuedAt: Timestamp.text(start)))
        document.sign(as: origin, root: root)
        let directory = try NetworkDirectory(pinned: document)
        _ = directory.apply(
            KeyCertificate.issue(
                trust: origin, serial: 1, signingKey: key.verifyingKey, agreementKey: AgreementKey().publicKey,
                notBefore: Timestamp.text(start), notAfter: Timestamp.text(start + 86_400 * 365), root: root))
        _ = directory.apply(
            KeyRevocation.sign(
                trust: origin, key: key.verifyingKey, reason: .compromised, since: Timestamp.text(start + 3_600),
                issuedAt: Timestamp.text(start + 7_200), by: root))
        func record(_ sequence: UInt64, at time: Date) throws -> IndexRecord {
            IndexRecord.Draft(
                origin: origin, sequence: sequence, kind: .study, nhsNumber: try NHSNumber(Self.patient),
                studyUID: "1.2.3.\(sequence)", studyDate: nil, modalities: ["CT"], bodyParts: [],
                studyDescription: nil, accessionNumber: nil, seriesCount: 1, instanceCount: 1, sizeBytes: 1,
                manifestHash: nil, issuedAt: Timestamp.text(time)
            ).signed(by: key)
        }
        let log = InMemoryIndexLog()
        let node = GossipNode(id: me, keyring: directory, log: log, transport: InMemoryGossipTransport())
        _ = try await node.handle(
            GossipRequest(
                from: origin, digest: [:], records: [try record(1, at: start + 60), try record(2, at: start + 3_600)]))
        #expect(try await log.digest()[origin] == 1)
        #expect(await node.rejectedRecords == 1)
    }
}
