import AsyncHTTPClient
import Foundation
import Glibc
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import TrustMeshCrypto
import TrustMeshGossip
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshPeer
import TrustMeshStore
import TrustMeshTesting

/// The peer protocol against real node processes, with the test acting as a peer.
@Suite(.serialized, .timeLimit(.minutes(5))) struct PeerProtocolTests {
    @Test func aClientReadsTheTopologyAndItsOwnKeyAfreshForEveryCall() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"], intervalMs: 60_000)
        try await network.start("RKB")
        let rrk = try LocalNode(directory: network.dataDirectory("RRK"))
        let rkbID = try TrustID("RKB")
        // RKB's entry first names an address where nothing listens (a trust that moved).
        var moved = network.topology
        let index = try #require(moved.trusts.firstIndex { $0.ods == rkbID })
        moved.trusts[index].address = "127.0.0.1:\(try FreePorts.allocate(1)[0])"
        let current = Mutex(moved)
        let genuine = try rrk.signingKey()
        let key = Mutex(genuine)
        let client = PeerClient(
            me: rrk.configuration.trust, signing: { key.withLock { $0 } }, topology: { current.withLock { $0 } })
        let payload = Array(try JSONEncoder().encode(GossipRequest(from: rrk.configuration.trust, digest: [:])))
        func call() async throws -> [UInt8] { try await client.call(rkbID, path: "/peer/v1/gossip", payload: payload) }
        var failure: (any Error)?
        do { _ = try await call() } catch { failure = error }
        #expect(failure.flatMap(PeerTransportFailure.init) == .unreachable, "\(String(describing: failure))")
        // The membership changes under the running client: its next call goes to the new address.
        current.withLock { $0 = network.topology }
        let answer = try await call()
        #expect(try JSONDecoder().decode(GossipResponse.self, from: Data(answer)).records.isEmpty)
        // Its own key is read for every request too: one RKB does not pin is refused at once…
        key.withLock { $0 = SigningKey() }
        var refusal: PeerRefusal?
        do { _ = try await call() } catch let error as PeerRefusal { refusal = error }
        #expect(refusal?.code == .badSignature, "\(String(describing: refusal))")
        // …and the pinned one, back, is accepted in the same session.
        key.withLock { $0 = genuine }
        _ = try await call()
        try await client.shutdown()
    }

    /// The test is RRK: it records a handshake, a gossip request and RKB's answer, then shows that
    /// what a thief takes later (both nodes' static keys, RKB's whole folder) opens none of it.
    @Test func recordedTrafficCannotBeOpenedWithTheStaticKeysTakenLater() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"], intervalMs: 60_000)
        try await network.start("RKB")
        let rrk = try #require(network.topology.trusts.first { $0.ods.code == "RRK" })
        let rkb = try #require(network.topology.trusts.first { $0.ods.code == "RKB" })
        let rrkKey = try SigningKey.read(from: network.dataDirectory("RRK") + "/keys/signing.key")
        let (session, handshake, handshakeAnswer) = try await network.session(from: "RRK", to: "RKB")
        let marker = "9434765919"
        let payload = Array(
            try JSONEncoder().encode(GossipRequest(from: rrk.ods, digest: [try TrustID("RXY"): 9_434_765_919])))
        #expect(String(decoding: payload, as: UTF8.self).contains(marker))
        let request = PeerEnvelope.seal(
            method: "POST", path: "/peer/v1/gossip", payload: payload, from: rrk.ods, key: rrkKey, in: session)
        let answer = try await network.send(request, to: "RKB")
        #expect(answer.status == 200)
        #expect(answer.headers[PeerProtocol.header] == "\(PeerProtocol.version)")
        #expect(!String(decoding: request.body, as: UTF8.self).contains(marker))
        // The recorded answer is genuine: it opens in the session.
        let opened = try PeerEnvelope.openResponse(
            status: answer.status, headers: answer.headers, body: answer.body, from: rkb, to: rrk.ods,
            requestNonce: try #require(request.headers[PeerEnvelope.nonceHeader]), session: session)
        #expect(try JSONDecoder().decode(GossipResponse.self, from: Data(opened)).records.isEmpty)

        // Later, the thief takes both static agreement keys: neither opens either recorded body.
        let stolen = [
            try AgreementKey.read(from: network.dataDirectory("RKB") + "/keys/agreement.key"),
            try AgreementKey.read(from: network.dataDirectory("RRK") + "/keys/agreement.key"),
        ]
        for key in stolen {
            #expect(throws: CryptoError.self) { try key.openSealed(request.body) }
            #expect(throws: CryptoError.self) { try key.openSealed(answer.body) }
        }
        // The session's keys came from two ephemeral keys, neither a static one: the X25519 secret
        // behind them needs an ephemeral secret, which neither node kept.
        struct HandshakeAnswer: Decodable { var key: String }
        let serverEphemeral = try JSONDecoder().decode(HandshakeAnswer.self, from: Data(handshakeAnswer.body)).key
        #expect(serverEphemeral != rkb.agreementKey?.base64)
        #expect(Data(handshake.body).base64EncodedString() != rrk.agreementKey?.base64)
        // Nothing of the session was written down at RKB: no file in its folder holds its keys.
        let secrets = [session.sending, session.receiving].map { key in key.withUnsafeBytes { Data($0) } }
        let folder = network.dataDirectory("RKB")
        let files = try #require(FileManager.default.enumerator(atPath: folder)).compactMap { $0 as? String }
        #expect(files.count > 3)
        for file in files.prefix(10_000) {
            guard let contents = FileManager.default.contents(atPath: folder + "/" + file) else { continue }
            for secret in secrets { #expect(contents.range(of: secret) == nil, "\(file) holds a session key") }
        }
        // Once RKB restarts, the session is gone: a request in it is refused by name, and the
        // recorded handshake cannot make it again (signed before the restart; a node accepts what
        // was signed in the second it started, so the restart comes in a later second).
        let signedAt = try #require(Int(handshake.headers[PeerEnvelope.timestampHeader] ?? ""))
        try await poll("the clock to pass the handshake's second", deadline: .seconds(5)) {
            Int(Date().timeIntervalSince1970) > signedAt
        }
        #expect(network.stop("RKB") == 0)
        try await network.start("RKB")
        let late = PeerEnvelope.seal(
            method: "POST", path: "/peer/v1/gossip", payload: payload, from: rrk.ods, key: rrkKey, in: session)
        let refused = try await network.send(late, to: "RKB")
        let refusal = PeerEnvelope.openRefusal(
            status: refused.status, headers: refused.headers, body: refused.body, from: rkb, to: rrk.ods,
            requestNonce: try #require(late.headers[PeerEnvelope.nonceHeader]))
        #expect(refusal.code == .unknownSession, "\(refusal)")
        let replayed = try await network.send(handshake, to: "RKB")
        #expect(replayed.status == 401)
        #expect(String(decoding: replayed.body, as: UTF8.self).contains("staleRequest"))
    }

    @Test func aForgedOrReplayedHandshakeIsRefusedByARunningNode() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"], intervalMs: 60_000)
        try await network.start("RKB")
        let rkb = try TrustID("RKB")
        let rrk = try TrustID("RRK")
        // Under RRK's name, signed by another key.
        let forged = PeerEnvelope.handshake(from: rrk, key: SigningKey(), to: rkb)
        let forgedAnswer = try await network.send(forged.request, to: "RKB")
        #expect(forgedAnswer.status == 401)
        #expect(String(decoding: forgedAnswer.body, as: UTF8.self).contains("badSignature"))
        // RRK's own, sent twice: the first makes a session, the second is a replay.
        let key = try SigningKey.read(from: network.dataDirectory("RRK") + "/keys/signing.key")
        let genuine = PeerEnvelope.handshake(from: rrk, key: key, to: rkb)
        #expect(try await network.send(genuine.request, to: "RKB").status == 200)
        let replayed = try await network.send(genuine.request, to: "RKB")
        #expect(replayed.status == 401)
        #expect(String(decoding: replayed.body, as: UTF8.self).contains("replayedRequest"))
        let status = try await LocalAPIClient.status(node: network.api("RKB"))
        #expect(status.refusals["badSignature"] == 1)
        #expect(status.refusals["replayedRequest"] == 1)
    }

    @Test func aRequestInAnUnknownSessionIsRefusedByNameAndTheClientRecoversAfterARestart() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"], intervalMs: 60_000)
        try await network.start("RKB")
        let rrk = try LocalNode(directory: network.dataDirectory("RRK"))
        let rkb = try #require(network.topology.trusts.first { $0.ods.code == "RKB" })
        // Signed by RRK's genuine key, in a session RKB never made.
        let made = try PeerEnvelope.seal(
            method: "POST", path: "/peer/v1/gossip", payload: [1], from: rrk.configuration.trust,
            key: try rrk.signingKey(), to: rkb)
        let answer = try await network.send(made, to: "RKB")
        #expect(answer.status == 401)
        let refusal = PeerEnvelope.openRefusal(
            status: answer.status, headers: answer.headers, body: answer.body, from: rkb, to: rrk.configuration.trust,
            requestNonce: try #require(made.headers[PeerEnvelope.nonceHeader]))
        #expect(refusal.code == .unknownSession, "\(refusal)")

        let client = PeerClient(
            me: rrk.configuration.trust, signing: try rrk.signingKey(), topology: { network.topology })
        let payload = Array(try JSONEncoder().encode(GossipRequest(from: rrk.configuration.trust, digest: [:])))
        for _ in 0..<3 { _ = try await client.call(rkb.ods, path: "/peer/v1/gossip", payload: payload) }
        // RKB restarts and forgets every session; the client's next call still succeeds.
        #expect(network.stop("RKB") == 0)
        try await network.start("RKB")
        _ = try await client.call(rkb.ods, path: "/peer/v1/gossip", payload: payload)
        _ = try await client.call(rkb.ods, path: "/peer/v1/gossip", payload: payload)
        try await client.shutdown()
        // …by handshaking again once, after one unknownSession (counted, not audited).
        let status = try await LocalAPIClient.status(node: network.api("RKB"))
        #expect(status.refusals["unknownSession"] == 1, "\(status.refusals)")
        let audited = try LocalNode(directory: network.dataDirectory("RKB")).store.audit.entries(kinds: [.peerRefused])
        #expect(!audited.contains { $0[.rule] == "unknownSession" })
    }

    @Test func aNodeAnswersANewerProtocolWithANamedSignedRefusalShownInWords() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"], intervalMs: 60_000)
        try await network.start("RKB")
        let rrk = try LocalNode(directory: network.dataDirectory("RRK"))
        let rkb = try TrustID("RKB")
        var client = PeerClient(
            me: rrk.configuration.trust, signing: try rrk.signingKey(), topology: { network.topology })
        client.protocolVersion = 3
        let payload = Array(try JSONEncoder().encode(GossipRequest(from: rrk.configuration.trust, digest: [:])))
        var caught: PeerRefusal?
        do {
            _ = try await client.call(rkb, path: "/peer/v1/gossip", payload: payload)
        } catch let refusal as PeerRefusal {
            caught = refusal
        }
        try await client.shutdown()
        // Believed (signed by RKB, bound to the request), and put in words from this side.
        #expect(caught?.code == .unsupportedProtocol, "\(String(describing: caught))")
        #expect(caught?.protocolVersion == 2)
        #expect(caught?.message == "RKB runs an older TrustMesh: protocol 2, this node speaks 3")
        let status = try await LocalAPIClient.status(node: network.api("RKB"))
        #expect(status.refusals["unsupportedProtocol"] == 1, "\(status.refusals)")
    }

    /// RKB is replaced by a node of protocol 3 (played by the test, with RKB's key): a real RRK
    /// node's fetch from it fails, and the clinician is told why in words.
    @Test func aFetchFromANodeOfANewerProtocolFailsInWords() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"])
        for code in ["RRK", "RKB"] { try await network.start(code) }
        let study = "1.2.826.0.1.3680043.10.16.3"
        let patient = "9434765919"
        let input = network.directory.appending("in-\(study)")
        let made = try await CommandRunner.trustmesh([
            "synthesize", "--out", input, "--patient-id", patient, "--instances", "2", "--size", "32",
            "--study-uid", study,
        ])
        #expect(made.status == 0, "\(made.stderr)")
        let ingested = try await CommandRunner.trustmesh(["ingest", "--data", network.dataDirectory("RKB"), input])
        #expect(ingested.status == 0, "\(ingested.stderr)")
        try await poll("RRK to list the study", deadline: .seconds(30)) {
            (try? await LocalAPIClient.query(node: network.api("RRK"), nhs: NHSNumber(patient)))?.studies
                .contains { $0.studyInstanceUID == study } == true
        }
        let care = try await network.cli(
            "RRK", ["care", "add", "--node", network.url("RRK"), "--nhs", patient, "--kind", "referral"])
        #expect(care.status == 0, "\(care.stderr)")

        let key = try SigningKey.read(from: network.dataDirectory("RKB") + "/keys/signing.key")
        #expect(network.stop("RKB") == 0)
        let port = try #require(Int(network.peerURL("RKB").split(separator: ":").last ?? ""))
        let newer = try NewerNode(port: port, trust: try TrustID("RKB"), key: key, version: 3)
        defer { newer.stop() }

        // A client of this version, asked directly.
        let rrk = try LocalNode(directory: network.dataDirectory("RRK"))
        let client = PeerClient(
            me: rrk.configuration.trust, signing: try rrk.signingKey(), topology: { network.topology })
        var caught: PeerRefusal?
        do {
            _ = try await client.call(try TrustID("RKB"), path: "/peer/v1/gossip", payload: [1])
        } catch let refusal as PeerRefusal {
            caught = refusal
        }
        try await client.shutdown()
        #expect(caught?.code == .unsupportedProtocol, "\(String(describing: caught))")
        #expect(caught?.message == "RKB runs a newer TrustMesh: protocol 3, this node speaks 2")

        // The clinician's fetch, through the running RRK node.
        let fetched = try await network.cli("RRK", ["fetch", "--node", network.url("RRK"), "--study", study])
        #expect(fetched.status != 0)
        #expect(
            (fetched.stdout + fetched.stderr).contains("RKB runs a newer TrustMesh: protocol 3, this node speaks 2"),
            "\(fetched.stdout)\(fetched.stderr)")
    }
}

