package import Foundation
import HTTPTypes
package import Hummingbird
package import Logging
package import NIOCore
import Synchronization
import TrustMeshCrypto
package import TrustMeshModel
package import TrustMeshNodeCore

/// What a peer endpoint answers: a payload to seal and sign, or bytes that carry their own
/// authentication (chunk frames).
package enum PeerAnswer {
    /// Sealed to the peer and signed by this node.
    case sealed(Data)
    /// Bytes that carry their own authentication (chunk frames), streamed as they are written.
    case stream(any PeerStream)
}

/// An answer written piece by piece (a chunk batch), so the holder keeps one piece in memory.
package protocol PeerStream: Sendable {
    /// Bytes of the whole answer.
    var length: Int { get }
    /// Calls `write` with each piece of the answer, in order.
    func write(_ write: (ByteBuffer) async throws -> Void) async throws
}

/// The peer listener's door: every route is a POST whose body is sealed to this node and signed by
/// a pinned member. The door opens the envelope (sender pinned, addressed here, fresh, signature,
/// nonce unseen, body opens) before a handler sees anything, seals and signs each answer to the
/// asker, and turns every refusal into the closed wire code set (``PeerRefusal``) — logged, counted
/// and audited in this one place.
package struct PeerDoor: Sendable {
    /// Handles one opened request from a pinned peer.
    package typealias Handler = @Sendable (_ from: Topology.Trust, _ payload: [UInt8]) async throws -> PeerAnswer

    private let node: LocalNode
    private let topology: Topology
    private let me: Topology.Trust
    private let signing: SigningKey
    private let agreement: AgreementKey
    private let nonces = NonceCache()
    /// Requests signed before this moment are refused: the nonce cache starts empty.
    private let startedAt: Date
    private let contacts: PeerContacts
    private let logger: Logger
    private let refused: @Sendable (PeerRefusal.Code) -> Void

    /// Largest request body read, before anything in it is trusted.
    package static let maximumBody = 32 << 20

    /// - Parameter refused: told the wire code of every refusal (for the status page and metrics).
    package init(
        node: LocalNode, topology: Topology, contacts: PeerContacts, logger: Logger,
        refused: @escaping @Sendable (PeerRefusal.Code) -> Void
    ) throws {
        guard let me = topology.trust(node.configuration.trust) else {
            throw ModelError.topology("\(node.configuration.trust) is not in this topology")
        }
        self.node = node
        self.topology = topology
        self.me = me
        self.signing = try node.signingKey()
        self.agreement = try node.agreementKey()
        self.startedAt = Date()
        self.contacts = contacts
        self.logger = logger
        self.refused = refused
    }

    /// The door's routes, one per path in `handlers`, behind `middleware` (outermost first).
    package func routes(
        _ handlers: [String: Handler], middleware: [any MiddlewareProtocol<Request, Response, BasicRequestContext>] = []
    ) -> RouteCollection<BasicRequestContext> {
        let routes = RouteCollection(context: BasicRequestContext.self)
        for layer in middleware { routes.add(middleware: layer) }
        for (path, handle) in handlers.sorted(by: { $0.key < $1.key }) {
            routes.post(RouterPath(path)) { request, _ -> Response in
                await self.answer(request, path: path, handle: handle)
            }
        }
        return routes
    }

    /// Opens a peer request, runs `handle` on its payload, and seals the answer to the peer. Every
    /// refusal is logged and counted; nothing a refused request carries is used.
    private func answer(_ request: Request, path: String, handle: Handler) async -> Response {
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        do {
            var request = request
            let body: ByteBuffer
            do {
                body = try await request.collectBody(upTo: Self.maximumBody)
            } catch {
                throw PeerRefusal(.tooLarge, "request bodies are limited to 32 MiB")
            }
            let opened = try PeerEnvelope.open(
                .init(method: "POST", path: path, headers: headers, body: Array(buffer: body)), as: me.ods,
                key: agreement, topology: topology, nonces: nonces, notBefore: startedAt)
            contacts.record(opened.from.ods)
            switch try await handle(opened.from, opened.payload) {
            case .sealed(let answer):
                let sealed = opened.from.agreementKey!.seal(Array(answer))
                return signed(status: 200, body: sealed, to: opened.from.ods, nonce: opened.nonce)
            case .stream(let stream):
                let logger = logger
                let body = ResponseBody(contentLength: stream.length) { writer in
                    do {
                        try await stream.write { try await writer.write($0) }
                        try await writer.finish(nil)
                    } catch {
                        logger.warning("chunk batch stopped", metadata: ["error": "\(error)"])
                        throw error
                    }
                }
                var response = Response(status: .ok, body: body)
                response.headers[.contentType] = "application/octet-stream"
                return response
            }
        } catch let refusal as PeerRefusal {
            return self.refusal(refusal, path: path, headers: headers)
        } catch {
            logger.warning("bad peer request", metadata: ["path": "\(path)", "error": "\(error)"])
            // A payload that opened but could not be decoded: counted, not audited (as before the split).
            return self.refusal(
                PeerRefusal(.badEnvelope, "the payload could not be read"), path: path, headers: headers,
                unreadablePayload: true)
        }
    }

    /// The one place a peer refusal becomes an HTTP answer: counted, audited (policy refusals are
    /// audited as `fetchRefused` by the holder), logged, and sent as the wire code and message.
    private func refusal(
        _ refusal: PeerRefusal, path: String, headers: [String: String], unreadablePayload: Bool = false
    )
        -> Response
    {
        refused(refusal.code)
        let peer = String(headers[PeerEnvelope.fromHeader.lowercased()]?.prefix(8) ?? "?")
        if refusal.code != .notShared, !unreadablePayload {
            try? node.audit(
                .peerRefused, actor: .system("peer \(peer)"), subject: [.peer: peer, .rule: refusal.code.rawValue])
        }
        if !unreadablePayload {
            logger.warning(
                "refused peer request",
                metadata: [
                    "path": "\(path)", "from": "\(peer)", "code": "\(refusal.code.rawValue)",
                    "reason": "\(refusal.message)",
                ])
        }
        let body = (try? JSONEncoder().encode(refusal)).map(Array.init) ?? []
        var response = Response(
            status: .init(code: refusal.status), body: .init(byteBuffer: ByteBuffer(bytes: body)))
        response.headers[.contentType] = "application/json"
        return response
    }

    private func signed(status: Int, body: [UInt8], to peer: TrustID, nonce: String) -> Response {
        let signature = signing.sign(
            PeerEnvelope.responseSigningBytes(status: status, from: me.ods, to: peer, requestNonce: nonce, body: body))
        var response = Response(status: .init(code: status), body: .init(byteBuffer: ByteBuffer(bytes: body)))
        response.headers[HTTPField.Name(PeerEnvelope.signatureHeader)!] = signature.base64
        response.headers[.contentType] = "application/octet-stream"
        return response
    }
}
