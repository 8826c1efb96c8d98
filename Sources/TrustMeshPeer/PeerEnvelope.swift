public import Foundation
import Synchronization
public import TrustMeshCrypto
public import TrustMeshModel

/// How requests between nodes are authenticated and kept secret, independent of HTTP (protocol 2).
///
/// **The handshake** (`POST /peer/v1/session`, ``handshake(from:key:to:version:now:)``): the client
/// sends a fresh X25519 public key as the body, with the headers below (no session) signed over
/// ``handshakeSigningBytes(version:method:path:from:to:timestamp:nonce:clientKey:)``. The server
/// makes its own fresh key pair, derives the session keys (`crypto_kx`: BLAKE2b-512 of the X25519
/// result and both public keys, one key per direction), and answers with a session id, its public
/// key and the session's lifetime, signed over ``handshakeAnswerSigningBytes(version:from:to:transcript:body:)``,
/// which covers the whole of the client's signed handshake. Both ephemeral secrets are dropped (and
/// wiped) as soon as the keys are made.
///
/// **A request** in a session carries:
/// - `TrustMesh-Protocol`: the version (``PeerProtocol``);
/// - `TrustMesh-From`, `TrustMesh-To`: the sender's and receiver's ODS codes;
/// - `TrustMesh-Timestamp`: seconds since 1970 (UTC), decimal; `TrustMesh-Nonce`: 16 random bytes, base64;
/// - `TrustMesh-Session`: the session id;
/// - `TrustMesh-Signature`: the sender's Ed25519 signature over ``requestSigningBytes(version:method:path:from:to:timestamp:nonce:session:body:)``;
/// - body: XChaCha20-Poly1305 under the session's client-to-server key, the header fields
///   (``requestAssociatedData(version:method:path:from:to:timestamp:nonce:session:)``) as associated data.
///
/// **An answer** carries `TrustMesh-Protocol` and `TrustMesh-Signature` over ``responseSigningBytes(status:from:to:requestNonce:body:)``
/// (bound to the request's nonce); a 200's body is sealed under the server-to-client key with
/// ``answerAssociatedData(version:from:to:requestNonce:session:)``. A refusal is JSON, signed the same way.
///
/// A relay can neither read nor alter either direction, nor replay a request: the receiver refuses
/// a nonce it has seen and a timestamp outside the window. Whoever later steals either node's
/// static keys cannot open recorded traffic: the session keys came from ephemeral keys that no
/// longer exist anywhere.
public enum PeerEnvelope {
    public static let fromHeader = "TrustMesh-From"
    public static let toHeader = "TrustMesh-To"
    public static let timestampHeader = "TrustMesh-Timestamp"
    public static let nonceHeader = "TrustMesh-Nonce"
    public static let signatureHeader = "TrustMesh-Signature"
    public static let refusalHeader = "TrustMesh-Refusal"
    /// The session a request belongs to (absent in a handshake).
    public static let sessionHeader = "TrustMesh-Session"
    /// The protocol version: ``PeerProtocol/header``.
    public static let protocolHeader = PeerProtocol.header

    /// The handshake's path: a session is made here, and every other route needs one.
    public static let handshakePath = "/peer/v1/session"

    /// How far a request's timestamp may be from the receiver's clock.
    public static let window: TimeInterval = 60

    /// A request's headers and body, as sent.
    public struct Request: Sendable {
        public var method: String
        public var path: String
        public var headers: [String: String]
        public var body: [UInt8]

        public init(method: String, path: String, headers: [String: String], body: [UInt8]) {
            self.method = method
            self.path = path
            self.headers = headers
            self.body = body
        }
    }

    /// `domain` NUL, then each field followed by NUL.
    private static func fields(_ domain: String, _ fields: [String]) -> [UInt8] {
        var bytes = Array(domain.utf8) + [0]
        for field in fields { bytes += Array(field.utf8) + [0] }
        return bytes
    }

