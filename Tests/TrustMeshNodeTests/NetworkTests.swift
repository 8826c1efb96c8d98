import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import TrustMeshCrypto
import TrustMeshGossip
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshPeer
import TrustMeshTesting

/// Real `trustmesh node run` processes on loopback, gossiping over HTTP.
@Suite(.serialized, .timeLimit(.minutes(5))) struct NetworkTests {
    let patient = try! NHSNumber("9434765919")

    func ingest(_ network: TestNetwork, at code: String, studyUID: String, patientID: String = "9434765919")
        async throws
    {
        let input = network.directory.appending("in-\(studyUID)")
        let made = try await CommandRunner.trustmesh([
            "synthesize", "--out", input, "--patient-id", patientID, "--instances", "2", "--size", "32",
            "--study-uid", studyUID,
        ])
        #expect(made.status == 0, "\(made.stderr)")
        let ingested = try await CommandRunner.trustmesh(["ingest", "--data", network.dataDirectory(code), input])
        #expect(ingested.status == 0, "\(ingested.stdout)\(ingested.stderr)")
    }

    func lists(_ network: TestNetwork, _ code: String, _ studyUID: String) async -> Bool {
        guard let result = try? await LocalAPIClient.query(node: network.api(code), nhs: patient) else { return false }
        return result.studies.contains { $0.studyInstanceUID == studyUID }
    }

    @Test func aStudyIngestedAtOneTrustIsListedAtEveryOther() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB", "RL4", "RWP"])
        for code in ["RRK", "RKB", "RL4", "RWP"] { try await network.start(code) }
        try await ingest(network, at: "RKB", studyUID: "1.2.826.0.1.3680043.10.7.1")
        for code in ["RRK", "RL4", "RWP"] {
            try await poll("\(code) to list the study", deadline: .seconds(30)) {
                await lists(network, code, "1.2.826.0.1.3680043.10.7.1")
            }
        }
        let result = try await LocalAPIClient.query(node: network.api("RWP"), nhs: patient)
        let study = try #require(result.studies.first)
        #expect(study.holder == "RKB")
        #expect(study.holderName == "Test trust RKB")
        #expect(study.instanceCount == 2)
        #expect(study.localCopy == false)
        let holder = try await LocalAPIClient.query(node: network.api("RKB"), nhs: patient)
        #expect(holder.studies.first?.localCopy == true)

        // A clean shutdown on SIGTERM.
        #expect(network.stop("RL4") == 0)
    }

    @Test func aNodeThatWasDownCatchesUpAndAnOptOutReachesEveryNode() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB", "RL4", "RWP"])
        for code in ["RRK", "RKB", "RL4", "RWP"] { try await network.start(code) }
        #expect(network.stop("RWP") == 0)
        try await ingest(network, at: "RRK", studyUID: "1.2.826.0.1.3680043.10.7.2")
        for code in ["RKB", "RL4"] {
            try await poll("\(code) to list the study", deadline: .seconds(30)) {
                await lists(network, code, "1.2.826.0.1.3680043.10.7.2")
            }
        }
        try await network.start("RWP")
        try await poll("RWP to catch up", deadline: .seconds(30)) {
            await lists(network, "RWP", "1.2.826.0.1.3680043.10.7.2")
        }

        let optOut = try await CommandRunner.trustmesh([
            "optout", "--data", network.dataDirectory("RRK"), "--nhs", "943 476 5919", "--reference",
            "Opt-out form OPT-1",
        ])
        #expect(optOut.status == 0, "\(optOut.stderr)")
        for code in ["RKB", "RL4", "RWP"] {
            try await poll("\(code) to hide the opted-out patient", deadline: .seconds(30)) {
                (try? await LocalAPIClient.query(node: network.api(code), nhs: patient).optedOut) == true
            }
        }
        let hidden = try await LocalAPIClient.query(node: network.api("RRK"), nhs: patient)
        #expect(hidden.studies.isEmpty)
    }

    /// A second `node run` on a running node's folder stops at once and names the first; a node
    /// whose address another program holds says so plainly. Neither disturbs what is running.
    @Test func aSecondNodeOnOneFolderAndATakenAddressAreRefusedClearly() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"], intervalMs: 60_000)
        try await network.start("RRK")
        func run(_ code: String) async throws -> ProcessResult {
            // Bounded: a node that wrongly started would otherwise serve until killed.
            try await CommandRunner.run(
                "/usr/bin/timeout",
                [
                    "20", CommandRunner.trustmeshPath, "node", "run", "--data", network.dataDirectory(code),
                    "--topology", network.topologyPath,
                ])
        }
        let second = try await run("RRK")
        #expect(second.status == 1, "\(second.stdout)\(second.stderr)")
        #expect(second.stderr.contains("a node is already running on \(network.dataDirectory("RRK")) (process "))
        #expect(try await LocalAPIClient.status(node: network.api("RRK")).trust == "RRK")

        // RKB's address held by a listener that is not a node.
        let port = try #require(Int(network.peerURL("RKB").split(separator: ":").last ?? ""))
        let listener = try Loopback.listen(port: port)
        defer { close(listener) }
        let taken = try await run("RKB")
        #expect(taken.status == 1, "\(taken.stdout)\(taken.stderr)")
        #expect(taken.stderr.contains("cannot listen on 127.0.0.1:\(port)"), "\(taken.stderr)")
        #expect(!taken.stderr.contains("bind(descriptor"))
    }

    @Test func eachListenerServesOnlyItsOwnDoors() async throws {
        let network = try TestNetwork(trusts: ["RKB", "RRK"], intervalMs: 60_000)
        try await network.start("RKB")
        func status(_ method: HTTPMethod, _ url: String) async throws -> Int {
            var request = HTTPClientRequest(url: url)
            request.method = method
            if method == .POST { request.body = .bytes(ByteBuffer(string: "{}")) }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            _ = try await response.body.collect(upTo: 1 << 20)
            return Int(response.status.code)
        }
        // The peer listener (the address every other trust reaches) serves none of the trust's own doors.
        for path in [
            "/", "/patient?nhs=9434765919", "/api/v1/status", "/api/v1/query?nhs=9434765919", "/metrics",
            "/dicom-web/studies", "/fhir/ImagingStudy", "/operator", "/audit", "/assets/app.js",
        ] {
            #expect(try await status(.GET, network.peerURL("RKB") + path) == 404, "peer listener served \(path)")
            #expect(try await status(.GET, network.url("RKB") + path) != 404, "local listener lacks \(path)")
        }
        #expect(try await status(.POST, network.peerURL("RKB") + "/api/v1/care") == 404)
        // The local listener does not speak the peer protocol.
        for path in [
            "/peer/v1/gossip", "/peer/v1/fetch/manifest", "/peer/v1/fetch/chunks", "/peer/v1/audit/checkpoint",
        ] {
            #expect(try await status(.POST, network.url("RKB") + path) == 404, "local listener served \(path)")
        }
        // …which the peer listener does (an unsealed body is refused there, not missing).
        #expect(try await status(.POST, network.peerURL("RKB") + "/peer/v1/gossip") == 400)
    }

    @Test func forgedUnknownAndReplayedPeerRequestsAreRefusedAndCounted() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"], intervalMs: 60_000)
        try await network.start("RKB")
        let rkb = try #require(network.topology.trusts.first { $0.ods.code == "RKB" })
        let rrk = try #require(network.topology.trusts.first { $0.ods.code == "RRK" })
        let rrkKey = try SigningKey.read(from: network.dataDirectory("RRK") + "/keys/signing.key")
        let payload = Array(try JSONEncoder().encode(GossipRequest(from: rrk.ods, digest: [:])))

        func send(_ request: PeerEnvelope.Request) async throws -> (Int, String) {
            var http = HTTPClientRequest(url: network.peerURL("RKB") + request.path)
            http.method = .POST
            for (name, value) in request.headers { http.headers.add(name: name, value: value) }
            http.body = .bytes(ByteBuffer(bytes: request.body))
            let response = try await HTTPClient.shared.execute(http, timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 1 << 20)
            return (Int(response.status.code), String(buffer: body))
        }

        // A genuine request from RRK is answered; the same bytes again are a replay.
        let session = try await network.session(from: "RRK", to: "RKB").session
        let genuine = PeerEnvelope.seal(
            method: "POST", path: "/peer/v1/gossip", payload: payload, from: rrk.ods, key: rrkKey, in: session)
        let first = try await send(genuine)
        #expect(first.0 == 200, "\(first.1)")
        let replay = try await send(genuine)
        #expect(replay.0 == 401)
        #expect(replay.1.contains("replayedRequest"))

        // Signed with a key that is not RRK's pinned key.
        let forged = PeerEnvelope.seal(
            method: "POST", path: "/peer/v1/gossip", payload: payload, from: rrk.ods, key: SigningKey(), in: session)
        let forgedAnswer = try await send(forged)
        #expect(forgedAnswer.0 == 401)
        #expect(forgedAnswer.1.contains("badSignature"))

        // A trust that is not in the topology at all.
        let stranger = try PeerEnvelope.seal(
            method: "POST", path: "/peer/v1/gossip", payload: payload, from: try TrustID("RXX"), key: SigningKey(),
            to: rkb)
        let strangerAnswer = try await send(stranger)
        #expect(strangerAnswer.0 == 401)
        #expect(strangerAnswer.1.contains("unknownPeer"))

        let status = try await LocalAPIClient.status(node: network.api("RKB"))
        #expect(status.refusals["replayedRequest"] == 1)
        #expect(status.refusals["badSignature"] == 1)
        #expect(status.refusals["unknownPeer"] == 1)
        #expect(status.ownRecords == 0)
    }
}
