package import TrustMeshCrypto
package import TrustMeshModel

// JSONEncoder only: the lighter FoundationEssentials where the toolchain has it (Linux).
#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// Runs a whole gossip network in one process and measures how fast records spread and what it costs.
///
/// N nodes, each with an ``InMemoryIndexLog`` and its own Ed25519 key, are joined by an
/// ``InMemoryGossipTransport`` in a random connected graph in which each node has 8 to 12 neighbours
/// (a ring through all nodes in random order, so the graph is connected, plus random chords): the
/// shape of a national network in which each trust gossips with a few pinned peers rather than all
/// of them. Rounds are synchronous: in each tick every node runs one round, and what a node receives
/// during a tick is stored only when the tick ends, so a record moves at most one hop per exchange per
/// round, as if all nodes gossiped at the same moment. (Run one after another with immediate storage,
/// nodes would relay a record along several hops within one tick and the figures would flatter
/// gossip.) At the start of each of the first ``Configuration/recordCount`` ticks, a random node
/// publishes one new record. The simulation stops when every node holds every record.
///
/// Everything but ``Report/wallTimePerRound`` is deterministic for a given seed.
///
/// ```swift
/// let report = try await GossipSimulation.run(.init(nodeCount: 150))
/// print(report)   // 150 nodes, 20 records: rounds to reach every node median 4, max 5; ...
/// ```
public struct GossipSimulation: Sendable {
    /// What to simulate.
    public struct Configuration: Sendable, Hashable {
        /// How many nodes (trusts).
        public var nodeCount: Int
        /// How many records are published, one per tick, each at a random node.
        public var recordCount: Int
        /// How many neighbours each node has; the whole range is clamped to `nodeCount - 1`, so a small
        /// network is fully connected.
        public var neighbours: ClosedRange<Int>
        /// Fanout and batch size of every node.
        public var settings: GossipSettings
        /// Seeds every random choice: graph, keys, peers, publishers.
        public var seed: UInt64
        /// The simulation gives up after this many ticks.
        public var maxRounds: Int
        /// Records of every trust that every node already holds before the measurement starts (a
        /// network that has been running: every origin is in every digest). 0: empty logs.
        public var history: Int
        /// Ticks run after loading the history and before measuring, so that neighbours have
        /// exchanged once (a first exchange carries whole digests); their traffic is reported
        /// apart, in ``Report/warmUpBytes``. Used only with a history.
        public var warmUpRounds: Int

        /// Creates a configuration.
        /// - Parameters:
        ///   - nodeCount: How many nodes; at least 2.
        ///   - recordCount: How many records to publish; at least 1.
        ///   - neighbours: Neighbours per node.
        ///   - settings: Gossip settings of every node.
        ///   - seed: Seed of every random choice.
        ///   - maxRounds: Ticks before giving up.
        ///   - history: Records of every trust every node holds before measuring.
        ///   - warmUpRounds: Ticks between loading the history and measuring.
        public init(
            nodeCount: Int, recordCount: Int = 20, neighbours: ClosedRange<Int> = 8...12,
            settings: GossipSettings = GossipSettings(), seed: UInt64 = 2026, maxRounds: Int = 200,
            history: Int = 0, warmUpRounds: Int = 30
        ) {
            self.nodeCount = max(2, nodeCount)
            self.recordCount = max(1, recordCount)
            self.neighbours = neighbours
            self.settings = settings
            self.seed = seed
            self.maxRounds = maxRounds
            self.history = max(0, history)
            self.warmUpRounds = max(0, warmUpRounds)
        }
    }

    /// What a simulation measured.
    public struct Report: Sendable, CustomStringConvertible {
        /// Nodes simulated.
        public var nodeCount: Int
        /// Records published.
        public var recordCount: Int
        /// Whether every node came to hold every record within ``Configuration/maxRounds``.
        public var converged: Bool
        /// Ticks run in total.
        public var rounds: Int
        /// For each record that reached every node, the rounds from its publication until then.
        public var roundsToSpread: [Int]
        /// Median of ``roundsToSpread``.
        public var medianRoundsToSpread: Double
        /// Maximum of ``roundsToSpread``.
        public var maxRoundsToSpread: Int
        /// Messages (requests and responses) sent in total.
        public var messages: Int
        /// JSON bytes sent in total, digests included.
        public var bytes: Int
        /// Records carried in those messages. Delivering every record to every other node once takes
        /// `recordCount × (nodeCount - 1)`; anything above that is redundant transfer.
        public var recordsCarried: Int
        /// `bytes / (recordCount × nodeCount)`: what delivering one record to one node cost,
        /// including the digests of every round.
        public var bytesPerRecordPerNode: Double
        /// `bytes / (rounds × nodeCount)`: what one node sends and receives per round.
        public var bytesPerNodePerRound: Double
        /// Records dropped by receivers (none, unless something forged or altered them).
        public var rejectedRecords: Int
        /// Messages whose digest the receiver could not rebuild (it asked for the whole digest).
        public var digestResends: Int
        /// Mean JSON size of the records published (what "twice the record's size" compares with).
        public var recordBytes: Double
        /// JSON bytes sent during the warm-up (first exchanges carry whole digests), not counted in
        /// ``bytes``.
        public var warmUpBytes: Int
        /// Mean wall time of one tick (every node running one round), measured with `ContinuousClock`.
        /// Not deterministic.
        public var wallTimePerRound: Duration

