import AsyncHTTPClient
import Foundation
import Glibc
import NIOCore
import NIOHTTP1
import Testing
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshPeer
import TrustMeshStore
import TrustMeshTesting

/// The limits that hold without credentials (issue 14), each against a real node process with
/// raw sockets playing the attacker: refused or bounded, before the body is read.
@Suite(.serialized, .timeLimit(.minutes(5))) struct LimitsTests {
    /// `host:port` → port.
    static func port(_ address: String) -> Int { Int(address.split(separator: ":").last!)! }

    /// Envelope headers that pass every check a receiver can make without the body (the version,
    /// a pinned sender, addressed to it, fresh, a well-formed nonce and signature, a live
    /// `session`); the signature is random.
    static func plausibleHeaders(from: String, to: String, session: String = "") -> String {
        let nonce = Data(Random.bytes(16)).base64EncodedString()
        let signature = Data(Random.bytes(64)).base64EncodedString()
        return "TrustMesh-Protocol: \(PeerProtocol.version)\r\nTrustMesh-From: \(from)\r\nTrustMesh-To: \(to)\r\n"
            + "TrustMesh-Timestamp: \(Int(Date().timeIntervalSince1970))\r\nTrustMesh-Nonce: \(nonce)\r\n"
            + "TrustMesh-Session: \(session)\r\nTrustMesh-Signature: \(signature)\r\n"
    }

    /// An HTTP answer read off a raw connection: status, headers (lower-case names), body.
    static func parse(_ bytes: [UInt8]) -> (status: Int, headers: [String: String], body: [UInt8])? {
        let text = bytes
        guard let end = text.indices.first(where: { text[$0...].starts(with: Array("\r\n\r\n".utf8)) }) else {
            return nil
        }
        let head = String(decoding: text[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        guard let statusLine = head.first, statusLine.hasPrefix("HTTP/1.1 "),
            let status = Int(statusLine.dropFirst(9).prefix(3))
        else { return nil }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        var body = Array(text[(end + 4)...])
        if let length = headers["content-length"].flatMap(Int.init), body.count > length {
            body = Array(body.prefix(length))
        }
        return (status, headers, body)
    }

    @Test func peerRequestsAreRefusedOnTheirHeadersBeforeTheirBodiesAreRead() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"], intervalMs: 60_000)
        try await network.start("RKB")
        let port = Self.port(String(network.peerURL("RKB").dropFirst("http://".count)))
        let rkb = try #require(network.topology.trusts.first { $0.ods.code == "RKB" })
        let rrk = try #require(network.topology.trusts.first { $0.ods.code == "RRK" })

        // The attack: 12 requests announcing 32 MiB, none with a valid envelope. The node answers
        // each on its headers and closes the connection: it neither waits for the body nor reads it.
        let heads = [
            "",  // no envelope at all
            "TrustMesh-From: RKB\r\n",  // names the receiver itself
            "TrustMesh-From: RXX\r\nTrustMesh-To: RKB\r\n",  // not pinned
            Self.plausibleHeaders(from: "RRK", to: "RRK"),  // addressed elsewhere
        ]
        var connections: [RawConnection] = []
        for index in 0..<12 {
            let connection = try RawConnection(port: port)
            #expect(
                connection.send(
                    "POST /peer/v1/gossip HTTP/1.1\r\nHost: x\r\nContent-Length: \(32 << 20)\r\n"
                        + heads[index % heads.count] + "\r\n"))
            connections.append(connection)
        }
        // Not a byte of any body was sent: each is answered and closed all the same.
        try await poll("every oversized unauthenticated request to be answered and closed", deadline: .seconds(20)) {
            connections.allSatisfy { $0.drain() }
        }
        for connection in connections {
            let answer = try #require(Self.parse(connection.received), "\(connection.receivedText.prefix(200))")
            #expect([400, 401].contains(answer.status), "\(connection.receivedText.prefix(300))")
            #expect(answer.headers["trustmesh-signature"] != nil, "a refusal is signed")
        }

        // Headers that pass every check the body is not needed for, but a body over the route's
        // cap: 413 before any of it is read, signed by RKB and bound to the request's nonce.
        let session = try await network.session(from: "RRK", to: "RKB").session.id
        let nonceHeaders = Self.plausibleHeaders(from: "RRK", to: "RKB", session: session)
        let nonce = try #require(
            nonceHeaders.components(separatedBy: "\r\n").first { $0.hasPrefix("TrustMesh-Nonce: ") }?.dropFirst(17))
        let large = try RawConnection(port: port)
        large.send(
            "POST /peer/v1/gossip HTTP/1.1\r\nHost: x\r\nContent-Length: \(32 << 20)\r\n" + nonceHeaders + "\r\n")
        try await poll("the over-cap request to be answered and closed", deadline: .seconds(20)) { large.drain() }
        let tooLarge = try #require(Self.parse(large.received), "\(large.receivedText.prefix(300))")
        #expect(tooLarge.status == 413)
        let refusal = PeerEnvelope.openRefusal(
            status: tooLarge.status, headers: tooLarge.headers, body: tooLarge.body, from: rkb, to: rrk.ods,
            requestNonce: String(nonce))
        #expect(refusal.code == .tooLarge, "\(refusal)")
        // Bound to its request: under another nonce the same answer is not believed.
        let rebound = PeerEnvelope.openRefusal(
            status: tooLarge.status, headers: tooLarge.headers, body: tooLarge.body, from: rkb, to: rrk.ods,
            requestNonce: Data(Random.bytes(16)).base64EncodedString())
        #expect(rebound.code == .unavailable)

        let status = try await LocalAPIClient.status(node: network.api("RKB"))
        #expect(status.refusals["tooLarge"] == 1)
        #expect(status.refusals.values.reduce(0, +) == 13)

        // Plausible headers on many connections cannot make the node hold more than its budget for
        // unverified bodies (64 MiB): eight 8 MiB gossip requests wait for their bodies; a ninth
        // is told to retry (503) before its body is read.
        var waiting: [RawConnection] = []
        for _ in 0..<9 {
            let connection = try RawConnection(port: port)
            connection.send(
                "POST /peer/v1/gossip HTTP/1.1\r\nHost: x\r\nContent-Length: \(8 << 20)\r\n"
                    + Self.plausibleHeaders(from: "RRK", to: "RKB", session: session) + "\r\n")
            waiting.append(connection)
        }
        try await poll("one request over the unverified-body budget to be refused", deadline: .seconds(60)) {
            waiting.contains { $0.drain() }
        }
        let refused = waiting.filter { $0.drain() }
        #expect(refused.count == 1)
        #expect(
            refused.first.flatMap { Self.parse($0.received) }?.status == 503, "\(refused.first?.receivedText ?? "")")
    }

    @Test func halfSentRequestsAreClosedByTheHeaderAndIdleTimeoutsOnBothListeners() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"], intervalMs: 60_000)
        try await network.start("RKB", arguments: ["--header-timeout", "1", "--idle-timeout", "2"])
        let peerPort = Self.port(String(network.peerURL("RKB").dropFirst("http://".count)))
        let localPort = Self.port(network.localAddress("RKB"))
        let session = try await network.session(from: "RRK", to: "RKB").session.id

        // 40 requests whose head never ends (20 per listener), and 10 whose body stops part way
        // (after headers that pass every check made before the body is read).
        var connections: [RawConnection] = []
        for index in 0..<40 {
            let connection = try RawConnection(port: index % 2 == 0 ? peerPort : localPort)
            #expect(connection.send("POST /peer/v1/gossip HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le"))
            connections.append(connection)
        }
        for _ in 0..<10 {
            let connection = try RawConnection(port: peerPort)
            #expect(
                connection.send(
                    "POST /peer/v1/gossip HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                        + Self.plausibleHeaders(from: "RRK", to: "RKB", session: session) + "\r\n"
                        + String(repeating: "A", count: 1000)))
            connections.append(connection)
        }
        try await poll("the node to close all 50 half-sent requests", deadline: .seconds(30)) {
            connections.allSatisfy { $0.drain() }
        }
        // Closed, not answered: nothing was ever complete enough to answer.
        #expect(connections.filter { !$0.received.isEmpty }.count == 0)
        #expect(try await TestNetwork.request(.GET, network.url("RKB") + "/health").status == 200)
    }

    @Test func oneAddressCannotHoldEveryConnection() async throws {
        let network = try TestNetwork(trusts: ["RRK"], intervalMs: 60_000)
        try await network.start("RRK", arguments: ["--max-connections-per-address", "8"])
        let port = Self.port(network.localAddress("RRK"))
        var held: [RawConnection] = []
        for _ in 0..<20 { held.append(try RawConnection(port: port)) }
        // Eight stay (until the header timeout); the rest are closed at once.
        try await poll("the node to close the connections over the cap", deadline: .seconds(5)) {
            held.filter { $0.drain() }.count >= 12
        }
        #expect(held.filter { $0.drain() }.count < 20)
        // Another address is served meanwhile.
        let other = try RawConnection(port: port, from: "127.0.0.2")
        #expect(other.send("GET /health HTTP/1.1\r\nHost: \(network.localAddress("RRK"))\r\n\r\n"))
        try await poll("a client at another address to be answered", deadline: .seconds(10)) {
            _ = other.drain()
            return Self.parse(other.received) != nil
        }
        #expect(Self.parse(other.received)?.status == 200)
    }

    @Test func aSTOWRequestOverTheSizeCapIsAnswered413BeforeAnythingIsStored() async throws {
        let network = try TestNetwork(trusts: ["RRK"], intervalMs: 60_000)
        try await network.start("RRK", arguments: ["--stow-max-bytes", "200000"])
        let port = Self.port(network.localAddress("RRK"))
        let head =
            "POST /dicom-web/studies HTTP/1.1\r\nHost: \(network.localAddress("RRK"))\r\n"
            + "Authorization: Bearer \(network.testToken("RRK"))\r\nAccept: application/dicom+json\r\n"
            + "Content-Type: multipart/related; type=\"application/dicom\"; boundary=XYZ\r\n"

        // Announced too large: refused on the header, the body never sent.
        let announced = try RawConnection(port: port)
        announced.send(head + "Content-Length: \(64 << 20)\r\n\r\n")
        try await poll("the announced-too-large STOW to be answered", deadline: .seconds(20)) { announced.drain() }
        #expect(Self.parse(announced.received)?.status == 413, "\(announced.receivedText.prefix(400))")
        #expect(announced.receivedText.contains("200000 bytes"))

        // Chunked, so no length is announced: refused once the bytes pass the cap, not at the end.
        let streamed = try RawConnection(port: port)
        streamed.send(head + "Transfer-Encoding: chunked\r\n\r\n")
        let part = "--XYZ\r\nContent-Type: application/dicom\r\n\r\n"
        streamed.send(String(part.utf8.count, radix: 16) + "\r\n" + part + "\r\n")
        var sent = 0
        let chunk = [UInt8](repeating: 0, count: 16 << 10)
        let chunkHead = Array((String(chunk.count, radix: 16) + "\r\n").utf8)
        try await poll("the streamed STOW to be refused", deadline: .seconds(30)) {
            if streamed.drain() { return true }
            guard sent < 8 << 20 else { return false }
            if streamed.send(chunkHead + chunk + Array("\r\n".utf8)) { sent += chunk.count }
            return false
        }
        #expect(Self.parse(streamed.received)?.status == 413, "\(streamed.receivedText.prefix(400))")
        #expect(sent < 2 << 20, "sent \(sent) bytes before the refusal")

        let status = try await LocalAPIClient.status(node: network.api("RRK"))
        #expect(status.instances == 0)
        let temporary = network.dataDirectory("RRK") + "/tmp"
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? []).isEmpty)
        // Both refusals are audited, naming the cap.
        let refused = try LocalNode(directory: network.dataDirectory("RRK")).store.audit.entries(kinds: [
            .ingestRefused
        ])
        #expect(refused.count == 2)
        #expect(refused.allSatisfy { $0.details?.contains("limited to 200000 bytes") == true })
    }

    @Test func tenThousandGarbageRequestsAddABoundedNumberOfAuditEntries() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"], intervalMs: 60_000)
        try await network.start("RKB", arguments: ["--refusal-audit-window", "600"])
        let url = network.peerURL("RKB") + "/peer/v1/gossip"
        // No envelope; a TrustMesh-From that names a pinned trust, as the attack did.
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var refused = 0
                    for _ in 0..<1250 {
                        var request = HTTPClientRequest(url: url)
                        request.method = .POST
                        request.headers.add(name: "TrustMesh-Protocol", value: "\(PeerProtocol.version)")
                        request.headers.add(name: "TrustMesh-From", value: "RRK")
                        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
                        _ = try await response.body.collect(upTo: 1 << 16)
                        if response.status.code == 400 { refused += 1 }
                    }
                    return refused
                }
            }
            var refused = 0
            for try await count in group { refused += count }
            #expect(refused == 10_000)
        }
        let status = try await LocalAPIClient.status(node: network.api("RKB"))
        #expect(status.refusals["badEnvelope"] == 10_000)

        // While the window is open: one entry, naming the address, not the header's claim.
        let during = try LocalNode(directory: network.dataDirectory("RKB")).store.audit.entries(kinds: [.peerRefused])
        #expect(during.count == 1)
        #expect(during.first?.actor == "unauthenticated 127.0.0.1")
        // Stopped, the node writes the window's count: two entries for 10,000 refusals.
        #expect(network.stop("RKB") == 0)
        let after = try LocalNode(directory: network.dataDirectory("RKB")).store.audit.entries(kinds: [.peerRefused])
        #expect(after.count == 2)
        #expect(after.allSatisfy { $0.actor == "unauthenticated 127.0.0.1" })
        #expect(after.last?.details?.contains("\"repeated\":\"9999\"") == true, "\(after.last?.details ?? "")")
    }

    @Test func aRequesterRefusesAnUnsignedRefusal() async throws {
        // Someone on the path answers in the holder's place: a well-formed refusal, unsigned.
        let port = try FreePorts.allocate(1)[0]
        let listener = try Loopback.listen(port: port)
        defer { close(listener) }
        let forged = #"{"code":"notShared","message":"no care relationship"}"#
        let answerer = Task.detached {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return }
            defer { close(fd) }
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            _ = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            let response = Array(
                ("HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: \(forged.utf8.count)\r\n"
                    + "Connection: close\r\n\r\n" + forged).utf8)
            _ = response.withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        let rrk = (signing: SigningKey(), agreement: AgreementKey())
        let rkb = (signing: SigningKey(), agreement: AgreementKey())
        let topology = Topology(
            name: "test",
            trusts: [
                .init(
                    ods: try TrustID("RRK"), name: "UHB", address: "127.0.0.1:1", signingKey: rrk.signing.verifyingKey,
                    agreementKey: rrk.agreement.publicKey),
                .init(
                    ods: try TrustID("RKB"), name: "UHCW", address: "127.0.0.1:\(port)",
                    signingKey: rkb.signing.verifyingKey, agreementKey: rkb.agreement.publicKey),
            ])
        let client = PeerClient(
            me: try TrustID("RRK"), signing: rrk.signing, agreement: rrk.agreement, topology: topology)
        var caught: PeerRefusal?
        do {
            _ = try await client.call(try TrustID("RKB"), path: "/peer/v1/transfer/manifest", payload: Array("{}".utf8))
        } catch let refusal as PeerRefusal {
            caught = refusal
        } catch {
            Issue.record("not a refusal: \(error)")
        }
        try await client.shutdown()
        await answerer.value
        #expect(caught?.code == .unavailable, "\(String(describing: caught))")
        #expect(caught?.message.contains("not trusted") == true)
    }
}
