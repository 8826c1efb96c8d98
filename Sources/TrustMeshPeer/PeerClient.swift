import AsyncHTTPClient
import Foundation
package import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import Synchronization
package import TrustMeshCrypto
package import TrustMeshGossip
package import TrustMeshModel

/// Calls peers over HTTP: every request encrypted in a session with the peer (made by a signed
/// handshake of ephemeral keys, ``PeerEnvelope``) and signed by this node; every response checked
/// against the peer's pinned keys and opened in the session.
///
/// Sessions are kept in memory, one per peer, and made again shortly before they expire; when a
/// peer no longer knows one (it restarted, or pushed it out), its signed
/// ``PeerRefusal/Code/unknownSession`` makes the client handshake again and send the request once
/// more, so a caller never sees it.
package struct PeerClient: Sendable {
    let me: TrustID
    /// The node's signing key now, read for every request: it changes when the node rotates.
    let signing: @Sendable () throws -> SigningKey
    /// The network's membership, read afresh for every call: it may change while the node runs.
    let topology: @Sendable () -> Topology
    let http: HTTPClient
    let sessions = PeerSessionCache()
    /// Largest response body accepted.
    let maximumResponse = 64 << 20
    /// Largest handshake answer or refusal read.
    let maximumSmallAnswer = 1 << 20
    /// The protocol version sent: ``PeerProtocol/version``. Tests set another to see how a node
    /// answers a newer or older one.
    package var protocolVersion = PeerProtocol.version

    /// A client for a fixed topology; ``shutdown()`` it when done.
    /// - Parameter agreement: not used: since protocol 2 nothing is sealed to static keys (kept so
    ///   that callers need not change).
    package init(me: TrustID, signing: SigningKey, agreement: AgreementKey, topology: Topology) {
        self.init(me: me, signing: { signing }, topology: { topology })
    }

    /// A client whose membership may change while it runs; ``shutdown()`` it when done.
    /// - Parameter agreement: not used: since protocol 2 nothing is sealed to static keys (kept so
    ///   that callers need not change).
    package init(
        me: TrustID, signing: SigningKey, agreement: AgreementKey, topology: @escaping @Sendable () -> Topology
    ) {
        self.init(me: me, signing: { signing }, topology: topology)
    }

    /// A client whose membership may change while it runs, with a fixed signing key; ``shutdown()``
    /// it when done.
    package init(me: TrustID, signing: SigningKey, topology: @escaping @Sendable () -> Topology) {
        self.init(me: me, signing: { signing }, topology: topology)
    }

    /// A client whose membership and own key may change while it runs: `topology` is called for
    /// every call (a peer's address and pinned keys are those of the moment) and `signing` for
    /// every request and handshake (a node that adopted rotated keys signs with the new one: pass
    /// `{ try node.cachedSigningKey() }`), with an HTTP client of its own configured for peers;
    /// ``shutdown()`` it when done.
    /// - Parameter certificates: this node's key certificate, sent with every handshake, and where
    ///   the certificates peers send with their answers go (a peer that rotated is re-pinned from
    ///   its certificate before its answer is checked).
    package init(
        me: TrustID, signing: @escaping @Sendable () throws -> SigningKey, topology: @escaping @Sendable () -> Topology,
        certificates: PeerCertificates = .none
    ) {
        self.certificates = certificates
        self.me = me
        self.signing = signing
        self.topology = topology
        // A peer that is down must fail fast: without this, a request waits out its whole deadline
        // while the pool retries the connection, and one dead peer stalls gossip rounds and fetches.
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout = .init(connect: .seconds(3), read: .seconds(60))
        // Idle pooled connections are dropped well before a peer's idle timeout (`node run
        // --idle-timeout`, default 60 s) would close them under a request about to be sent.
        configuration.connectionPool.idleTimeout = .seconds(20)
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// This node's certificate out, peers' certificates in.
    private let certificates: PeerCertificates
    /// The signing key the sessions were made with: a new key (a rotation adopted) drops them all,
    /// so the next handshakes carry the new certificate.
    private let sessionKey = KeyMemo()

    /// Closes the client's connections. Must be called on every way out: an HTTP client that is
    /// not shut down stops the process in its deinit.
    package func shutdown() async throws { try await http.shutdown() }

    /// Forgets the session with `peer` (its key was revoked, or it left): the next call handshakes
    /// again, checked against the keys pinned then.
    package func forgetSession(with peer: TrustID) { sessions.forget(peer) }

    /// Sends an encrypted, signed request and returns the peer's opened, verified answer.
    /// - Throws: ``PeerRefusal`` (the peer's signed refusal, or ``PeerRefusal/Code/unavailable`` for
    ///   an answer not to be trusted), or the HTTP client's error when no answer came.
    package func call(_ peer: TrustID, path: String, payload: [UInt8], timeout: TimeAmount = .seconds(10)) async throws
        -> [UInt8]
    {
        let exchange = try await execute(peer, path: path, payload: payload, timeout: timeout)
        // Collected into one buffer of the announced size: growing it by doubling would copy it.
        let announced = exchange.response.headers.first(name: "Content-Length").flatMap { Int($0) } ?? 0
        guard announced <= maximumResponse else {
            throw PeerRefusal(.unavailable, "\(peer) announced a \(announced)-byte answer, over the limit")
        }
        var body = ByteBuffer()
        body.reserveCapacity(announced)
        for try await part in exchange.response.body {
            guard body.readableBytes + part.readableBytes <= maximumResponse else {
                throw PeerRefusal(.unavailable, "\(peer) sent an answer over \(maximumResponse) bytes")
            }
            body.writeImmutableBuffer(part)
        }
        return try PeerEnvelope.openResponse(
            status: 200, headers: Self.headers(exchange.response), body: Array(buffer: body), from: exchange.trust,
            to: me, requestNonce: exchange.nonce, session: exchange.session, version: protocolVersion)
    }

    /// Sends an encrypted, signed request and hands the raw answer (chunk frames, which carry their
    /// own authentication) to `consume` as it arrives. `consume` reads what it can from the front
    /// of `buffer` and leaves an incomplete tail for its next call; `buffer`'s storage is reused.
    package func callStreaming(
        _ peer: TrustID, path: String, payload: [UInt8], buffer: inout ByteBuffer, timeout: TimeAmount = .seconds(60),
        consume: (inout ByteBuffer) throws -> Void
    ) async throws {
        let exchange = try await execute(peer, path: path, payload: payload, timeout: timeout)
        buffer.clear()
        var received = 0
        for try await part in exchange.response.body {
            received += part.readableBytes
            guard received <= maximumResponse else {
                throw PeerRefusal(.unavailable, "\(peer) sent an answer over \(maximumResponse) bytes")
            }
            if buffer.writableBytes < part.readableBytes { buffer.discardReadBytes() }
            buffer.writeImmutableBuffer(part)
            try consume(&buffer)
        }
    }

    /// A 200 answer to a request, with what is needed to open it.
    private struct Exchange {
        var trust: Topology.Trust
        var nonce: String
        var session: PeerSession
        var response: HTTPClientResponse
    }

    /// Sends the request in the session with `peer` (made first if need be) and returns a 200
    /// answer; a signed refusal is thrown. When the peer no longer knows the session, a new one is
    /// made and the request sent once more, in it.
    private func execute(_ peer: TrustID, path: String, payload: [UInt8], timeout: TimeAmount) async throws
        -> Exchange
    {
        guard var trust = topology().trust(peer) else {
            throw PeerRefusal(.unknownPeer, "\(peer) is not in this node's topology")
        }
        let key = try signing().verifyingKey
        let changed = sessionKey.replace(with: key)
        if changed { for member in topology().trusts { sessions.forget(member.ods) } }
        var refusal = PeerRefusal(.unknownSession, "no session")
        for _ in 1...2 {
            let current = trust
            let session = try await sessions.session(with: peer) { [self] in
                try await handshake(with: current, timeout: timeout)
            }
            let envelope = PeerEnvelope.seal(
                method: "POST", path: path, payload: payload, from: me, key: try signing(), in: session,
                version: protocolVersion)
            let nonce = envelope.headers[PeerEnvelope.nonceHeader] ?? ""
            let response = try await post(envelope, to: trust, timeout: timeout)
            // A peer that rotated shows its certificate: re-pinned from it before its answer is checked.
            if certificates.learn(from: Self.headers(response)), let fresh = topology().trust(peer) { trust = fresh }
            if response.status == .ok {
                return Exchange(trust: trust, nonce: nonce, session: session, response: response)
            }
            refusal = try await self.refusal(response, from: trust, nonce: nonce)
            guard refusal.code == .unknownSession else { throw refusal }
            sessions.drop(peer, id: session.id)
        }
        throw refusal
    }

    /// Makes a session with `trust`: a signed handshake of a fresh ephemeral key, its signed
    /// answer checked against the peer's pinned keys and this handshake's transcript.
    private func handshake(with trust: Topology.Trust, timeout: TimeAmount) async throws -> PeerSession {
        let handshake = PeerEnvelope.handshake(
            from: me, key: try signing(), to: trust.ods, version: protocolVersion)
        var request = handshake.request
        if let certificate = certificates.headerValue() { request.headers[PeerCertificates.header] = certificate }
        let response = try await post(request, to: trust, timeout: timeout)
        var trust = trust
        if certificates.learn(from: Self.headers(response)), let fresh = topology().trust(trust.ods) { trust = fresh }
        guard response.status == .ok else { throw try await refusal(response, from: trust, nonce: handshake.nonce) }
        let body = try await response.body.collect(upTo: maximumSmallAnswer)
        return try PeerEnvelope.finish(
            handshake, headers: Self.headers(response), body: Array(buffer: body), from: trust, to: me)
    }

    private func post(_ envelope: PeerEnvelope.Request, to trust: Topology.Trust, timeout: TimeAmount) async throws
        -> HTTPClientResponse
    {
        var request = HTTPClientRequest(url: "http://\(trust.address)\(envelope.path)")
        request.method = .POST
        for (name, value) in envelope.headers { request.headers.add(name: name, value: value) }
        request.headers.add(name: "Content-Type", value: "application/octet-stream")
        request.body = .bytes(ByteBuffer(bytes: envelope.body))
        return try await http.execute(request, timeout: timeout)
    }

    private static func headers(_ response: HTTPClientResponse) -> [String: String] {
        var headers: [String: String] = [:]
        for (name, value) in response.headers { headers[name] = value }
        return headers
    }

    /// The refusal a non-200 answer carries (its body is small JSON), believed only when signed by
    /// the peer and bound to this request (``PeerEnvelope/openRefusal(status:headers:body:from:to:requestNonce:)``).
    /// A refusal of this node's protocol version is put in words naming both versions.
    private func refusal(_ response: HTTPClientResponse, from peer: Topology.Trust, nonce: String) async throws
        -> PeerRefusal
    {
        let body = try await response.body.collect(upTo: maximumSmallAnswer)
        let refusal = PeerEnvelope.openRefusal(
            status: Int(response.status.code), headers: Self.headers(response), body: Array(buffer: body), from: peer,
            to: me, requestNonce: nonce)
        guard refusal.code == .unsupportedProtocol, let theirs = refusal.protocolVersion, theirs != protocolVersion
        else { return refusal }
        return PeerRefusal(
            .unsupportedProtocol, PeerProtocol.mismatch(peer: peer.ods, theirs: theirs, mine: protocolVersion),
            protocolVersion: theirs)
    }
}

/// Gossip between real nodes: a ``GossipRequest`` as an encrypted, signed POST to `/peer/v1/gossip`.
package struct HTTPGossipTransport: GossipTransport {
    static let path = "/peer/v1/gossip"
    let client: PeerClient

    package init(client: PeerClient) { self.client = client }

    package func exchange(with peer: TrustID, _ request: GossipRequest) async throws -> GossipResponse {
        let payload = try JSONEncoder().encode(request)
        let answer = try await client.call(peer, path: Self.path, payload: Array(payload))
        return try JSONDecoder().decode(GossipResponse.self, from: Data(answer))
    }
}

/// The signing key a client's sessions were made with.
final class KeyMemo: Sendable {
    private let key = Mutex<VerifyingKey?>(nil)

    /// Records `new`; true if a different key was recorded before.
    func replace(with new: VerifyingKey) -> Bool {
        key.withLock { held in
            defer { held = new }
            return held != nil && held != new
        }
    }
}
