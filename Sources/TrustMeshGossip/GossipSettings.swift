/// How hard a node gossips.
///
/// The defaults suit a network of tens to hundreds of trusts: with 3 peers a round, a new record
/// reaches every node in roughly log₃(N) + a few rounds (about 8 to 12 for 150 nodes).
public struct GossipSettings: Sendable, Hashable {
    /// How many random peers a node exchanges with each round.
    public var fanout: Int
    /// The most records in one message (a response, or a push), so one exchange stays small while a
    /// node that was offline for a long time catches up over several rounds.
    public var batchSize: Int
    /// How often the node's gossip service starts a round. ``GossipNode`` itself does not wait:
    /// whoever drives it (the node's service, or a simulation) calls ``GossipNode/runRound()``.
    public var roundInterval: Duration

    /// Creates settings.
    /// - Parameters:
    ///   - fanout: Peers per round; at least 1.
    ///   - batchSize: Records per message; at least 1.
    ///   - roundInterval: Time between rounds.
    public init(fanout: Int = 3, batchSize: Int = 500, roundInterval: Duration = .seconds(1)) {
        self.fanout = max(1, fanout)
        self.batchSize = max(1, batchSize)
        self.roundInterval = roundInterval
    }
}
