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
        var bytes = Array("TrustMesh/PeerResponse/v1".utf8) + [0]
        for field in ["\(status)", from.code, to.code, requestNonce] { bytes += Array(field.utf8) + [0] }
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

    /// What ``open(_:as:key:topology:nonces:now:)`` found in a valid request.
    public struct Opened: Sendable {
        public var from: Topology.Trust
        public var nonce: String
        public var payload: [UInt8]
    }

    /// Checks a request in the order that costs least for a bad one, and opens its body.
    ///
    /// Nothing the request carries is used until every check has passed.
    /// - Throws: ``PeerRefusal`` with the rule that failed.
    public static func open(
        _ request: Request, as me: TrustID, key: AgreementKey, topology: Topology, nonces: NonceCache,
        notBefore: Date = .distantPast, now: Date = Date()
    ) throws(PeerRefusal) -> Opened {
        func header(_ name: String) throws(PeerRefusal) -> String {
            guard let value = request.headers[name] ?? request.headers[name.lowercased()], !value.isEmpty else {
                throw PeerRefusal(.badEnvelope, "missing header \(name)")
            }
            return value
        }
        let fromText = try header(fromHeader)
        guard let from = try? TrustID(fromText), let peer = topology.trust(from), let verifying = peer.signingKey,
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
        let signatureText = try header(signatureHeader)
        guard let signature = try? Signature(base64: signatureText) else {
            throw PeerRefusal(.badEnvelope, "malformed signature")
        }
        let signed = requestSigningBytes(
            method: request.method, path: request.path, from: from, to: me, timestamp: timestamp, nonce: nonce,
            body: request.body)
        do {
            try verifying.verify(signature, for: signed)
        } catch {
            throw PeerRefusal(.badSignature, "the request's signature does not verify against \(from)'s pinned key")
        }
        // Only a correctly signed request may consume a nonce; otherwise anyone could burn them.
        guard nonces.insert(from: from, nonce: nonce, now: now) else {
            throw PeerRefusal(.replayedRequest, "nonce already seen: a replayed request")
        }
        let payload: [UInt8]
        do {
            payload = try key.openSealed(request.body)
        } catch {
            throw PeerRefusal(.badEnvelope, "the body does not open with this node's key")
        }
        return Opened(from: peer, nonce: nonce, payload: payload)
    }

    /// Verifies a response's signature and opens its body.
    public static func openResponse(
        status: Int, headers: [String: String], body: [UInt8], from peer: Topology.Trust, to me: TrustID,
        requestNonce: String, key: AgreementKey
    ) throws(PeerRefusal) -> [UInt8] {
        guard let text = headers[signatureHeader] ?? headers[signatureHeader.lowercased()],
            let signature = try? Signature(base64: text), let verifying = peer.signingKey
        else {
            throw PeerRefusal(.badEnvelope, "\(peer.ods)'s response is not signed")
        }
        let signed = responseSigningBytes(
            status: status, from: peer.ods, to: me, requestNonce: requestNonce, body: body)
        do {
            try verifying.verify(signature, for: signed)
        } catch {
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
