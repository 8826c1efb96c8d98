public import Foundation
import Synchronization
public import TrustMeshCrypto
public import TrustMeshModel

/// How a request between nodes is authenticated and kept confidential, independent of HTTP.
///
/// A request carries four headers and a sealed body:
/// - `TrustMesh-From`: the sender's ODS code; `TrustMesh-To`: the receiver's.
/// - `TrustMesh-Timestamp`: seconds since 1970 (UTC), decimal.
/// - `TrustMesh-Nonce`: 16 random bytes, base64.
/// - `TrustMesh-Signature`: the sender's Ed25519 signature (base64) over ``requestSigningBytes``.
/// - body: a libsodium sealed box (`crypto_box_seal`) of the payload to the receiver's X25519 key.
///
/// The response carries `TrustMesh-Signature`, the responder's signature over
/// ``responseSigningBytes`` (which binds it to the request's nonce), and a body sealed to the
/// requester. A relay can neither read nor alter either direction, nor replay a request: the
/// receiver refuses a nonce it has seen, and a timestamp outside the window.
public enum PeerEnvelope {
    public static let fromHeader = "TrustMesh-From"
    public static let toHeader = "TrustMesh-To"
    public static let timestampHeader = "TrustMesh-Timestamp"
    public static let nonceHeader = "TrustMesh-Nonce"
    public static let signatureHeader = "TrustMesh-Signature"
    public static let refusalHeader = "TrustMesh-Refusal"

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

    /// Bytes the sender signs: `TrustMesh/PeerRequest/v1`, NUL, then method, path, from, to,
    /// timestamp and nonce each followed by NUL, then the 32-byte BLAKE2b-256 of the (sealed) body.
    public static func requestSigningBytes(
        method: String, path: String, from: TrustID, to: TrustID, timestamp: String, nonce: String, body: [UInt8]
    ) -> [UInt8] {
        var bytes = Array("TrustMesh/PeerRequest/v1".utf8) + [0]
        for field in [method, path, from.code, to.code, timestamp, nonce] { bytes += Array(field.utf8) + [0] }
        return bytes + BLAKE2b256.hash(body).rawBytes
    }