/// A node of another protocol version, played by the test with a trust's real key: it answers
/// every request with a signed ``PeerRefusal/Code/unsupportedProtocol``, as such a node would.
final class NewerNode: @unchecked Sendable {
    // Invariant for `@unchecked Sendable`: every stored property is immutable; the listening socket
    // is used by the one serving thread, and closed by `stop()` to end it.
    private let listener: Int32
    private let trust: TrustID
    private let key: SigningKey
    private let version: Int

    /// Listens on 127.0.0.1:`port` (retrying while the port is still held, for up to 10 s) and
    /// serves on a thread of its own until ``stop()``.
    init(port: Int, trust: TrustID, key: SigningKey, version: Int) throws {
        self.trust = trust
        self.key = key
        self.version = version
        var fd: Int32 = -1
        for _ in 0..<100 {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if bound == 0, listen(fd, 16) == 0 { break }
            close(fd)
            fd = -1
            usleep(100_000)
        }
        guard fd >= 0 else { throw CommandRunnerError(message: "cannot listen on 127.0.0.1:\(port)") }
        listener = fd
        Thread.detachNewThread { [self] in serve() }
    }

    /// Stops serving: the blocked `accept` returns.
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func serve() {
        for _ in 0..<10_000 {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            answer(connection)
            close(connection)
        }
    }