    /// A request's associated data: `TrustMesh/PeerRequest/v2`, NUL, then version, method, path,
    /// from, to, timestamp, nonce and session, each followed by NUL.
    public static func requestAssociatedData(
        version: Int, method: String, path: String, from: TrustID, to: TrustID, timestamp: String, nonce: String,
        session: String
    ) -> [UInt8] {
        fields(
            "TrustMesh/PeerRequest/v2", ["\(version)", method, path, from.code, to.code, timestamp, nonce, session])
    }

    /// Bytes the sender of a request signs: its ``requestAssociatedData(version:method:path:from:to:timestamp:nonce:session:)``,
    /// then the 32-byte BLAKE2b-256 of the (encrypted) body.
    public static func requestSigningBytes(
        version: Int, method: String, path: String, from: TrustID, to: TrustID, timestamp: String, nonce: String,
        session: String, body: [UInt8]
    ) -> [UInt8] {
        requestAssociatedData(
            version: version, method: method, path: path, from: from, to: to, timestamp: timestamp, nonce: nonce,
            session: session) + BLAKE2b256.hash(body).rawBytes
    }

    /// Bytes the client signs to open a session: `TrustMesh/PeerHandshake/v2`, NUL, then version,
    /// method, path, from, to, timestamp and nonce each followed by NUL, then its ephemeral X25519
    /// public key (32 bytes).
    public static func handshakeSigningBytes(
        version: Int, method: String, path: String, from: TrustID, to: TrustID, timestamp: String, nonce: String,
        clientKey: [UInt8]
    ) -> [UInt8] {
        fields("TrustMesh/PeerHandshake/v2", ["\(version)", method, path, from.code, to.code, timestamp, nonce])
            + clientKey
    }

    /// Bytes the server signs to accept a session: `TrustMesh/PeerHandshakeAnswer/v2`, NUL, then
    /// version, server and client each followed by NUL, then `transcript` (BLAKE2b-256 of the
    /// client's ``handshakeSigningBytes(version:method:path:from:to:timestamp:nonce:clientKey:)``,
    /// which hold its nonce and ephemeral key) and BLAKE2b-256 of the answer's body (the session
    /// id, the server's ephemeral key, the lifetime).
    public static func handshakeAnswerSigningBytes(
        version: Int, from: TrustID, to: TrustID, transcript: Digest256, body: [UInt8]
    ) -> [UInt8] {
        fields("TrustMesh/PeerHandshakeAnswer/v2", ["\(version)", from.code, to.code]) + transcript.rawBytes
            + BLAKE2b256.hash(body).rawBytes
    }

    /// A 200 answer's associated data: `TrustMesh/PeerAnswer/v2`, NUL, then version, responder,
    /// requester, the request's nonce and the session, each followed by NUL.
    public static func answerAssociatedData(
        version: Int, from: TrustID, to: TrustID, requestNonce: String, session: String
    ) -> [UInt8] {
        fields("TrustMesh/PeerAnswer/v2", ["\(version)", from.code, to.code, requestNonce, session])
    }

    /// Bytes the responder signs: `TrustMesh/PeerResponse/v1`, NUL, then status, responder,
    /// requester and the request's nonce each followed by NUL, then BLAKE2b-256 of the body. The
    /// same in every version, so that a node can tell any other which versions it speaks.
    public static func responseSigningBytes(
        status: Int, from: TrustID, to: TrustID, requestNonce: String, body: [UInt8]
    ) -> [UInt8] {
        responseSigningBytes(status: status, from: from, toCode: to.code, requestNonce: requestNonce, body: body)
    }

    /// ``responseSigningBytes(status:from:to:requestNonce:body:)`` for a requester named only by the
    /// text of its `TrustMesh-From` header (a refusal of a request from no pinned trust).
    public static func responseSigningBytes(
        status: Int, from: TrustID, toCode: String, requestNonce: String, body: [UInt8]
    ) -> [UInt8] {
        fields("TrustMesh/PeerResponse/v1", ["\(status)", from.code, toCode, requestNonce])
            + BLAKE2b256.hash(body).rawBytes
    }

    // MARK: Client

