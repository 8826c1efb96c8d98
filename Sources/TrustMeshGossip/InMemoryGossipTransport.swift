internal import Synchronization
public import TrustMeshModel

// JSONEncoder/JSONDecoder only: the lighter FoundationEssentials where the toolchain has it (Linux).
#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// A ``GossipTransport`` that routes exchanges to ``GossipNode``s in the same process, for simulations
/// and tests.
///
/// Every message is encoded to JSON and decoded again on the other side, as it would be on the wire,
/// so simulations exercise the real message format and count its real size. Failures are
/// controllable:
///
/// - ``setDown(_:_:)``: a down node neither calls nor answers; exchanges throw
///   ``GossipError/unreachable(_:)``, like a refused connection.
/// - ``partition(_:)``: only nodes in the same group reach each other until ``heal()``.
/// - ``interceptRecords(sentBy:_:)``: rewrites the records in every message a node sends, to play a
///   malicious or broken relay.
///
/// The transport holds nodes weakly (a node holds its transport), so keep the nodes alive elsewhere.
///
/// ```swift
/// let transport = InMemoryGossipTransport()
/// let node = GossipNode(id: rrk, peers: [rq3], keys: keys, log: InMemoryIndexLog(), transport: transport)
/// transport.register(node)
/// ```
public final class InMemoryGossipTransport: GossipTransport, Sendable {
    /// Traffic counted since creation or the last ``resetStatistics()``.
    public struct Statistics: Sendable, Hashable {
        /// Requests and responses delivered (an exchange is two messages).
        public var messages = 0
        /// JSON bytes of those requests and responses.
        public var bytes = 0
        /// Index records carried in those messages.
        public var records = 0
        /// The most records carried in one message.
        public var largestBatch = 0
        /// Exchanges that failed because a node was down or partitioned away, or not registered.
        public var refused = 0

        /// Zero counts.
        public init() {}
    }

    /// Rewrites the records of a message; see ``interceptRecords(sentBy:_:)``.
    public typealias Interceptor = @Sendable ([IndexRecord]) -> [IndexRecord]

    private struct Registered {
        weak var node: GossipNode?
    }

    private struct State {
        var nodes: [TrustID: Registered] = [:]
        var groupOf: [TrustID: Int]? = nil
        var down: Set<TrustID> = []
        var interceptors: [TrustID: Interceptor] = [:]
        var statistics = Statistics()

        func canReach(_ from: TrustID, _ to: TrustID) -> Bool {
            guard !down.contains(from), !down.contains(to) else { return false }
            guard let groupOf else { return true }
            guard let a = groupOf[from], let b = groupOf[to] else { return false }
            return a == b
        }
    }

    private let state = Mutex(State())

    /// Creates a transport with no nodes, no partition and zero counts.
    public init() {}

    /// Makes `node` reachable at its ``GossipNode/id``, replacing any node registered there.
    /// - Parameter node: The node; held weakly.
    public func register(_ node: GossipNode) {
        state.withLock { $0.nodes[node.id] = Registered(node: node) }
    }

    /// Splits the network: from now on a node reaches only nodes in its own group.
    /// - Parameter groups: Disjoint groups of trusts. A trust in no group reaches nobody.
    public func partition(_ groups: [[TrustID]]) {
        var groupOf: [TrustID: Int] = [:]
        for (index, group) in groups.enumerated() {
            for id in group {
                groupOf[id] = index
            }
        }
        state.withLock { $0.groupOf = groupOf }
    }

    /// Ends any partition: every node reaches every other that is up.
    public func heal() {
        state.withLock { $0.groupOf = nil }
    }

    /// Takes a node down or brings it back up.
    /// - Parameters:
    ///   - node: The trust.
    ///   - isDown: Whether it is down: it can then neither call nor be called.
    public func setDown(_ node: TrustID, _ isDown: Bool) {
        state.withLock {
            if isDown {
                $0.down.insert(node)
            } else {
                $0.down.remove(node)
            }
        }
    }

    /// Whether a node is down.
    /// - Parameter node: The trust.
    public func isDown(_ node: TrustID) -> Bool {
        state.withLock { $0.down.contains(node) }
    }

    /// Rewrites the records of every message `relay` sends (its pushes and its responses), before they
    /// are encoded: to alter, add (forge) or drop records. Pass `nil` to stop.
    /// - Parameters:
    ///   - relay: The sending trust.
    ///   - interceptor: The rewrite, or `nil`.
    public func interceptRecords(sentBy relay: TrustID, _ interceptor: Interceptor?) {
        state.withLock { $0.interceptors[relay] = interceptor }
    }

    /// Traffic counted so far.
    public var statistics: Statistics {
        state.withLock { $0.statistics }
    }

    /// Sets every count back to zero.
    public func resetStatistics() {
        state.withLock { $0.statistics = Statistics() }
    }

    /// Delivers `request` to the registered node `peer` through a JSON round trip and returns its
    /// response the same way.
    /// - Parameters:
    ///   - peer: The trust to call.
    ///   - request: The caller's message; ``GossipRequest/from`` names the caller.
    /// - Throws: ``GossipError/unreachable(_:)`` if either end is down, they are partitioned apart, or
    ///   `peer` is not registered; whatever the peer's ``GossipNode/handle(_:)`` throws; or an encoding
    ///   error.
    public func exchange(with peer: TrustID, _ request: GossipRequest) async throws -> GossipResponse {
        let route = state.withLock { state -> (GossipNode, Interceptor?, Interceptor?)? in
            guard state.canReach(request.from, peer), let node = state.nodes[peer]?.node else {
                state.statistics.refused += 1
                return nil
            }
            return (node, state.interceptors[request.from], state.interceptors[peer])
        }
        guard let (node, interceptRequest, interceptResponse) = route else { throw GossipError.unreachable(peer) }

        var outgoing = request
        if let interceptRequest { outgoing.records = interceptRequest(outgoing.records) }
        let requestJSON = try Self.encoder().encode(outgoing)
        let decoder = JSONDecoder()
        decoder.userInfo[GossipRequest.senderKey] = request.from
        let delivered = try decoder.decode(GossipRequest.self, from: requestJSON)
        count(bytes: requestJSON.count, records: delivered.records.count)

        var response = try await node.handle(delivered)
        if let interceptResponse { response.records = interceptResponse(response.records) }
        let responseJSON = try Self.encoder().encode(response)
        let answered = try JSONDecoder().decode(GossipResponse.self, from: responseJSON)
        count(bytes: responseJSON.count, records: answered.records.count)
        return answered
    }

    private func count(bytes: Int, records: Int) {
        state.withLock {
            $0.statistics.messages += 1
            $0.statistics.bytes += bytes
            $0.statistics.records += records
            $0.statistics.largestBatch = max($0.statistics.largestBatch, records)
        }
    }

    /// Sorted keys, so the same message always has the same size.
    private static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