    /// Bytes the responder signs: `TrustMesh/PeerResponse/v1`, NUL, then status, responder,
    /// requester and the request's nonce each followed by NUL, then BLAKE2b-256 of the body.
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
        var bytes = Array("TrustMesh/PeerResponse/v1".utf8) + [0]
        for field in ["\(status)", from.code, toCode, requestNonce] { bytes += Array(field.utf8) + [0] }
        return bytes + BLAKE2b256.hash(body).rawBytes
    }

    /// Seals and signs a payload for a peer.
    public static func seal(
        method: String, path: String, payload: [UInt8], from: TrustID, key: SigningKey, to peer: Topology.Trust,
        now: Date = Date()
    ) throws -> Request {
        guard let agreement = peer.agreementKey else {
            throw PeerRefusal(.unknownPeer, "\(peer.ods) has no key in the topology")
        }
        let body = agreement.seal(payload)
        let timestamp = String(Int(now.timeIntervalSince1970))
        let nonce = Data(Random.bytes(16)).base64EncodedString()
        let signature = key.sign(
            requestSigningBytes(
                method: method, path: path, from: from, to: peer.ods, timestamp: timestamp, nonce: nonce, body: body)
        )
        return Request(
            method: method, path: path,
            headers: [
                fromHeader: from.code, toHeader: peer.ods.code, timestampHeader: timestamp, nonceHeader: nonce,
                signatureHeader: signature.base64,
            ],
            body: body
        )
    }

    /// What ``open(_:as:key:topology:nonces:notBefore:now:)`` found in a valid request.
    public struct Opened: Sendable {
        public var from: Topology.Trust
        public var nonce: String
        public var payload: [UInt8]
    }

    /// What a request's headers say, checked before its body is read (``checkHead(_:as:topology:nonces:notBefore:now:)``).
    public struct Head: Sendable {
        /// The sender the headers name: pinned, but not yet proven (the signature covers the body).
        public var from: Topology.Trust
        public var timestamp: String
        public var nonce: String
        public var signature: Signature
    }

    /// Checks everything a request's headers alone can show, in the order that costs least for a
    /// bad one: sender pinned, addressed here, timestamp fresh and not before this node started,
    /// nonce and signature well formed, nonce unseen. A request that fails is refused before its
    /// body is read.
    /// - Throws: ``PeerRefusal`` with the rule that failed.
    public static func checkHead(
        _ headers: [String: String], as me: TrustID, topology: Topology, nonces: NonceCache,
        notBefore: Date = .distantPast, now: Date = Date()
    ) throws(PeerRefusal) -> Head {
        func header(_ name: String) throws(PeerRefusal) -> String {
            guard let value = headers[name] ?? headers[name.lowercased()], !value.isEmpty else {
                throw PeerRefusal(.badEnvelope, "missing header \(name)")
            }
            return value
        }
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
        return Head(from: peer, timestamp: timestamp, nonce: nonce, signature: signature)
    }

    /// Checks a request in the order that costs least for a bad one, and opens its body.
    ///
    /// Nothing the request carries is used until every check has passed.
    /// - Throws: ``PeerRefusal`` with the rule that failed.
    public static func open(
        _ request: Request, as me: TrustID, key: AgreementKey, topology: Topology, nonces: NonceCache,
        notBefore: Date = .distantPast, now: Date = Date()
    ) throws(PeerRefusal) -> Opened {
        let head = try checkHead(
            request.headers, as: me, topology: topology, nonces: nonces, notBefore: notBefore, now: now)
        return try open(
            head, method: request.method, path: request.path, body: request.body, as: me, key: key,
            nonces: nonces, now: now)
    }

    /// The second half of ``open(_:as:key:topology:nonces:notBefore:now:)``, once the body is read:
    /// the signature over the headers and body, the nonce consumed, the body opened.
    /// - Throws: ``PeerRefusal`` with the rule that failed.
    public static func open(
        _ head: Head, method: String, path: String, body: [UInt8], as me: TrustID, key: AgreementKey,
        nonces: NonceCache, now: Date = Date()
    ) throws(PeerRefusal) -> Opened {
        let from = head.from.ods
        guard !head.from.acceptedSigningKeys.isEmpty else {
            throw PeerRefusal(.unknownPeer, "\(from) is not a peer pinned in this node's topology")
        }
        let signed = requestSigningBytes(
            method: method, path: path, from: from, to: me, timestamp: head.timestamp, nonce: head.nonce, body: body)
        guard verifies(head.signature, signed, by: head.from) else {
            throw PeerRefusal(.badSignature, "the request's signature does not verify against \(from)'s pinned keys")
        }
        // Only a correctly signed request may consume a nonce; otherwise anyone could burn them.
        guard nonces.insert(from: from, nonce: head.nonce, now: now) else {
            throw PeerRefusal(.replayedRequest, "nonce already seen: a replayed request")
        }
        let payload: [UInt8]
        do {
            payload = try key.openSealed(body)
        } catch {
            throw PeerRefusal(.badEnvelope, "the body does not open with this node's key")
        }
        return Opened(from: head.from, nonce: head.nonce, payload: payload)
    }

    /// The refusal a peer's non-200 answer carries, believed only when the answer is signed by the
    /// peer's pinned key and bound to this request (status, both trusts, the request's nonce and
    /// the body, as for a 200). An unsigned or mis-bound refusal could have been written by anyone
    /// on the path: it becomes ``PeerRefusal/Code/unavailable`` (worth retrying), never the code it
    /// claims.
    public static func openRefusal(
        status: Int, headers: [String: String], body: [UInt8], from peer: Topology.Trust, to me: TrustID,
        requestNonce: String
    ) -> PeerRefusal {
        let untrusted = PeerRefusal(
            .unavailable,
            "\(peer.ods) answered HTTP \(status) without a valid signature bound to this request: not trusted")
        guard let text = headers[signatureHeader] ?? headers[signatureHeader.lowercased()],
            let signature = try? Signature(base64: text)
        else { return untrusted }
        let signed = responseSigningBytes(
            status: status, from: peer.ods, to: me, requestNonce: requestNonce, body: body)
        guard verifies(signature, signed, by: peer) else { return untrusted }
        guard let refusal = try? JSONDecoder().decode(PeerRefusal.self, from: Data(body)), refusal.status == status
        else {
            return PeerRefusal(.unavailable, "\(peer.ods) answered HTTP \(status) with an unreadable refusal")
        }
        return refusal
    }

    /// Whether `signature` over `bytes` verifies against any key `trust` signs with now: its
    /// current key, then the keys it rotated away from whose overlap has not ended
    /// (``Topology/Trust/acceptedSigningKeys``).
    static func verifies(_ signature: Signature, _ bytes: [UInt8], by trust: Topology.Trust) -> Bool {
        trust.acceptedSigningKeys.contains { (try? $0.verify(signature, for: bytes)) != nil }
    }

    /// Verifies a response's signature and opens its body.
    public static func openResponse(
        status: Int, headers: [String: String], body: [UInt8], from peer: Topology.Trust, to me: TrustID,
        requestNonce: String, key: AgreementKey
    ) throws(PeerRefusal) -> [UInt8] {
        guard let text = headers[signatureHeader] ?? headers[signatureHeader.lowercased()],
            let signature = try? Signature(base64: text)
        else {
            throw PeerRefusal(.badEnvelope, "\(peer.ods)'s response is not signed")
        }
        let signed = responseSigningBytes(
            status: status, from: peer.ods, to: me, requestNonce: requestNonce, body: body)
        guard verifies(signature, signed, by: peer) else {
            throw PeerRefusal(.badSignature, "\(peer.ods)'s response signature does not verify")
        }
        do {
            return try key.openSealed(body)
        } catch {
            throw PeerRefusal(.badEnvelope, "\(peer.ods)'s response does not open with this node's key")
        }
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
    /// Nonces do not survive a restart; ``PeerEnvelope/open(_:as:key:topology:nonces:notBefore:now:)``
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
