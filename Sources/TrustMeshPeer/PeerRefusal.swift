public import TrustMeshPolicy

/// Why a node refused a peer's request: the closed set of codes that cross the wire.
///
/// Internal details stay in the refusing node's log; the peer gets the code and a short message
/// that names the rule, never secrets or patient data.
public struct PeerRefusal: Error, CustomStringConvertible, Sendable, Equatable, Codable {
    /// The wire codes. A new code is added at the end; none is ever renamed.
    public enum Code: String, Codable, Sendable, CaseIterable {
        /// The sender's ODS code or key is not pinned in this node's topology.
        case unknownPeer
        /// A signature does not verify against the sender's pinned key.
        case badSignature
        /// The timestamp is outside the accepted window (clock skew or an old request).
        case staleRequest
        /// The nonce was seen before: a replay.
        case replayedRequest
        /// Headers missing or malformed, or the body does not open with this node's key.
        case badEnvelope
        /// The body is larger than this node accepts.
        case tooLarge
        /// No such endpoint.
        case notFound
        /// The node failed; the request may be retried.
        case unavailable
        /// The holder's sharing policy refused the study; ``PeerRefusal/rule`` names the rule.
        case notShared
        /// The transfer id is unknown, expired, or belongs to another requester.
        case unknownTransfer
        /// The holder's own store has lost bytes the study needs: not worth retrying until its
        /// operators restore them.
        case storeDamaged
        /// The request names no protocol version this node speaks (``PeerProtocol``);
        /// ``PeerRefusal/protocolVersion`` says which it does.
        case unsupportedProtocol
        /// The request's session is unknown here: expired, pushed out, or forgotten in a restart.
        /// The requester handshakes again and resends.
        case unknownSession
        /// The receiving trust refused an emergency push; ``PeerRefusal/rule`` names the push rule
        /// (`TrustMeshPolicy.PushRule`). The receiver audits it itself, as `pushRefused`.
        case pushRefused
    }

    public var code: Code
    public var message: String
    /// For ``Code/notShared``: the policy rule that failed (its name on the wire).
    public var rule: ReportedRule?
    /// For ``Code/unsupportedProtocol``: the newest protocol version the refusing node speaks.
    public var protocolVersion: Int?

    /// A refusal with its wire code and a message naming the rule (no secrets, no patient data).
    public init(_ code: Code, _ message: String, rule: ReportedRule? = nil, protocolVersion: Int? = nil) {
        self.code = code
        self.message = message
        self.rule = rule
        self.protocolVersion = protocolVersion
    }

    /// The HTTP status a refusal is sent with.
    public var status: Int {
        switch code {
        case .unknownPeer, .badSignature, .staleRequest, .replayedRequest, .unknownSession: 401
        case .badEnvelope, .unsupportedProtocol: 400
        case .tooLarge: 413
        case .notFound, .unknownTransfer: 404
        case .unavailable: 503
        case .notShared, .pushRefused: 403
        case .storeDamaged: 500
        }
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