    /// A handshake about to be sent, and the ephemeral key pair only its answer may use.
    public struct Handshake: Sendable {
        /// The request to send.
        public let request: Request
        /// The server it is for.
        public let peer: TrustID
        /// Its nonce, to which the answer is bound.
        public let nonce: String
        let version: Int
        let ephemeral: KeyExchangeKeyPair
        let transcript: Digest256
    }

    /// A signed handshake opening a session with `peer`, from a fresh ephemeral key pair.
    /// - Parameters:
    ///   - version: the protocol version to claim (tests send others).
    public static func handshake(
        from me: TrustID, key: SigningKey, to peer: TrustID, version: Int = PeerProtocol.version, now: Date = Date()
    ) -> Handshake {
        let ephemeral = KeyExchangeKeyPair()
        let timestamp = String(Int(now.timeIntervalSince1970))
        let nonce = Data(Random.bytes(16)).base64EncodedString()
        let signed = handshakeSigningBytes(
            version: version, method: "POST", path: handshakePath, from: me, to: peer, timestamp: timestamp,
            nonce: nonce, clientKey: ephemeral.publicKey)
        let request = Request(
            method: "POST", path: handshakePath,
            headers: [
                protocolHeader: "\(version)", fromHeader: me.code, toHeader: peer.code, timestampHeader: timestamp,
                nonceHeader: nonce, signatureHeader: key.sign(signed).base64,
            ],
            body: ephemeral.publicKey)
        return Handshake(
            request: request, peer: peer, nonce: nonce, version: version, ephemeral: ephemeral,
            transcript: BLAKE2b256.hash(signed))
    }

    /// The session a 200 answer to `handshake` opens, once its signature verifies against one of
    /// `peer`'s accepted keys and over this handshake's transcript.
    /// - Parameter now: when the answer arrived (the session's expiry counts from it).
    /// - Throws: ``PeerRefusal`` ``PeerRefusal/Code/badSignature`` or ``PeerRefusal/Code/badEnvelope``.
    public static func finish(
        _ handshake: Handshake, headers: [String: String], body: [UInt8], from peer: Topology.Trust, to me: TrustID,
        now: Date = Date()
    ) throws(PeerRefusal) -> PeerSession {
        guard let text = header(signatureHeader, in: headers), let signature = try? Signature(base64: text) else {
            throw PeerRefusal(.badEnvelope, "\(peer.ods)'s handshake answer is not signed")
        }
        let signed = handshakeAnswerSigningBytes(
            version: handshake.version, from: peer.ods, to: me, transcript: handshake.transcript, body: body)
        guard verifies(signature, signed, by: peer) else {
            throw PeerRefusal(.badSignature, "\(peer.ods)'s handshake answer does not verify against its pinned keys")
        }
        guard let answer = try? JSONDecoder().decode(HandshakeAnswer.self, from: Data(body)),
            let serverKey = Data(base64Encoded: answer.key), !answer.session.isEmpty, answer.session.utf8.count <= 64,
            (1...PeerSessionTable.lifetime).contains(TimeInterval(answer.lifetime))
        else {
            throw PeerRefusal(.badEnvelope, "\(peer.ods)'s handshake answer could not be read")
        }
        let keys: (rx: SymmetricKey, tx: SymmetricKey)
        do {
            keys = try KeyExchange.clientSessionKeys(client: handshake.ephemeral, serverPublicKey: [UInt8](serverKey))
        } catch {
            throw PeerRefusal(.badEnvelope, "\(peer.ods)'s ephemeral key is not acceptable")
        }
        return PeerSession(
            id: answer.session, peer: peer.ods, sending: keys.tx, receiving: keys.rx,
            expires: now.addingTimeInterval(TimeInterval(answer.lifetime)))
    }

