import Foundation
import Synchronization
import Testing
import TrustMeshCrypto
import TrustMeshModel

@testable import TrustMeshPeer

/// A client's sessions: one handshake per peer however many calls need it, reused until shortly
/// before it expires, made again once dropped.
@Suite struct PeerSessionCacheTests {
    @Test func oneHandshakeServesEveryCallerUntilTheSessionIsDroppedOrNearItsExpiry() async throws {
        let cache = PeerSessionCache()
        let peer = try TrustID("RKB")
        let handshakes = Mutex(0)
        let lifetime = Mutex(PeerSessionTable.lifetime)
        let handshake: @Sendable () async throws -> PeerSession = {
            let count = handshakes.withLock { count in
                count += 1
                return count
            }
            return PeerSession(
                id: "s\(count)", peer: peer, sending: SymmetricKey(), receiving: SymmetricKey(),
                expires: Date().addingTimeInterval(lifetime.withLock { $0 }))
        }
        // Twenty callers at once: one handshake.
        let ids = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<20 { group.addTask { try await cache.session(with: peer, handshake: handshake).id } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(ids == ["s1"])
        #expect(handshakes.withLock { $0 } == 1)
        // Reused while it lives; made again once the peer no longer knows it.
        #expect(try await cache.session(with: peer, handshake: handshake).id == "s1")
        cache.drop(peer, id: "s1")
        #expect(try await cache.session(with: peer, handshake: handshake).id == "s2")
        // A session in its last 30 seconds is not used: a new one is made.
        lifetime.withLock { $0 = PeerSessionCache.margin - 1 }
        cache.forget(peer)
        #expect(try await cache.session(with: peer, handshake: handshake).id == "s3")
        #expect(try await cache.session(with: peer, handshake: handshake).id == "s4")
        // A failed handshake is not kept: the next caller tries again.
        struct Down: Error {}
        await #expect(throws: Down.self) { try await cache.session(with: try TrustID("RXX")) { throw Down() } }
        #expect(try await cache.session(with: try TrustID("RXX"), handshake: handshake).id == "s5")
    }
}
