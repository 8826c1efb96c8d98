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

/// The peer listener's door: every route is a POST whose body is sealed to this node and signed by
/// a pinned member. The door checks the envelope's headers (sender pinned, addressed here, fresh,
/// nonce unseen) and the announced length against the route's limit **before reading the body**,
/// then reads at most that limit and checks the signature and opens the body before a handler sees
/// anything. It seals and signs each answer to the asker, and turns every refusal into the closed
/// wire code set (``PeerRefusal``), signed and bound to its request like any answer — logged,
/// counted and audited (aggregated per source) in this one place.
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
    private let signing: SigningKey
    private let agreement: AgreementKey
    private let nonces = NonceCache()
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
    package init(
        node: LocalNode, topology: @escaping @Sendable () -> Topology, contacts: PeerContacts, logger: Logger,
        refused: @escaping @Sendable (PeerRefusal.Code) -> Void
    ) throws {
        self.node = node
        self.topology = topology
        self.me = node.configuration.trust
        self.signing = try node.signingKey()
        self.agreement = try node.agreementKey()
        self.startedAt = Date()
        self.contacts = contacts
        self.logger = logger
        self.refused = refused
    }

    /// The door's routes, one per path in `routes`, behind `middleware` (outermost first).
    package func routes(
        _ routes: [String: Route], middleware: [any MiddlewareProtocol<Request, Response, PeerRequestContext>] = []
    ) -> RouteCollection<PeerRequestContext> {
        let collection = RouteCollection(context: PeerRequestContext.self)
        for layer in middleware { collection.add(middleware: layer) }
        for (path, route) in routes.sorted(by: { $0.key < $1.key }) {
            collection.post(RouterPath(path)) { request, context -> Response in
                await self.answer(request, from: context.remoteAddress, path: path, route: route)
            }
        }
        return collection
    }

    /// Opens a peer request, runs the route's handler on its payload, and seals the answer to the
    /// peer. Every refusal is logged, counted and signed; nothing a refused request carries is used.
    private func answer(_ request: Request, from address: String, path: String, route: Route) async -> Response {
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        var verified: TrustID?
        do {
            // Headers first: a request that fails them is refused before a byte of its body is read.
            let head = try PeerEnvelope.checkHead(
                headers, as: me, topology: topology(), nonces: nonces, notBefore: startedAt)
            let limit = route.maximumBody
            let announced = request.headers[.contentLength].flatMap { Int($0) }
            if let announced, announced > limit {
                throw PeerRefusal(
                    .tooLarge,
                    "\(path) takes request bodies of at most \(limit) bytes (this one announced \(announced))")
            }
            let reserved = announced ?? limit
            guard unverified.reserve(reserved) else {
                throw PeerRefusal(
                    .unavailable, "the node is reading as many unverified request bodies as it allows; retry")
            }
            let opened: PeerEnvelope.Opened
            do {
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
                opened = try PeerEnvelope.open(
                    head, method: "POST", path: path, body: Array(buffer: body), as: me, key: agreement,
                    nonces: nonces)
            }
            verified = opened.from.ods
            contacts.record(opened.from.ods)
            switch try await route.handle(opened.from, opened.payload) {
            case .sealed(let answer):
                let sealed = opened.from.agreementKey!.seal(Array(answer))
                return signed(status: 200, body: sealed, to: opened.from.ods.code, nonce: opened.nonce)
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
    /// audited as `fetchRefused` by the holder; the rest as `peerRefused`, aggregated per source:
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
        if refusal.code != .notShared, !unreadablePayload {
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
        if !unreadablePayload {
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
        let signature = signing.sign(
            PeerEnvelope.responseSigningBytes(
                status: status, from: me, toCode: peer, requestNonce: nonce, body: body))
        var response = Response(status: .init(code: status), body: .init(byteBuffer: ByteBuffer(bytes: body)))
        response.headers[HTTPField.Name(PeerEnvelope.signatureHeader)!] = signature.base64
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
