import Foundation
import NIOCore
import NIOHTTP1
import Testing
import TrustMeshCrypto
import TrustMeshFetch
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshPeer
import TrustMeshPolicy
import TrustMeshStore
import TrustMeshTesting

/// Opt-outs with a governance of their own, against real node processes: the attacks of issue 14.
@Suite(.serialized, .timeLimit(.minutes(5))) struct OptOutTests {
    static let patient = "9434765919"
    static let reference = ["--reference", "Opt-out form OPT-2026-0042"]

    /// Makes a study of `patient` and ingests it at `code`.
    func ingest(_ network: TestNetwork, at code: String, study: String, instances: Int = 3) async throws {
        let input = network.directory.appending("in-\(study)")
        let made = try await CommandRunner.trustmesh([
            "synthesize", "--out", input, "--patient-id", Self.patient, "--instances", "\(instances)", "--size", "64",
            "--study-uid", study,
        ])
        #expect(made.status == 0, "\(made.stderr)")
        let ingested = try await CommandRunner.trustmesh(["ingest", "--data", network.dataDirectory(code), input])
        #expect(ingested.status == 0, "\(ingested.stdout)\(ingested.stderr)")
    }

    func query(_ network: TestNetwork, _ code: String) async throws -> FederatedQueryResult {
        try await LocalAPIClient.query(node: network.api(code), nhs: NHSNumber(Self.patient))
    }

    func waitUntilListed(_ network: TestNetwork, at codes: [String], study: String) async throws {
        for code in codes {
            try await poll("\(code) to list \(study)", deadline: .seconds(30)) {
                (try? await query(network, code))?.studies.contains { $0.studyInstanceUID == study } == true
            }
        }
    }

    func addCare(_ network: TestNetwork, at code: String) async throws {
        let care = try await network.cli(
            code, ["care", "add", "--node", network.url(code), "--nhs", Self.patient, "--kind", "referral"])
        #expect(care.status == 0, "\(care.stderr)")
    }

    func auditLog(_ network: TestNetwork, _ code: String) async throws -> String {
        let path = network.directory.appending("\(code)-\(UUID().uuidString.prefix(8)).audit.jsonl")
        let export = try await CommandRunner.trustmesh([
            "audit", "export", "--data", network.dataDirectory(code), "--out", path,
        ])
        #expect(export.status == 0, "\(export.stderr)")
        return try String(contentsOfFile: path, encoding: .utf8)
    }

    /// The attack: a trust with no imaging and no care relationship for a patient opted them out,
    /// and every other trust refused the patient's studies. Now its node will not sign one, and a
    /// record it signs anyway is verified, kept, not applied, audited by every node and listed on
    /// the information governance page; the holder still shares.
    @Test func anOptOutFromATrustWithNoImagingOrCareIsRefusedByEveryNodeAuditedAndListed() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB", "RXK"])
        for code in ["RRK", "RKB", "RXK"] { try await network.start(code) }
        let study = "1.2.826.0.1.3680043.10.14.1"
        try await ingest(network, at: "RRK", study: study)
        try await waitUntilListed(network, at: ["RKB", "RXK"], study: study)

        // RXK's own node refuses to sign it, says why, and audits the attempt.
        let refused = try await CommandRunner.trustmesh(
            ["optout", "--data", network.dataDirectory("RXK"), "--nhs", Self.patient] + Self.reference)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("RXK may not record an opt-out"), "\(refused.stderr)")
        #expect(try await auditLog(network, "RXK").contains("\"optOutRefused\""))

        // The attacker signs one anyway with RXK's key, past its node's check; gossip carries it.
        let attacker = try LocalNode(directory: network.dataDirectory("RXK"))
        let key = try attacker.signingKey()
        let forged = try #require(
            try attacker.store.index.publish(origin: attacker.configuration.trust) { sequence in
                IndexRecord.Draft(
                    origin: attacker.configuration.trust, sequence: sequence, kind: .optOut,
                    nhsNumber: try NHSNumber(Self.patient), issuedAt: CareTime.format(Date()),
                    statement: OptOutStatement(
                        recordedBy: "Records office", recorder: nil, expression: "Telephone call", care: nil)
                ).signed(by: key)
            })

        // RKB's information governance officer sees it listed as refused, and why.
        let officer = try await network.signIn("RKB", user: "ines")
        try await poll("RKB's governance page to list RXK's refused opt-out", deadline: .seconds(30)) {
            let page = try? await TestNetwork.request(
                .GET, network.url("RKB") + "/governance", headers: officer.headers)
            return page?.body.contains(
                "data-origin=\"RXK\" data-sequence=\"\(forged.sequence)\" data-status=\"refused:noImagingOrCare\"")
                == true
        }
        let page = try await TestNetwork.request(.GET, network.url("RKB") + "/governance", headers: officer.headers)
        #expect(page.body.contains("holds no imaging for the patient"))
        // Every node verified and kept it, did not apply it, and audited that.
        for code in ["RRK", "RKB"] {
            try await poll("\(code) to audit the refusal", deadline: .seconds(30)) {
                let log = (try? await auditLog(network, code)) ?? ""
                return log.contains("\"optOutRefused\"") && log.contains("\"noImagingOrCare\"")
            }
        }
        for code in ["RRK", "RKB", "RXK"] {
            let result = try await query(network, code)
            #expect(!result.optedOut, "\(code)")
            #expect(result.studies.contains { $0.studyInstanceUID == study }, "\(code)")
        }
        // The holder still shares the patient's study under a care relationship.
        try await addCare(network, at: "RKB")
        let fetched = try await network.cli("RKB", ["fetch", "--node", network.url("RKB"), "--study", study])
        #expect(fetched.status == 0, "\(fetched.stdout)\(fetched.stderr)")
    }

    /// The attack: an opt-out was for ever, with no way back. Now a trust in care for the patient
    /// (here RKB, which holds no imaging) may withdraw it, the latest record wins at every node, and
    /// the signed record names the signed-in person who recorded it.
    @Test func anOptOutIsWithdrawnByALaterRecordFromATrustInCareAndSharingResumes() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"])
        for code in ["RRK", "RKB"] { try await network.start(code) }
        let study = "1.2.826.0.1.3680043.10.14.2"
        try await ingest(network, at: "RRK", study: study)
        try await waitUntilListed(network, at: ["RKB"], study: study)

        let optOut = try await CommandRunner.trustmesh(
            ["optout", "--data", network.dataDirectory("RRK"), "--nhs", Self.patient] + Self.reference)
        #expect(optOut.status == 0, "\(optOut.stderr)")
        let optedOutBy = CareTime.format(Date())
        try await poll("RKB to apply RRK's opt-out", deadline: .seconds(30)) {
            (try? await query(network, "RKB"))?.optedOut == true
        }

        // Without imaging or care, RKB may not withdraw it either.
        let withdraw =
            ["optout", "--node", network.url("RKB"), "--nhs", Self.patient, "--withdraw"] + [
                "--reference", "Letter from the patient, 2026-12-04",
            ]
        let early = try await network.cli("RKB", withdraw)
        #expect(early.status != 0)
        #expect(early.stderr.contains("may not record a withdrawal"), "\(early.stderr)")

        // With a care relationship recorded by a signed-in clinician, it may; the record names them.
        try await addCare(network, at: "RKB")
        // Issue times are whole seconds, and in the opt-out's own second RRK would win the tie (the
        // greater ODS code): the withdrawal must be issued later to be the latest.
        try await poll("the clock to pass the opt-out's second", deadline: .seconds(5)) {
            CareTime.format(Date()) > optedOutBy
        }
        let withdrawn = try await network.cli("RKB", withdraw)
        #expect(withdrawn.status == 0, "\(withdrawn.stderr)")
        #expect(withdrawn.stdout.contains("Opt-out withdrawn"), "\(withdrawn.stdout)")
        #expect(withdrawn.stdout.contains("by Test user at RKB"), "\(withdrawn.stdout)")
        for code in ["RKB", "RRK"] {
            try await poll("\(code) to apply the withdrawal", deadline: .seconds(30)) {
                (try? await query(network, code))?.optedOut == false
            }
        }
        let officer = try await network.signIn("RKB", user: "ines")
        let page = try await TestNetwork.request(.GET, network.url("RKB") + "/governance", headers: officer.headers)
        #expect(page.body.contains("Superseded by a later record"))
        #expect(page.body.contains("In force (withdrawn"))
        #expect(page.body.contains("Letter from the patient, 2026-12-04"))
        let fetched = try await network.cli("RKB", ["fetch", "--node", network.url("RKB"), "--study", study])
        #expect(fetched.status == 0, "\(fetched.stdout)\(fetched.stderr)")
    }

    /// The attack: an open transfer kept serving batches for up to an hour after an opt-out. Now
    /// the holder checks the patient's opt-out before every batch, refuses, ends the transfer and
    /// audits it.
    @Test func aTransferStopsServingBatchesOnceThePatientOptsOutAfterItsManifest() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"])
        for code in ["RRK", "RKB"] { try await network.start(code) }
        let study = "1.2.826.0.1.3680043.10.14.3"
        try await ingest(network, at: "RRK", study: study)
        try await waitUntilListed(network, at: ["RKB"], study: study)
        try await addCare(network, at: "RKB")
        let care = try #require(try await LocalAPIClient.care(node: network.api("RKB")).first)

        // RKB's side of the protocol, driven by hand so that the opt-out falls between two batches.
        let rkb = try LocalNode(directory: network.dataDirectory("RKB"))
        let client = PeerClient(
            me: rkb.configuration.trust, signing: try rkb.signingKey(), agreement: try rkb.agreementKey(),
            topology: network.topology)
        struct ManifestAsk: Encodable {
            var studyUID: String
            var care: CareRelationship
            var clinician: String
            var transferKey: String
        }
        struct ManifestAnswer: Decodable {
            var transferID: String
            var manifest: TransferManifest
        }
        struct BatchAsk: Encodable {
            var transferID: String
            var hashes: [Digest256]
        }
        let exchange = KeyExchangeKeyPair()
        let rrk = try TrustID("RRK")
        do {
            let answer = try JSONDecoder().decode(
                ManifestAnswer.self,
                from: Data(
                    try await client.call(
                        rrk, path: FetchRoutes.manifest,
                        payload: Array(
                            try JSONEncoder().encode(
                                ManifestAsk(
                                    studyUID: study, care: care, clinician: care.clinician,
                                    transferKey: Data(exchange.publicKey).base64EncodedString()))))))
            let hashes = answer.manifest.instances.flatMap(\.chunks).map(\.hash)
            try #require(hashes.count >= 2)
            func batch(_ hash: Digest256) async throws -> Int {
                var buffer = ByteBuffer()
                var received = 0
                try await client.callStreaming(
                    rrk, path: FetchRoutes.chunks,
                    payload: Array(try JSONEncoder().encode(BatchAsk(transferID: answer.transferID, hashes: [hash]))),
                    buffer: &buffer
                ) { buffer in
                    received += buffer.readableBytes
                    buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
                }
                return received
            }
            #expect(try await batch(hashes[0]) > 0)

            let optOut = try await CommandRunner.trustmesh(
                ["optout", "--data", network.dataDirectory("RRK"), "--nhs", Self.patient] + Self.reference)
            #expect(optOut.status == 0, "\(optOut.stderr)")
            do {
                _ = try await batch(hashes[1])
                Issue.record("the holder served a batch after the patient opted out")
            } catch let refusal as PeerRefusal {
                #expect(refusal.code == .notShared, "\(refusal)")
                #expect(refusal.rule?.name == "optedOut", "\(refusal)")
            }
            // The transfer is over: a later batch is refused as unknown.
            do {
                _ = try await batch(hashes[0])
                Issue.record("the holder served a batch of an ended transfer")
            } catch let refusal as PeerRefusal {
                #expect(refusal.code == .unknownTransfer, "\(refusal)")
            }
            let log = try await auditLog(network, "RRK")
            let refusedBatch = log.split(separator: "\n").first {
                $0.contains("\"fetchRefused\"") && $0.contains(answer.transferID) && $0.contains("\"optedOut\"")
            }
            #expect(refusedBatch != nil, "RRK's log has no fetchRefused for the transfer")
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    /// The attack: `/study` ignored opt-out. Now the study page, its thumbnails and DICOMweb all ask
    /// the node's one opt-out check.
    @Test func theStudyPageThumbnailsAndDICOMwebHonourAnOptOut() async throws {
        let network = try TestNetwork(trusts: ["RKB"])
        try await network.start("RKB")
        let study = "1.2.826.0.1.3680043.10.14.4"
        try await ingest(network, at: "RKB", study: study)
        let node = network.url("RKB")
        let priya = try await network.signIn("RKB", user: "priya")
        let viewer = try await TestNetwork.request(.GET, node + "/study?uid=\(study)", headers: priya.headers)
        #expect(viewer.status == 200)
        let sop = try #require(
            viewer.body.components(separatedBy: "src=\"/thumbnail/").dropFirst().first.map {
                String($0.prefix { $0 != "\"" })
            })
        #expect(try await TestNetwork.request(.GET, node + "/thumbnail/" + sop, headers: priya.headers).status == 200)
        let bearer = ["Authorization": "Bearer \(network.testToken("RKB"))"]
        let metadata = node + "/dicom-web/studies/\(study)/metadata"
        #expect(try await TestNetwork.request(.GET, metadata, headers: bearer).status == 200)

        let optOut = try await CommandRunner.trustmesh(
            ["optout", "--data", network.dataDirectory("RKB"), "--nhs", Self.patient] + Self.reference)
        #expect(optOut.status == 0, "\(optOut.stderr)")
        let hidden = try await TestNetwork.request(.GET, node + "/study?uid=\(study)", headers: priya.headers)
        #expect(hidden.status == 403)
        #expect(hidden.body.contains("opted out"))
        #expect(!hidden.body.contains("/thumbnail/"))
        #expect(try await TestNetwork.request(.GET, node + "/thumbnail/" + sop, headers: priya.headers).status == 404)
        #expect(try await TestNetwork.request(.GET, metadata, headers: bearer).status == 404)
    }
}
