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
    /// Encrypted in the request's session and signed by this node.
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

/// The peer listener's request context: Hummingbird's basics and the address the request came
/// from (the actor of a refusal before the envelope verified).
package struct PeerRequestContext: RequestContext {
    package var coreContext: CoreRequestContextStorage
    /// `ADDRESS` of the connection's far end (no port), or `?`.
    package let remoteAddress: String

    package init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress ?? "?"
    }
}

/// The peer listener's door: every route is a POST whose body is encrypted in a session with this
/// node and signed by a pinned member, and the door itself answers the handshake that makes a
/// session (``PeerEnvelope/handshakePath``; sessions live in memory: ``PeerSessionTable``). The
/// door checks the envelope's headers (protocol version, sender pinned, addressed here, fresh,
/// nonce unseen, session live) and the announced length against the route's limit **before
/// reading the body**, then reads at most that limit and checks the signature and opens the body
/// before a handler sees anything. It seals each answer in the session and signs it, and turns
/// every refusal into the closed wire code set (``PeerRefusal``), signed and bound to its request
/// like any answer — logged, counted and audited (aggregated per source) in this one place.
package struct PeerDoor: Sendable {
    /// Handles one opened request from a pinned peer.
    package typealias Handler = @Sendable (_ from: Topology.Trust, _ payload: [UInt8]) async throws -> PeerAnswer

    /// One peer route: the most body it reads, and what it does with an opened request.
    package struct Route: Sendable {
        /// Largest request body read (sealed bytes), before anything in it is trusted.
        package var maximumBody: Int
        package var handle: Handler

        package init(maximumBody: Int, _ handle: @escaping Handler) {
            self.maximumBody = maximumBody
            self.handle = handle
        }
    }

    private let node: LocalNode
    /// The network's membership, read afresh for every request: it may change while the node runs.
    private let topology: @Sendable () -> Topology
    private let me: TrustID
    /// The key read when the door was made: used only if the node's current key cannot be read.
    private let initialSigning: SigningKey
    private let nonces = NonceCache()
    /// Sessions made by handshakes with this door, in memory only (``PeerSessionTable``).
    private let sessions = PeerSessionTable()
    /// Requests signed before this moment are refused: the nonce cache starts empty.
    private let startedAt: Date
    private let contacts: PeerContacts
    private let logger: Logger
    private let refused: @Sendable (PeerRefusal.Code) -> Void
    /// Bytes of request bodies being read before their signatures verified, on every connection.
    private let unverified = ByteBudget(limit: Self.maximumUnverifiedBytes)

    /// The most body bytes read at once, over all connections, for requests whose signatures have
    /// not verified yet: whatever addresses a sender uses, forged headers that pass every check
    /// made before the body cannot make the node hold more than this.
    package static let maximumUnverifiedBytes = 64 << 20

    /// A door for a fixed topology.
    /// - Parameter refused: told the wire code of every refusal (for the status page and metrics).
    /// - Throws: ``ModelError/topology(_:)`` when this node is not in `topology`; what reading the
    ///   node's keys throws.
    package init(
        node: LocalNode, topology: Topology, contacts: PeerContacts, logger: Logger,
        refused: @escaping @Sendable (PeerRefusal.Code) -> Void
    ) throws {
        guard topology.trust(node.configuration.trust) != nil else {
            throw ModelError.topology("\(node.configuration.trust) is not in this topology")
        }
        try self.init(node: node, topology: { topology }, contacts: contacts, logger: logger, refused: refused)
    }

    /// A door whose membership may change while it runs: `topology` is called for every request,
    /// so a peer added, removed or re-keyed is seen by the next request without a restart. This
    /// node need not be listed in it (a trust still joining): the door checks only that a request
    /// is addressed to this node's ODS code and comes from a trust listed there with a key.
    /// - Parameter refused: told the wire code of every refusal (for the status page and metrics).
    /// - Throws: what reading the node's keys throws.
    /// - Parameter certificates: this node's key certificate, sent with handshake answers (and all
    ///   answers just after a rotation), and where peers' certificates on handshakes go.
    package init(
        node: LocalNode, topology: @escaping @Sendable () -> Topology, contacts: PeerContacts, logger: Logger,
        certificates: PeerCertificates = .none, refused: @escaping @Sendable (PeerRefusal.Code) -> Void
    ) throws {
        self.certificates = certificates
        self.node = node
        self.topology = topology
        self.me = node.configuration.trust
        self.initialSigning = try node.cachedSigningKey()
        self.startedAt = Date()
        self.contacts = contacts
        self.logger = logger
        self.refused = refused
    }

    /// This node's certificate out, peers' certificates in.
    private let certificates: PeerCertificates

    /// The door's routes, one per path in `routes`, and the handshake
    /// (``PeerEnvelope/handshakePath``), behind `middleware` (outermost first).
    package func routes(
        _ routes: [String: Route], middleware: [any MiddlewareProtocol<Request, Response, PeerRequestContext>] = []
    ) -> RouteCollection<PeerRequestContext> {
        let collection = RouteCollection(context: PeerRequestContext.self)
        for layer in middleware { collection.add(middleware: layer) }
        for (path, route) in routes.sorted(by: { $0.key < $1.key }) where path != PeerEnvelope.handshakePath {
            collection.post(RouterPath(path)) { request, context -> Response in
                await self.answer(request, from: context.remoteAddress, path: path, route: route)
            }
        }
        collection.post(RouterPath(PeerEnvelope.handshakePath)) { request, context -> Response in
            await self.handshake(request, from: context.remoteAddress)
        }
        return collection
    }

    /// The node's signing key now: it changes when the node adopts rotated keys
    /// (`LocalNode.cachedSigningKey`), and every answer is signed with the current one.
    private func signing() -> SigningKey { (try? node.cachedSigningKey()) ?? initialSigning }

    /// The request's headers, by canonical name.
    private static func headers(_ request: Request) -> [String: String] {
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        return headers
    }

    /// Reads a body whose headers passed, at most `limit` bytes, counted against the budget for
    /// unverified bodies until `verify` (the signature check, and what it unlocks) returns.
    private func readBody<T>(
        _ request: Request, path: String, limit: Int, verify: ([UInt8]) throws -> T
    ) async throws -> T {
        let announced = request.headers[.contentLength].flatMap { Int($0) }
        if let announced, announced > limit {
            throw PeerRefusal(
                .tooLarge, "\(path) takes request bodies of at most \(limit) bytes (this one announced \(announced))")
        }
        let reserved = announced ?? limit
        guard unverified.reserve(reserved) else {
            throw PeerRefusal(.unavailable, "the node is reading as many unverified request bodies as it allows; retry")
        }
        // Held until the signature verified (or the request failed), not while it is served.
        defer { unverified.release(reserved) }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw PeerRefusal(.tooLarge, "\(path) takes request bodies of at most \(limit) bytes")
        } catch {
            // The connection closed, or went idle past the listener's idle timeout.
            throw PeerRefusal(.badEnvelope, "the request's body did not arrive whole")
        }
        return try verify(Array(buffer: body))
    }

    /// Opens a session with a pinned peer: the handshake's headers checked as any request's (but
    /// naming no session), its 32-byte body read, its signature verified, and a signed answer with
    /// this node's ephemeral key. Refusals go the one way every refusal goes.
    private func handshake(_ request: Request, from address: String) async -> Response {
        let path = PeerEnvelope.handshakePath
        let headers = Self.headers(request)
        var verified: TrustID?
        do {
            // A peer that rotated its keys shows its certificate: taken in (if its root signed it)
            // before the sender's keys are looked up.
            certificates.learn(from: headers)
            let head = try PeerEnvelope.checkHead(
                headers, as: me, topology: topology(), nonces: nonces, sessions: nil, notBefore: startedAt)
            let accepted = try await readBody(request, path: path, limit: AgreementPublicKey.byteCount) { body in
                try PeerEnvelope.acceptHandshake(
                    head, method: "POST", path: path, body: body, as: me, key: signing(), nonces: nonces,
                    sessions: sessions)
            }
            verified = head.from.ods
            contacts.record(head.from.ods)
            var response = Response(
                status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: accepted.body)))
            response.headers[HTTPField.Name(PeerEnvelope.signatureHeader)!] = accepted.signature.base64
            response.headers[HTTPField.Name(PeerEnvelope.protocolHeader)!] = "\(PeerProtocol.version)"
            if let certificate = certificates.headerValue() {
                response.headers[HTTPField.Name(PeerCertificates.header)!] = certificate
            }
            response.headers[.contentType] = "application/json"
            return response
        } catch let refusal as PeerRefusal {
            return self.refusal(refusal, path: path, headers: headers, address: address, verified: verified)
        } catch {
            return self.refusal(
                PeerRefusal(.badEnvelope, "the handshake could not be read"), path: path, headers: headers,
                address: address, verified: verified)
        }
    }

    /// Opens a peer request in its session, runs the route's handler on its payload, and seals the
    /// answer in the same session. Every refusal is logged, counted and signed; nothing a refused
    /// request carries is used.
    private func answer(_ request: Request, from address: String, path: String, route: Route) async -> Response {
        let headers = Self.headers(request)
        var verified: TrustID?
        do {
            // Headers first: a request that fails them is refused before a byte of its body is read.
            let head = try PeerEnvelope.checkHead(
                headers, as: me, topology: topology(), nonces: nonces, sessions: sessions, notBefore: startedAt)
            let opened = try await readBody(request, path: path, limit: route.maximumBody) { body in
                try PeerEnvelope.open(head, method: "POST", path: path, body: body, as: me, nonces: nonces)
            }
            verified = opened.from.ods
            contacts.record(opened.from.ods)
            switch try await route.handle(opened.from, opened.payload) {
            case .sealed(let answer):
                let sealed = PeerEnvelope.answer(Array(answer), to: opened, from: me, key: signing())
                var response = Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: sealed.body)))
                response.headers[HTTPField.Name(PeerEnvelope.signatureHeader)!] = sealed.signature.base64
                response.headers[HTTPField.Name(PeerEnvelope.protocolHeader)!] = "\(PeerProtocol.version)"
                // Just after a rotation, a session made before it may not know this key yet.
                if let certificate = certificates.headerValue(onlyIfRecent: true) {
                    response.headers[HTTPField.Name(PeerCertificates.header)!] = certificate
                }
                response.headers[.contentType] = "application/octet-stream"
                return response
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
                response.headers[HTTPField.Name(PeerEnvelope.protocolHeader)!] = "\(PeerProtocol.version)"
                response.headers[.contentType] = "application/octet-stream"
                return response
            }
        } catch let refusal as PeerRefusal {
            return self.refusal(refusal, path: path, headers: headers, address: address, verified: verified)
        } catch {
            logger.warning("bad peer request", metadata: ["path": "\(path)", "error": "\(error)"])
            // A payload that opened but could not be decoded: counted, not audited (as before the split).
            return self.refusal(
                PeerRefusal(.badEnvelope, "the payload could not be read"), path: path, headers: headers,
                address: address, verified: verified, unreadablePayload: true)
        }
    }

    /// The one place a peer refusal becomes an HTTP answer: counted, audited (policy refusals are
    /// audited as `fetchRefused` by the holder, push refusals as `pushRefused` by the receiver; the rest as `peerRefused`, aggregated per source:
    /// ``LocalNode/auditRefusal(_:source:actor:subject:details:now:)``), logged, and sent as the
    /// wire code and message, signed and bound to the request as a 200 is.
    ///
    /// Before the envelope verified, the actor is `unauthenticated ADDRESS`: what a request's
    /// `TrustMesh-From` claims is not evidence of who sent it.
    private func refusal(
        _ refusal: PeerRefusal, path: String, headers: [String: String], address: String, verified: TrustID?,
        unreadablePayload: Bool = false
    ) -> Response {
        refused(refusal.code)
        let claimed = String(headers[PeerEnvelope.fromHeader.lowercased()]?.prefix(8) ?? "?")
        // An unknown session is the protocol's ordinary "handshake again" (every peer meets it once
        // after this node restarts): counted and logged, not audited as an attack.
        let routine = refusal.code == .unknownSession
        if refusal.code != .notShared, refusal.code != .pushRefused, !unreadablePayload, !routine {
            let actor: Actor = verified.map { .system("peer \($0.code)") } ?? .system("unauthenticated \(address)")
            do {
                try node.auditRefusal(
                    .peerRefused, source: verified?.code ?? address, actor: actor,
                    subject: [.peer: verified?.code ?? address, .rule: refusal.code.rawValue],
                    reason: refusal.code.rawValue)
            } catch {
                logger.error("could not audit a peer refusal", metadata: ["error": "\(error)"])
            }
        }
        if routine {
            logger.info("peer session unknown: it will handshake again", metadata: ["claimedFrom": "\(claimed)"])
        } else if !unreadablePayload {
            logger.warning(
                "refused peer request",
                metadata: [
                    "path": "\(path)", "address": "\(address)", "claimedFrom": "\(claimed)",
                    "code": "\(refusal.code.rawValue)", "reason": "\(refusal.message)",
                ])
        }
        let body = (try? JSONEncoder().encode(refusal)).map(Array.init) ?? []
        // Bound to what the request named (sender, nonce): the requester checks both.
        let to = String(headers[PeerEnvelope.fromHeader.lowercased()]?.prefix(16) ?? "")
        let nonce = String(headers[PeerEnvelope.nonceHeader.lowercased()]?.prefix(64) ?? "")
        var response = signed(status: refusal.status, body: body, to: to, nonce: nonce)
        response.headers[.contentType] = "application/json"
        return response
    }

    private func signed(status: Int, body: [UInt8], to peer: String, nonce: String) -> Response {
        let signature = signing().sign(
            PeerEnvelope.responseSigningBytes(
                status: status, from: me, toCode: peer, requestNonce: nonce, body: body))
        var response = Response(status: .init(code: status), body: .init(byteBuffer: ByteBuffer(bytes: body)))
        response.headers[HTTPField.Name(PeerEnvelope.signatureHeader)!] = signature.base64
        response.headers[HTTPField.Name(PeerEnvelope.protocolHeader)!] = "\(PeerProtocol.version)"
        if let certificate = certificates.headerValue(onlyIfRecent: true) {
            response.headers[HTTPField.Name(PeerCertificates.header)!] = certificate
        }
        response.headers[.contentType] = "application/octet-stream"
        return response
    }
}

/// A count of bytes in use against a limit.
final class ByteBudget: Sendable {
    private let used = Mutex(0)
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Takes `bytes` if they fit; false (nothing taken) if not.
    func reserve(_ bytes: Int) -> Bool {
        used.withLock { used in
            guard bytes <= limit - used else { return false }
            used += bytes
            return true
        }
    }

    func release(_ bytes: Int) { used.withLock { $0 -= bytes } }
}