    /// Encrypts a payload in `session` and signs the request.
    /// - Parameter version: the protocol version to claim (tests send others).
    public static func seal(
        method: String, path: String, payload: [UInt8], from: TrustID, key: SigningKey, in session: PeerSession,
        version: Int = PeerProtocol.version, now: Date = Date()
    ) -> Request {
        let timestamp = String(Int(now.timeIntervalSince1970))
        let nonce = Data(Random.bytes(16)).base64EncodedString()
        let associated = requestAssociatedData(
            version: version, method: method, path: path, from: from, to: session.peer, timestamp: timestamp,
            nonce: nonce, session: session.id)
        let body = XChaCha20Poly1305.seal(payload, key: session.sending, associatedData: associated)
        let signature = key.sign(associated + BLAKE2b256.hash(body).rawBytes)
        return Request(
            method: method, path: path,
            headers: [
                protocolHeader: "\(version)", fromHeader: from.code, toHeader: session.peer.code,
                timestampHeader: timestamp, nonceHeader: nonce, sessionHeader: session.id,
                signatureHeader: signature.base64,
            ],
            body: body)
    }

    /// A request to `peer` in a session made up here, which no node knows: its bytes are a real
    /// request's (for sizes: `Scripts/bench`; and for tests), but a node refuses it with
    /// ``PeerRefusal/Code/unknownSession`` once its headers pass. To reach a node, handshake
    /// (``handshake(from:key:to:version:now:)``) and use ``seal(method:path:payload:from:key:in:version:now:)``.
    public static func seal(
        method: String, path: String, payload: [UInt8], from: TrustID, key: SigningKey, to peer: Topology.Trust,
        now: Date = Date()
    ) throws -> Request {
        let session = PeerSession(
            id: Data(Random.bytes(16)).base64EncodedString(), peer: peer.ods, sending: SymmetricKey(),
            receiving: SymmetricKey(), expires: now.addingTimeInterval(PeerSessionTable.lifetime))
        return seal(method: method, path: path, payload: payload, from: from, key: key, in: session, now: now)
    }

    /// The refusal a peer's non-200 answer carries, believed only when the answer is signed by one
    /// of the peer's accepted keys and bound to this request (status, both trusts, the request's
    /// nonce and the body). An unsigned or mis-bound refusal could have been written by anyone on
    /// the path: it becomes ``PeerRefusal/Code/unavailable`` (worth retrying), never the code it
    /// claims.
    public static func openRefusal(
        status: Int, headers: [String: String], body: [UInt8], from peer: Topology.Trust, to me: TrustID,
        requestNonce: String
    ) -> PeerRefusal {
        let untrusted = PeerRefusal(
            .unavailable,
            "\(peer.ods) answered HTTP \(status) without a valid signature bound to this request: not trusted")
        guard let text = header(signatureHeader, in: headers), let signature = try? Signature(base64: text) else {
            return untrusted
        }
        let signed = responseSigningBytes(
            status: status, from: peer.ods, to: me, requestNonce: requestNonce, body: body)
        guard verifies(signature, signed, by: peer) else { return untrusted }
        guard let refusal = try? JSONDecoder().decode(PeerRefusal.self, from: Data(body)), refusal.status == status
        else {
            return PeerRefusal(.unavailable, "\(peer.ods) answered HTTP \(status) with an unreadable refusal")
        }
        return refusal
    }

    /// Verifies a 200 answer's signature and opens its body with `session`'s keys.
    /// - Throws: ``PeerRefusal`` ``PeerRefusal/Code/badEnvelope`` (unsigned, or does not open) or
    ///   ``PeerRefusal/Code/badSignature``.
    public static func openResponse(
        status: Int, headers: [String: String], body: [UInt8], from peer: Topology.Trust, to me: TrustID,
        requestNonce: String, session: PeerSession, version: Int = PeerProtocol.version
    ) throws(PeerRefusal) -> [UInt8] {
        guard let text = header(signatureHeader, in: headers), let signature = try? Signature(base64: text) else {
            throw PeerRefusal(.badEnvelope, "\(peer.ods)'s response is not signed")
        }
        let signed = responseSigningBytes(
            status: status, from: peer.ods, to: me, requestNonce: requestNonce, body: body)
        guard verifies(signature, signed, by: peer) else {
            throw PeerRefusal(.badSignature, "\(peer.ods)'s response signature does not verify")
        }
        do {
            return try XChaCha20Poly1305.open(
                body, key: session.receiving,
                associatedData: answerAssociatedData(
                    version: version, from: peer.ods, to: me, requestNonce: requestNonce, session: session.id))
        } catch {
            throw PeerRefusal(.badEnvelope, "\(peer.ods)'s response does not open in this session")
        }
    }

