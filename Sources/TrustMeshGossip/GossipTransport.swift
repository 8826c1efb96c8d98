public import TrustMeshModel

/// Carries one gossip exchange to a peer and brings back its answer.
///
/// The gossip logic depends only on this role, so the same ``GossipNode`` runs over HTTP in the
/// real node and over ``InMemoryGossipTransport`` in a simulation of hundreds of nodes.
/// Implementations authenticate both ends (the request's ``GossipRequest/from`` must be the trust
/// that actually sent it) and seal the bodies; the records inside are still verified end to end.
public protocol GossipTransport: Sendable {
    /// Sends `request` to `peer` and returns the peer's response.
    /// - Parameters:
    ///   - peer: The trust to call.
    ///   - request: The caller's digest and pushed records.
    /// - Returns: The peer's digest and the records the caller lacks.
    /// - Throws: ``GossipError/unreachable(_:)`` when the peer can't be reached, the peer's refusal
    ///   (such as ``GossipError/unknownPeer(_:)``), or a transport or decoding error.
    func exchange(with peer: TrustID, _ request: GossipRequest) async throws -> GossipResponse
}