    /// Reads one request (head and announced body, at most 1 MiB) and answers it.
    private func answer(_ connection: Int32) {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var headers: [String: String] = [:]
        var bodyStart: Int?
        var needed = Int.max
        while received.count < needed, received.count < 1 << 20 {
            let count = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress!, $0.count, 0) }
            guard count > 0 else { return }
            received += buffer[..<count]
            if bodyStart == nil,
                let end = received.indices.first(where: {
                    received[$0...].starts(with: Array("\r\n\r\n".utf8))
                })
            {
                bodyStart = end + 4
                for line in String(decoding: received[..<end], as: UTF8.self).components(separatedBy: "\r\n") {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                        in: .whitespaces)
                }
                needed = end + 4 + (headers["content-length"].flatMap(Int.init) ?? 0)
            }
        }
        let refusal = PeerRefusal(
            .unsupportedProtocol,
            "the request is protocol \(headers["trustmesh-protocol"] ?? "none"); this node speaks protocol \(version)",
            protocolVersion: version)
        let body = Array((try? JSONEncoder().encode(refusal)) ?? Data())
        let signature = key.sign(
            PeerEnvelope.responseSigningBytes(
                status: 400, from: trust, toCode: headers["trustmesh-from"] ?? "",
                requestNonce: headers["trustmesh-nonce"] ?? "", body: body))
        let head =
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n"
            + "TrustMesh-Protocol: \(version)\r\nTrustMesh-Signature: \(signature.base64)\r\nConnection: close\r\n\r\n"
        let response = Array(head.utf8) + body
        _ = response.withUnsafeBytes { Glibc.send(connection, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}

extension TestNetwork {
    /// An answer as it came off the wire: status, headers (names as sent), body.
    struct WireAnswer {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
    }

    /// Sends `request` exactly as it is to `code`'s peer listener.
    func send(_ request: PeerEnvelope.Request, to code: String) async throws -> WireAnswer {
        var http = HTTPClientRequest(url: peerURL(code) + request.path)
        http.method = .POST
        for (name, value) in request.headers { http.headers.add(name: name, value: value) }
        http.body = .bytes(ByteBuffer(bytes: request.body))
        let response = try await HTTPClient.shared.execute(http, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        var headers: [String: String] = [:]
        for (name, value) in response.headers { headers[name] = value }
        return WireAnswer(status: Int(response.status.code), headers: headers, body: Array(buffer: body))
    }

    /// Handshakes with `code`'s running node as trust `from` (its signing key read from its
    /// folder): the test's end of a new session, and the bytes of both messages.
    func session(from: String, to code: String) async throws -> (
        session: PeerSession, request: PeerEnvelope.Request, answer: WireAnswer
    ) {
        let key = try SigningKey.read(from: dataDirectory(from) + "/keys/signing.key")
        let peer = try #require(topology.trusts.first { $0.ods.code == code })
        let handshake = PeerEnvelope.handshake(from: try TrustID(from), key: key, to: peer.ods)
        let answer = try await send(handshake.request, to: code)
        guard answer.status == 200 else {
            throw PeerEnvelope.openRefusal(
                status: answer.status, headers: answer.headers, body: answer.body, from: peer, to: try TrustID(from),
                requestNonce: handshake.nonce)
        }
        let session = try PeerEnvelope.finish(
            handshake, headers: answer.headers, body: answer.body, from: peer, to: try TrustID(from))
        return (session, handshake.request, answer)
    }
}