    // MARK: Server

    /// What ``open(_:method:path:body:as:nonces:now:)`` found in a valid request.
    public struct Opened: Sendable {
        public var from: Topology.Trust
        public var nonce: String
        public var payload: [UInt8]
        /// The session it came in; the answer is sealed in it.
        public var session: PeerSession
        /// The version it speaks.
        public var version: Int
    }

    /// What a request's headers say, checked before its body is read (``checkHead(_:as:topology:nonces:sessions:notBefore:now:)``).
    public struct Head: Sendable {
        /// The sender the headers name: pinned, but not yet proven (the signature covers the body).
        public var from: Topology.Trust
        public var version: Int
        public var timestamp: String
        public var nonce: String
        public var signature: Signature
        /// The live session the request names; nil for a handshake.
        public var session: PeerSession?
    }

    /// The value of header `name` (as sent, or lower-cased as HTTP/2 and Hummingbird give it).
    static func header(_ name: String, in headers: [String: String]) -> String? {
        headers[name] ?? headers[name.lowercased()]
    }

    /// Checks everything a request's headers alone can show, in the order that costs least for a
    /// bad one: a protocol version this node speaks, sender pinned, addressed here, timestamp fresh
    /// and not before this node started, nonce and signature well formed, nonce unseen, and (unless
    /// `sessions` is nil: a handshake) a live session of the sender's. A request that fails is
    /// refused before its body is read.
    /// - Throws: ``PeerRefusal`` with the rule that failed.
    public static func checkHead(
        _ headers: [String: String], as me: TrustID, topology: Topology, nonces: NonceCache,
        sessions: PeerSessionTable?, notBefore: Date = .distantPast, now: Date = Date()
    ) throws(PeerRefusal) -> Head {
        func header(_ name: String) throws(PeerRefusal) -> String {
            guard let value = Self.header(name, in: headers), !value.isEmpty else {
                throw PeerRefusal(.badEnvelope, "missing header \(name)")
            }
            return value
        }
        // First: what every other header means depends on the version.
        let version = try PeerProtocol.check(Self.header(protocolHeader, in: headers))
        let fromText = try header(fromHeader)
        guard let from = try? TrustID(fromText), let peer = topology.trust(from), !peer.acceptedSigningKeys.isEmpty,
            from != me
        else {
            throw PeerRefusal(.unknownPeer, "\(fromText.prefix(8)) is not a peer pinned in this node's topology")
        }
        guard (try header(toHeader)) == me.code else {
            throw PeerRefusal(.badEnvelope, "the request is addressed to another trust")
        }
        let timestamp = try header(timestampHeader)
        guard let seconds = Int(timestamp) else { throw PeerRefusal(.badEnvelope, "malformed timestamp") }
        let skew = now.timeIntervalSince1970 - Double(seconds)
        guard abs(skew) <= window else {
            throw PeerRefusal(
                .staleRequest, "timestamp is \(Int(skew)) s from this node's clock (window ±\(Int(window)) s)")
        }
        // Nonces live in memory: a request signed before this process started could be a replay of
        // one the previous process already accepted, so it is refused (the sender retries).
        guard Double(seconds) >= notBefore.timeIntervalSince1970.rounded(.down) else {
            throw PeerRefusal(.staleRequest, "the request was signed before this node started; send it again")
        }
        let nonce = try header(nonceHeader)
        guard let nonceBytes = Data(base64Encoded: nonce), nonceBytes.count == 16 else {
            throw PeerRefusal(.badEnvelope, "malformed nonce")
        }
        guard let signature = try? Signature(base64: try header(signatureHeader)) else {
            throw PeerRefusal(.badEnvelope, "malformed signature")
        }
        // Looked up only: a nonce is consumed once the signature over the body verifies.
        guard !nonces.contains(from: from, nonce: nonce) else {
            throw PeerRefusal(.replayedRequest, "nonce already seen: a replayed request")
        }
        var session: PeerSession?
        if let sessions {
            let id = try header(sessionHeader)
            guard id.utf8.count <= 64 else { throw PeerRefusal(.badEnvelope, "malformed session id") }
            // Unknown, expired (or forgotten in a restart) and another peer's look the same.
            guard let live = sessions.session(id, of: from, now: now) else {
                throw PeerRefusal(
                    .unknownSession, "no such session with this node (expired or forgotten); handshake again")
            }
            session = live
        }
        return Head(
            from: peer, version: version, timestamp: timestamp, nonce: nonce, signature: signature, session: session)
    }

