package import Foundation
import Synchronization
package import TrustMeshGossip
package import TrustMeshModel

/// When this node last heard from each peer: an authenticated request from it, or a gossip exchange
/// with it that succeeded. For the operator's view ("last contact"); kept in memory only.
package final class PeerContacts: Sendable {
    package init() {}

    private let last = Mutex<[TrustID: Date]>([:])

    package func record(_ peer: TrustID, at time: Date = Date()) {
        last.withLock { $0[peer] = max($0[peer] ?? .distantPast, time) }
    }

    package func lastContact(_ peer: TrustID) -> Date? { last.withLock { $0[peer] } }
}

/// A gossip transport that records each successful exchange as a contact with the peer.
package struct ContactRecordingTransport<Base: GossipTransport>: GossipTransport {
    let base: Base
    let contacts: PeerContacts

    package init(base: Base, contacts: PeerContacts) {
        self.base = base
        self.contacts = contacts
    }

    package func exchange(with peer: TrustID, _ request: GossipRequest) async throws -> GossipResponse {
        let response = try await base.exchange(with: peer, request)
        contacts.record(peer)
        return response
    }
}