        /// One line with every figure.
        public var description: String {
            "\(nodeCount) nodes, \(recordCount) records: rounds to reach every node median "
                + "\(format(medianRoundsToSpread)), max \(maxRoundsToSpread)"
                + (converged ? "" : " (NOT CONVERGED after \(rounds) rounds)")
                + "; \(format(bytesPerRecordPerNode)) bytes per record per node"
                + " (\(format(bytesPerNodePerRound)) bytes per node per round; \(messages) messages,"
                + " \(bytes) bytes, \(recordsCarried) records carried for \(recordCount * (nodeCount - 1))"
                + " deliveries, in \(rounds) rounds; \(digestResends) digests resent); records of \(format(recordBytes)) bytes"
                + (warmUpBytes > 0 ? "; warm-up \(warmUpBytes) bytes" : "")
                + "; \(format(milliseconds(wallTimePerRound))) ms per round"
        }

        private func milliseconds(_ duration: Duration) -> Double {
            let (seconds, attoseconds) = duration.components
            return Double(seconds) * 1000 + Double(attoseconds) / 1e15
        }

        private func format(_ value: Double) -> String {
            let tenths = (value * 10).rounded()
            return tenths.truncatingRemainder(dividingBy: 10) == 0
                ? String(Int(tenths / 10)) : String(tenths / 10)
        }
    }