    /// Checks a request in the order that costs least for a bad one, and opens its body: the
    /// headers (``checkHead(_:as:topology:nonces:sessions:notBefore:now:)``), then the rest.
    /// - Throws: ``PeerRefusal`` with the rule that failed.
    public static func open(
        _ request: Request, as me: TrustID, topology: Topology, nonces: NonceCache, sessions: PeerSessionTable,
        notBefore: Date = .distantPast, now: Date = Date()
    ) throws(PeerRefusal) -> Opened {
        let head = try checkHead(
            request.headers, as: me, topology: topology, nonces: nonces, sessions: sessions, notBefore: notBefore,
            now: now)
        return try open(
            head, method: request.method, path: request.path, body: request.body, as: me, nonces: nonces, now: now)
    }

    /// The second half of ``open(_:as:topology:nonces:sessions:notBefore:now:)``, once the body is
    /// read: the signature over the headers and body, the nonce consumed, the body opened in the
    /// session.
    /// - Throws: ``PeerRefusal`` with the rule that failed.
    public static func open(
        _ head: Head, method: String, path: String, body: [UInt8], as me: TrustID, nonces: NonceCache,
        now: Date = Date()
    ) throws(PeerRefusal) -> Opened {
        let from = head.from.ods
        guard let session = head.session else {
            throw PeerRefusal(.unknownSession, "the request names no session; handshake first")
        }
        let associated = requestAssociatedData(
            version: head.version, method: method, path: path, from: from, to: me, timestamp: head.timestamp,
            nonce: head.nonce, session: session.id)
        guard verifies(head.signature, associated + BLAKE2b256.hash(body).rawBytes, by: head.from) else {
            throw PeerRefusal(.badSignature, "the request's signature does not verify against \(from)'s pinned keys")
        }
        // Only a correctly signed request may consume a nonce; otherwise anyone could burn them.
        guard nonces.insert(from: from, nonce: head.nonce, now: now) else {
            throw PeerRefusal(.replayedRequest, "nonce already seen: a replayed request")
        }
        let payload: [UInt8]
        do {
            payload = try XChaCha20Poly1305.open(body, key: session.receiving, associatedData: associated)
        } catch {
            throw PeerRefusal(.badEnvelope, "the body does not open in its session")
        }
        return Opened(from: head.from, nonce: head.nonce, payload: payload, session: session, version: head.version)
    }

    /// A 200 answer to `opened`: the payload sealed in its session, and the signature.
    public static func answer(_ payload: [UInt8], to opened: Opened, from me: TrustID, key: SigningKey) -> (
        body: [UInt8], signature: Signature
    ) {
        let body = XChaCha20Poly1305.seal(
            payload, key: opened.session.sending,
            associatedData: answerAssociatedData(
                version: opened.version, from: me, to: opened.from.ods, requestNonce: opened.nonce,
                session: opened.session.id))
        let signature = key.sign(
            responseSigningBytes(status: 200, from: me, to: opened.from.ods, requestNonce: opened.nonce, body: body))
        return (body, signature)
    }

