public import Foundation
import Synchronization
public import TrustMeshCrypto
public import TrustMeshModel

/// A session between two nodes: an id and a key for each direction, derived from two ephemeral
/// X25519 keys that are dropped once the keys are made (``PeerEnvelope/handshake(from:key:to:version:now:)``).
///
/// Nothing of it is ever written down: the keys live in ``SymmetricKey``s, wiped when the last
/// copy of the session is dropped (the server's table forgets it at expiry, the client when it
/// expires or the server no longer knows it). A static key stolen later cannot re-derive them.
public struct PeerSession: Sendable, CustomStringConvertible {
    /// The id the server gave the session: 16 random bytes, base64. Not a secret.
    public let id: String
    /// The node at the other end.
    public let peer: TrustID
    /// Seals what this end sends (the client's `tx`, the server's `tx`).
    package let sending: SymmetricKey
    /// Opens what this end receives.
    package let receiving: SymmetricKey
    /// When the server forgets it.
    public let expires: Date

    /// A session from keys already derived.
    package init(id: String, peer: TrustID, sending: SymmetricKey, receiving: SymmetricKey, expires: Date) {
        self.id = id
        self.peer = peer
        self.sending = sending
        self.receiving = receiving
        self.expires = expires
    }

    /// The id and the peer; never the keys.
    public var description: String { "session \(id) with \(peer)" }
}

/// The sessions a node's door holds, in memory only.
///
/// Each lives at most ``lifetime`` from its handshake. A peer holds at most ``maximumPerPeer`` (a
/// new one pushes out the peer's oldest) and the table at most ``maximumTotal`` (a new one pushes
/// out the oldest of all): only a pinned member can make one (its handshake is signed), and none
/// can make the table grow without bound. A restart forgets every session; peers then get
/// ``PeerRefusal/Code/unknownSession`` and handshake again.
public final class PeerSessionTable: Sendable {
    /// How long a session lives from its handshake: 10 minutes.
    public static let lifetime: TimeInterval = 600
    /// Sessions kept per peer: 16.
    public static let maximumPerPeer = 16
    /// Sessions kept in all: 4,096.
    public static let maximumTotal = 4096

    private let sessions = Mutex<[String: PeerSession]>([:])
    private let perPeer: Int
    private let total: Int

    /// An empty table; the limits are parameters for tests only.
    public init(
        maximumPerPeer: Int = PeerSessionTable.maximumPerPeer, maximumTotal: Int = PeerSessionTable.maximumTotal
    ) {
        perPeer = max(1, maximumPerPeer)
        total = max(1, maximumTotal)
    }

    /// Sessions held now (expired ones included until the next ``insert(_:now:)`` purges them).
    public var count: Int { sessions.withLock { $0.count } }

    /// Keeps a new session, first forgetting expired ones and, past a limit, the oldest.
    public func insert(_ session: PeerSession, now: Date = Date()) {
        sessions.withLock { sessions in
            sessions = sessions.filter { $0.value.expires > now }
            let mine = sessions.values.filter { $0.peer == session.peer }
            if mine.count >= perPeer, let oldest = mine.min(by: { $0.expires < $1.expires }) {
                sessions[oldest.id] = nil
            }
            if sessions.count >= total, let oldest = sessions.values.min(by: { $0.expires < $1.expires }) {
                sessions[oldest.id] = nil
            }
            sessions[session.id] = session
        }
    }

    /// The live session `id` of `peer`; nil when unknown, expired (then forgotten) or another
    /// peer's.
    public func session(_ id: String, of peer: TrustID, now: Date = Date()) -> PeerSession? {
        sessions.withLock { sessions in
            guard let session = sessions[id] else { return nil }
            guard session.expires > now else {
                sessions[id] = nil
                return nil
            }
            return session.peer == peer ? session : nil
        }
    }

    /// Forgets every session of `peer` (its key was revoked, or it left the network).
    public func forget(_ peer: TrustID) {
        sessions.withLock { sessions in sessions = sessions.filter { $0.value.peer != peer } }
    }
}

/// The sessions a client holds: one per peer, made by one handshake however many calls need it at
/// once, used until shortly before it expires.
final class PeerSessionCache: Sendable {
    private enum Entry {
        case ready(PeerSession)
        case pending(Task<PeerSession, any Error>, UInt64)
    }

    /// A session is not used in its last 30 seconds: a request sent then would race its expiry.
    static let margin: TimeInterval = 30

    private let entries = Mutex<(entries: [TrustID: Entry], next: UInt64)>(([:], 0))

    /// The session to use with `peer`, made by `handshake` if there is none to use (one handshake
    /// for every caller that needs it meanwhile).
    func session(
        with peer: TrustID, now: Date = Date(), handshake: @escaping @Sendable () async throws -> PeerSession
    ) async throws -> PeerSession {
        enum Lookup {
            case ready(PeerSession)
            case wait(Task<PeerSession, any Error>, UInt64)
        }
        let lookup: Lookup = entries.withLock { state in
            switch state.entries[peer] {
            case .ready(let session) where session.expires.timeIntervalSince(now) > Self.margin:
                return .ready(session)
            case .pending(let task, let token):
                return .wait(task, token)
            default:
                state.next += 1
                let task = Task { try await handshake() }
                state.entries[peer] = .pending(task, state.next)
                return .wait(task, state.next)
            }
        }
        switch lookup {
        case .ready(let session):
            return session
        case .wait(let task, let token):
            do {
                let session = try await task.value
                entries.withLock { state in
                    if case .pending(_, let pending) = state.entries[peer], pending == token {
                        state.entries[peer] = .ready(session)
                    }
                }
                return session
            } catch {
                entries.withLock { state in
                    if case .pending(_, let pending) = state.entries[peer], pending == token {
                        state.entries[peer] = nil
                    }
                }
                throw error
            }
        }
    }

    /// Forgets session `id` with `peer` (the peer no longer knows it).
    func drop(_ peer: TrustID, id: String) {
        entries.withLock { state in
            if case .ready(let session) = state.entries[peer], session.id == id { state.entries[peer] = nil }
        }
    }

    /// Forgets every session with `peer`.
    func forget(_ peer: TrustID) { entries.withLock { $0.entries[peer] = nil } }
}