    /// Builds a network, publishes records and gossips until every node holds every record.
    /// - Parameter configuration: What to simulate.
    /// - Returns: The figures.
    /// - Throws: Only if the simulation itself is broken (a publish refused, an encoding error).
    public static func run(_ configuration: Configuration) async throws -> Report {
        let simulation = try GossipSimulation(
            nodeCount: configuration.nodeCount, neighbours: configuration.neighbours,
            settings: configuration.settings, seed: configuration.seed)
        var random = SplitMix64(seed: configuration.seed ^ 0x7075_626C_6973_6821)
        var warmUpBytes = 0
        if configuration.history > 0 {
            var history: [IndexRecord] = []
            for origin in simulation.ids {
                for _ in 0..<configuration.history { history.append(try await simulation.publish(at: origin)) }
            }
            for log in simulation.logs { await log.append(history) }
            for _ in 0..<configuration.warmUpRounds { await simulation.tick() }
            warmUpBytes = simulation.transport.statistics.bytes
            simulation.transport.resetStatistics()
        }
        var recordBytes = 0
        let encoder = JSONEncoder()
        var pending: [(record: IndexRecord, publishedAt: Int)] = []
        var spread: [Int] = []
        var published = 0
        var rounds = 0
        var tickTime = Duration.zero
        let clock = ContinuousClock()

        while rounds < configuration.maxRounds, published < configuration.recordCount || !pending.isEmpty {
            if published < configuration.recordCount {
                let origin = simulation.ids[Int(random.next(upperBound: UInt64(simulation.ids.count)))]
                let record = try await simulation.publish(at: origin)
                recordBytes += try encoder.encode(record).count
                pending.append((record, rounds))
                published += 1
            }
            let start = clock.now
            await simulation.tick()
            tickTime += start.duration(to: clock.now)
            rounds += 1

            let digests = try await simulation.digests()
            pending.removeAll { entry in
                let everywhere = digests.allSatisfy { ($0[entry.record.origin] ?? 0) >= entry.record.sequence }
                if everywhere { spread.append(rounds - entry.publishedAt) }
                return everywhere
            }
        }

        let statistics = simulation.transport.statistics
        var rejected = 0
        var resends = 0
        for node in simulation.nodes {
            rejected += await node.rejectedRecords
            resends += await node.digestResends
        }
        let sorted = spread.sorted()
        let median: Double =
            sorted.isEmpty
            ? 0
            : sorted.count.isMultiple(of: 2)
                ? Double(sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2 : Double(sorted[sorted.count / 2])
        let nodeCount = simulation.ids.count
        return Report(
            nodeCount: nodeCount, recordCount: published,
            converged: pending.isEmpty && published == configuration.recordCount, rounds: rounds,
            roundsToSpread: spread, medianRoundsToSpread: median, maxRoundsToSpread: sorted.last ?? 0,
            messages: statistics.messages, bytes: statistics.bytes, recordsCarried: statistics.records,
            bytesPerRecordPerNode: Double(statistics.bytes) / Double(max(1, published * nodeCount)),
            bytesPerNodePerRound: Double(statistics.bytes) / Double(max(1, rounds * nodeCount)),
            rejectedRecords: rejected, digestResends: resends,
            recordBytes: Double(recordBytes) / Double(max(1, published)),
            warmUpBytes: warmUpBytes, wallTimePerRound: rounds == 0 ? .zero : tickTime / rounds)
    }

    // MARK: The network, for tests

    /// The trusts, `N0001`, `N0002`…, in order.
    package let ids: [TrustID]
    /// The nodes, in the order of ``ids``.
    package let nodes: [GossipNode]
    /// Each node's log, in the order of ``ids``: what it has stored (records received during a tick are
    /// stored when the tick ends).
    package let logs: [InMemoryIndexLog]
    private let roundLogs: [SynchronousRoundLog]
    /// Each trust's signing key.
    package let signingKeys: [TrustID: SigningKey]
    /// Each trust's pinned verifying key, as every node pins them.
    package let verifyingKeys: [TrustID: VerifyingKey]
    /// Each trust's neighbours, sorted.
    package let neighbours: [TrustID: [TrustID]]
    /// The transport joining the nodes.
    package let transport: InMemoryGossipTransport
    private let indexOf: [TrustID: Int]

    /// Builds a network of `nodeCount` nodes with empty logs.
    /// - Parameters:
    ///   - nodeCount: How many nodes (at most 99 999).
    ///   - neighbours: Neighbours per node, clamped to `nodeCount - 1`.
    ///   - settings: Gossip settings of every node.
    ///   - seed: Seeds the graph, the keys and each node's generator.
    package init(
        nodeCount: Int, neighbours degree: ClosedRange<Int> = 8...12, settings: GossipSettings = GossipSettings(),
        seed: UInt64 = 2026
    ) throws {
        precondition((2...99_999).contains(nodeCount), "a simulation has 2 to 99 999 nodes")
        var random = SplitMix64(seed: seed)
        let ids = try (1...nodeCount).map { index throws(ModelError) in
            let digits = String(index)
            return try TrustID("N" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits)
        }
        var signingKeys: [TrustID: SigningKey] = [:]
        for id in ids {
            signingKeys[id] = try SigningKey(seed: (0..<4).flatMap { _ in Self.bytes(of: random.next()) })
        }
        let verifyingKeys = signingKeys.mapValues(\.verifyingKey)
        let graph = Self.neighbourGraph(count: nodeCount, degree: degree, random: &random)
        let transport = InMemoryGossipTransport()
        var neighbours: [TrustID: [TrustID]] = [:]
        var nodes: [GossipNode] = []
        var logs: [InMemoryIndexLog] = []
        var roundLogs: [SynchronousRoundLog] = []
        for (index, id) in ids.enumerated() {
            neighbours[id] = graph[index].map { ids[$0] }
            let log = InMemoryIndexLog()
            let roundLog = SynchronousRoundLog(log)
            let node = GossipNode(
                id: id, peers: neighbours[id] ?? [], keys: verifyingKeys, log: roundLog, transport: transport,
                settings: settings, random: SplitMix64(seed: random.next()))
            transport.register(node)
            nodes.append(node)
            logs.append(log)
            roundLogs.append(roundLog)
        }
        self.ids = ids
        self.nodes = nodes
        self.logs = logs
        self.roundLogs = roundLogs
        self.signingKeys = signingKeys
        self.verifyingKeys = verifyingKeys
        self.neighbours = neighbours
        self.transport = transport
        self.indexOf = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
    }

    /// The node of a trust of this network.
    package func node(_ id: TrustID) -> GossipNode {
        nodes[indexOf[id]!]
    }

    /// The log of a trust of this network.
    package func log(_ id: TrustID) -> InMemoryIndexLog {
        logs[indexOf[id]!]
    }

    /// One synchronous round: every node that is up runs one round (one after another, in ``ids``
    /// order), and the records received are stored when all have run.
    package func tick() async {
        for log in roundLogs {
            await log.openRound()
        }
        for node in nodes where !transport.isDown(node.id) {
            await node.runRound()
        }
        for log in roundLogs {
            await log.closeRound()
        }
    }

    /// Every node's digest, in the order of ``ids``.
    package func digests() async throws -> [[TrustID: UInt64]] {
        var result: [[TrustID: UInt64]] = []
        result.reserveCapacity(nodes.count)
        for node in nodes {
            result.append(try await node.digest())
        }
        return result
    }

    /// Whether every node holds exactly the same records.
    package func isConverged() async throws -> Bool {
        let all = try await digests()
        return all.allSatisfy { $0 == all[0] }
    }

    /// Ticks until ``isConverged()``, at most `maxRounds` times.
    /// - Returns: The ticks run (0 if already converged), or `nil` if still not converged.
    package func runUntilConverged(maxRounds: Int) async throws -> Int? {
        for rounds in 0...maxRounds {
            if try await isConverged() { return rounds }
            if rounds < maxRounds { await tick() }
        }
        return nil
    }

    /// Signs and publishes the next record of `origin` at its node: by default a CT study with a
    /// synthetic NHS number and study UID derived from the origin and sequence.
    /// - Parameters:
    ///   - origin: A trust of this network.
    ///   - configure: Edits the draft (kind, NHS number, study UID, sizes…) before signing; leave
    ///     ``IndexRecord/Draft/origin`` and ``IndexRecord/Draft/sequence`` alone.
    /// - Returns: The published record.
    @discardableResult
    package func publish(
        at origin: TrustID, _ configure: (inout IndexRecord.Draft) throws -> Void = { _ in }
    ) async throws -> IndexRecord {
        let node = node(origin)
        let sequence = try await node.nextSequence()
        let index = UInt64(indexOf[origin]! + 1)
        var draft = IndexRecord.Draft(
            origin: origin, sequence: sequence, kind: .study,
            nhsNumber: try Self.syntheticNHSNumber(seed: index << 32 | sequence),
            studyUID: "2.25.\(index).\(sequence)", studyDate: "20260314", modalities: ["CT"], bodyParts: ["CHEST"],
            studyDescription: "Simulated study", accessionNumber: "\(origin.code)\(sequence)", seriesCount: 3,
            instanceCount: 300, sizeBytes: 157_286_400,
            manifestHash: BLAKE2b256.hash(Array("\(origin.code)/\(sequence)".utf8)), issuedAt: "2026-03-14T09:26:53Z")
        try configure(&draft)
        let record = draft.signed(by: signingKeys[origin]!)
        try await node.publish(record)
        return record
    }

    /// A valid NHS number derived from `seed`: nine pseudo-random digits and their modulus-11 check
    /// digit (skipping the prefixes whose check digit would be 10).
    package static func syntheticNHSNumber(seed: UInt64) throws(ModelError) -> NHSNumber {
        var random = SplitMix64(seed: seed)
        while true {
            let digits = (0..<9).map { _ in Int(random.next(upperBound: UInt64(10))) }
            let sum = digits.enumerated().reduce(0) { $0 + $1.element * (10 - $1.offset) }
            let check = (11 - sum % 11) % 11
            if check != 10 {
                return try NHSNumber((digits + [check]).map(String.init).joined())
            }
        }
    }

    /// A random connected undirected graph: a ring through every node in random order, then random
    /// chords until each node has a degree drawn from `degree` (never above its upper bound, though a
    /// few nodes may end below the lower one when no partner is left). Returns each node's sorted
    /// neighbours.
    package static func neighbourGraph(
        count: Int, degree: ClosedRange<Int>, random: inout SplitMix64
    ) -> [[Int]] {
        let most = count - 1
        let low = min(degree.lowerBound, most)
        let high = min(degree.upperBound, most)
        var adjacent = [Set<Int>](repeating: [], count: count)
        func connect(_ a: Int, _ b: Int) {
            adjacent[a].insert(b)
            adjacent[b].insert(a)
        }
        if low == most {
            for a in 0..<count {
                for b in (a + 1)..<count { connect(a, b) }
            }
        } else {
            let ring = Array(0..<count).shuffled(using: &random)
            for (position, node) in ring.enumerated() where count > 2 || position == 0 {
                connect(node, ring[(position + 1) % count])
            }
            let target = (0..<count).map { _ in Int.random(in: low...high, using: &random) }
            for node in Array(0..<count).shuffled(using: &random) {
                var attempts = 0
                while adjacent[node].count < target[node], attempts < 20 * count {
                    attempts += 1
                    let other = Int(random.next(upperBound: UInt64(count)))
                    guard other != node, !adjacent[node].contains(other), adjacent[other].count < high else { continue }
                    connect(node, other)
                }
            }
        }
        return adjacent.map { $0.sorted() }
    }

    private static func bytes(of value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }
}