    /// Verifies a handshake whose headers passed ``checkHead(_:as:topology:nonces:sessions:notBefore:now:)``
    /// (with no session table), consumes its nonce, and makes the session: a fresh server key pair,
    /// the keys derived and kept in `sessions`, the key pair dropped.
    /// - Returns: the session, and the signed answer's body and signature.
    /// - Throws: ``PeerRefusal`` ``PeerRefusal/Code/badSignature``, ``PeerRefusal/Code/replayedRequest``
    ///   or ``PeerRefusal/Code/badEnvelope`` (not a usable X25519 key).
    public static func acceptHandshake(
        _ head: Head, method: String, path: String, body: [UInt8], as me: TrustID, key: SigningKey,
        nonces: NonceCache, sessions: PeerSessionTable, now: Date = Date()
    ) throws(PeerRefusal) -> (session: PeerSession, body: [UInt8], signature: Signature) {
        let from = head.from.ods
        let signed = handshakeSigningBytes(
            version: head.version, method: method, path: path, from: from, to: me, timestamp: head.timestamp,
            nonce: head.nonce, clientKey: body)
        guard verifies(head.signature, signed, by: head.from) else {
            throw PeerRefusal(.badSignature, "the handshake's signature does not verify against \(from)'s pinned keys")
        }
        guard nonces.insert(from: from, nonce: head.nonce, now: now) else {
            throw PeerRefusal(.replayedRequest, "nonce already seen: a replayed request")
        }
        let ephemeral = KeyExchangeKeyPair()
        let keys: (rx: SymmetricKey, tx: SymmetricKey)
        do {
            keys = try KeyExchange.serverSessionKeys(server: ephemeral, clientPublicKey: body)
        } catch {
            throw PeerRefusal(.badEnvelope, "the handshake's key is not an acceptable X25519 public key")
        }
        let session = PeerSession(
            id: Data(Random.bytes(16)).base64EncodedString(), peer: from, sending: keys.tx, receiving: keys.rx,
            expires: now.addingTimeInterval(PeerSessionTable.lifetime))
        sessions.insert(session, now: now)
        let answer = HandshakeAnswer(
            session: session.id, key: Data(ephemeral.publicKey).base64EncodedString(),
            lifetime: Int(PeerSessionTable.lifetime))
        let answerBody = (try? JSONEncoder().encode(answer)).map(Array.init) ?? []
        let signature = key.sign(
            handshakeAnswerSigningBytes(
                version: head.version, from: me, to: from, transcript: BLAKE2b256.hash(signed), body: answerBody))
        return (session, answerBody, signature)
    }

    /// A handshake answer's body (JSON).
    struct HandshakeAnswer: Codable {
        /// The session id.
        var session: String
        /// The server's ephemeral X25519 public key, base64.
        var key: String
        /// Seconds the server keeps the session.
        var lifetime: Int
    }

    /// Whether `signature` over `bytes` verifies against any key `trust` signs with now: its
    /// current key, then the keys it rotated away from whose overlap has not ended
    /// (``Topology/Trust/acceptedSigningKeys``).
    static func verifies(_ signature: Signature, _ bytes: [UInt8], by trust: Topology.Trust) -> Bool {
        trust.acceptedSigningKeys.contains { (try? $0.verify(signature, for: bytes)) != nil }
    }
}

/// Nonces seen within the freshness window, per sender; older ones are forgotten, as their
/// requests would be refused as stale anyway.
public final class NonceCache: Sendable {
    private struct State {
        var seen: [String: Date] = [:]
        var lastPurge = Date.distantPast
    }
    private let state = Mutex(State())
    /// Nonces do not survive a restart; ``PeerEnvelope/checkHead(_:as:topology:nonces:sessions:notBefore:now:)``
    /// refuses requests signed before the node started, which stops replays across one.
    public init() {}

    /// Whether a nonce from `from` was recorded (and not yet forgotten); records nothing.
    public func contains(from: TrustID, nonce: String) -> Bool {
        state.withLock { $0.seen[from.code + "/" + nonce] != nil }
    }

    /// Records a nonce; false if it was already recorded.
    public func insert(from: TrustID, nonce: String, now: Date) -> Bool {
        state.withLock { state in
            if now.timeIntervalSince(state.lastPurge) > PeerEnvelope.window {
                state.seen = state.seen.filter { now.timeIntervalSince($0.value) <= 2 * PeerEnvelope.window }
                state.lastPurge = now
            }
            return state.seen.updateValue(now, forKey: from.code + "/" + nonce) == nil
        }
    }
}
