import AsyncHTTPClient
import Foundation
package import NIOCore
import NIOFoundationCompat
import NIOHTTP1
package import TrustMeshCrypto
package import TrustMeshGossip
package import TrustMeshModel

/// Calls peers over HTTP: every request signed by this node and sealed to the peer; every response
/// checked against the peer's pinned key and opened with this node's key.
package struct PeerClient: Sendable {
    let me: TrustID
    let signing: SigningKey
    let agreement: AgreementKey
    /// The network's membership, read afresh for every call: it may change while the node runs.
    let topology: @Sendable () -> Topology
    let http: HTTPClient
    /// Largest response body accepted.
    let maximumResponse = 64 << 20

    /// A client for a fixed topology, with an HTTP client of its own configured for peers;
    /// ``shutdown()`` it when done.
    package init(me: TrustID, signing: SigningKey, agreement: AgreementKey, topology: Topology) {
        self.init(me: me, signing: signing, agreement: agreement, topology: { topology })
    }

    /// A client whose membership may change while it runs: `topology` is called for every call
    /// (a peer's address and pinned keys are those of the moment), with an HTTP client of its own
    /// configured for peers; ``shutdown()`` it when done.
    package init(
        me: TrustID, signing: SigningKey, agreement: AgreementKey, topology: @escaping @Sendable () -> Topology
    ) {
        self.me = me
        self.signing = signing
        self.agreement = agreement
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

    /// Closes the client's connections. Must be called on every way out: an HTTP client that is
    /// not shut down stops the process in its deinit.
    package func shutdown() async throws { try await http.shutdown() }

    /// Sends a sealed, signed request and returns the peer's opened, verified answer.
    package func call(_ peer: TrustID, path: String, payload: [UInt8], timeout: TimeAmount = .seconds(10)) async throws
        -> [UInt8]
    {
        let (trust, nonce, headers, body) = try await send(peer, path: path, payload: payload, timeout: timeout)
        return try PeerEnvelope.openResponse(
            status: 200, headers: headers, body: Array(buffer: body), from: trust, to: me, requestNonce: nonce,
            key: agreement)
    }

    /// Sends a sealed, signed request and hands the raw answer (chunk frames, which carry their
    /// own authentication) to `consume` as it arrives. `consume` reads what it can from the front
    /// of `buffer` and leaves an incomplete tail for its next call; `buffer`'s storage is reused.
    package func callStreaming(
        _ peer: TrustID, path: String, payload: [UInt8], buffer: inout ByteBuffer, timeout: TimeAmount = .seconds(60),
        consume: (inout ByteBuffer) throws -> Void
    ) async throws {
        let (trust, nonce, response) = try await execute(peer, path: path, payload: payload, timeout: timeout)
        guard response.status == .ok else { throw try await refusal(response, from: trust, nonce: nonce) }
        buffer.clear()
        var received = 0
        for try await part in response.body {
            received += part.readableBytes
            guard received <= maximumResponse else {
                throw PeerRefusal(.unavailable, "\(peer) sent an answer over \(maximumResponse) bytes")
            }
            if buffer.writableBytes < part.readableBytes { buffer.discardReadBytes() }
            buffer.writeImmutableBuffer(part)
            try consume(&buffer)
        }
    }

    private func send(
        _ peer: TrustID, path: String, payload: [UInt8], timeout: TimeAmount
    ) async throws -> (trust: Topology.Trust, nonce: String, headers: [String: String], body: ByteBuffer) {
        let (trust, nonce, response) = try await execute(peer, path: path, payload: payload, timeout: timeout)
        guard response.status == .ok else { throw try await refusal(response, from: trust, nonce: nonce) }
        // Collected into one buffer of the announced size: growing it by doubling would copy it.
        let announced = response.headers.first(name: "Content-Length").flatMap { Int($0) } ?? 0
        guard announced <= maximumResponse else {
            throw PeerRefusal(.unavailable, "\(peer) announced a \(announced)-byte answer, over the limit")
        }
        var body = ByteBuffer()
        body.reserveCapacity(announced)
        for try await part in response.body {
            guard body.readableBytes + part.readableBytes <= maximumResponse else {
                throw PeerRefusal(.unavailable, "\(peer) sent an answer over \(maximumResponse) bytes")
            }
            body.writeImmutableBuffer(part)
        }
        var headers: [String: String] = [:]
        for (name, value) in response.headers { headers[name] = value }
        return (trust, nonce, headers, body)
    }

    private func execute(_ peer: TrustID, path: String, payload: [UInt8], timeout: TimeAmount) async throws -> (
        trust: Topology.Trust, nonce: String, response: HTTPClientResponse
    ) {
        guard let trust = topology().trust(peer) else {
            throw PeerRefusal(.unknownPeer, "\(peer) is not in this node's topology")
        }
        let envelope = try PeerEnvelope.seal(
            method: "POST", path: path, payload: payload, from: me, key: signing, to: trust)
        var request = HTTPClientRequest(url: "http://\(trust.address)\(path)")
        request.method = .POST
        for (name, value) in envelope.headers { request.headers.add(name: name, value: value) }
        request.headers.add(name: "Content-Type", value: "application/octet-stream")
        request.body = .bytes(ByteBuffer(bytes: envelope.body))
        let response = try await http.execute(request, timeout: timeout)
        return (trust, envelope.headers[PeerEnvelope.nonceHeader] ?? "", response)
    }

    /// The refusal a non-200 answer carries (its body is small JSON), believed only when signed by
    /// the peer and bound to this request (``PeerEnvelope/openRefusal(status:headers:body:from:to:requestNonce:)``).
    private func refusal(_ response: HTTPClientResponse, from peer: Topology.Trust, nonce: String) async throws
        -> PeerRefusal
    {
        let body = try await response.body.collect(upTo: 1 << 20)
        var headers: [String: String] = [:]
        for (name, value) in response.headers { headers[name] = value }
        return PeerEnvelope.openRefusal(
            status: Int(response.status.code), headers: headers, body: Array(buffer: body), from: peer, to: me,
            requestNonce: nonce)
    }
}

/// Gossip between real nodes: a ``GossipRequest`` as a sealed, signed POST to `/peer/v1/gossip`.
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
