public import TrustMeshModel

/// The one error type of `TrustMeshGossip`.
///
/// A struct with a private code so that adding a case breaks no caller. Compare with `==` against the
/// static members, or use them as patterns in `catch`:
///
/// ```swift
/// do {
///     _ = try await node.handle(request)
/// } catch GossipError.unknownPeer(request.from) {
///     // refuse: not a pinned neighbour
/// }
/// ```
///
/// Of these, only ``unknownPeer(_:)`` is a refusal sent back to a peer; the others stay local.
/// Descriptions name trusts (public ODS codes) and sequence numbers, never patient data.
public struct GossipError: Error, CustomStringConvertible, Sendable, Equatable {
    private enum Code: Sendable, Equatable {
        case unknownPeer(TrustID)
        case unreachable(TrustID)
        case notOwnRecord(origin: TrustID, node: TrustID)
        case unpinnedOrigin(TrustID)
        case sequence(expected: UInt64, actual: UInt64)
    }

    private let code: Code

    private init(_ code: Code) {
        self.code = code
    }

    /// A request came from a trust that is not one of this node's pinned peers; it is refused whole.
    /// - Parameter peer: The trust the request claimed to come from.
    public static func unknownPeer(_ peer: TrustID) -> GossipError { GossipError(.unknownPeer(peer)) }

    /// The peer could not be reached (down, partitioned, or not listening): like a refused connection.
    /// - Parameter peer: The peer that was called.
    public static func unreachable(_ peer: TrustID) -> GossipError { GossipError(.unreachable(peer)) }

    /// A node was asked to publish a record whose origin is another trust.
    /// - Parameters:
    ///   - origin: The record's origin.
    ///   - node: The publishing node.
    public static func notOwnRecord(origin: TrustID, node: TrustID) -> GossipError {
        GossipError(.notOwnRecord(origin: origin, node: node))
    }

    /// The node has no pinned key for this trust, so it cannot verify that trust's records.
    /// - Parameter origin: The trust.
    public static func unpinnedOrigin(_ origin: TrustID) -> GossipError { GossipError(.unpinnedOrigin(origin)) }

    /// A published record's sequence number is not the next one of the node's log.
    /// - Parameters:
    ///   - expected: The next sequence number (held + 1).
    ///   - actual: The record's sequence number.
    public static func sequence(expected: UInt64, actual: UInt64) -> GossipError {
        GossipError(.sequence(expected: expected, actual: actual))
    }

    /// A human-readable explanation.
    public var description: String {
        switch code {
        case .unknownPeer(let peer):
            "\(peer) is not a pinned peer of this node"
        case .unreachable(let peer):
            "\(peer) is unreachable"
        case .notOwnRecord(let origin, let node):
            "node \(node) cannot publish a record of \(origin): only the origin signs its records"
        case .unpinnedOrigin(let origin):
            "no pinned key for \(origin)"
        case .sequence(let expected, let actual):
            "record sequence \(actual) is not the next one (\(expected))"
        }
    }

    /// Lets `catch GossipError.unreachable(peer)` match when the thrown error is untyped (`any Error`).
    public static func ~= (pattern: GossipError, value: any Error) -> Bool {
        (value as? GossipError) == pattern
    }
}
