import Foundation
import Synchronization
import Testing
import TrustMeshCrypto
import TrustMeshGossip
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshPeer
import TrustMeshTesting

/// The peer protocol against real node processes, with the test acting as a peer.
@Suite(.serialized, .timeLimit(.minutes(5))) struct PeerProtocolTests {
    @Test func aClientReadsTheTopologyAfreshForEveryCall() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"], intervalMs: 60_000)
        try await network.start("RKB")
        let rrk = try LocalNode(directory: network.dataDirectory("RRK"))
        let rkbID = try TrustID("RKB")
        // RKB's entry first names an address where nothing listens (a trust that moved).
        var moved = network.topology
        let index = try #require(moved.trusts.firstIndex { $0.ods == rkbID })
        moved.trusts[index].address = "127.0.0.1:\(try FreePorts.allocate(1)[0])"
        let current = Mutex(moved)
        let client = PeerClient(
            me: rrk.configuration.trust, signing: try rrk.signingKey(), agreement: try rrk.agreementKey(),
            topology: { current.withLock { $0 } })
        let payload = Array(try JSONEncoder().encode(GossipRequest(from: rrk.configuration.trust, digest: [:])))
        var failure: (any Error)?
        do {
            _ = try await client.call(rkbID, path: "/peer/v1/gossip", payload: payload)
        } catch { failure = error }
        #expect(failure.flatMap(PeerTransportFailure.init) == .unreachable, "\(String(describing: failure))")
        // The membership changes under the running client: its next call goes to the new address.
        current.withLock { $0 = network.topology }
        let answer = try await client.call(rkbID, path: "/peer/v1/gossip", payload: payload)
        #expect(try JSONDecoder().decode(GossipResponse.self, from: Data(answer)).records.isEmpty)
        try await client.shutdown()
    }
}
