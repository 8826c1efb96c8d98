import Foundation
import Synchronization
import TrustMeshGossip
import TrustMeshModel

/// When this node last heard from each peer: an authenticated request from it, or a gossip exchange
/// with it that succeeded. For the operator's view ("last contact"); kept in memory only.
final class PeerContacts: Sendable {
    private let last = Mutex<[TrustID: Date]>([:])

    func record(_ peer: TrustID, at time: Date = Date()) {
        last.withLock { $0[peer] = max($0[peer] ?? .distantPast, time) }
    }

    func lastContact(_ peer: TrustID) -> Date? { last.withLock { $0[peer] } }
}

/// A gossip transport that records each successful exchange as a contact with the peer.
struct ContactRecordingTransport<Base: GossipTransport>: GossipTransport {
    let base: Base
    let contacts: PeerContacts

    func exchange(with peer: TrustID, _ request: GossipRequest) async throws -> GossipResponse {
        let response = try await base.exchange(with: peer, request)
        contacts.record(peer)
        return response
    }
}
