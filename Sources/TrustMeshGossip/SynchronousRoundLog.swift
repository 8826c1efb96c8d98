internal import TrustMeshModel

/// An ``IndexLog`` for simulations in synchronous rounds: while a round is open, appended records are
/// staged, and they are stored (and can be passed on) only when the round closes.
///
/// Without it, nodes that run their rounds one after another would pass a record along a chain of
/// several hops in a single round, and a simulation would report fewer rounds than a network whose
/// nodes all gossip at the same time. With it, in one round a record moves at most one hop along each
/// exchange, as in the synchronous-round model that gossip analyses use (Demers et al., "Epidemic
/// algorithms for replicated database maintenance", PODC 1987; Karp et al., "Randomized rumor
/// spreading", FOCS 2000), so the round counts are an upper bound on what the real network needs.
///
/// The heads do include staged records: a node that received a record from its first peer of the
/// round does not ask its second peer for it again, as a real node, whose exchanges run one after
/// another, would not. So the byte counts are not inflated by the model. Conflicts are evidence, not
/// records: they are kept at once.
actor SynchronousRoundLog: IndexLog {
    /// Where records are stored once their round closes.
    let committed: InMemoryIndexLog
    private var staged: [IndexRecord] = []
    /// While a round is open: the committed heads extended by the staged records.
    private var roundHeads: [TrustID: IndexHead]?

    init(_ committed: InMemoryIndexLog) {
        self.committed = committed
    }

    func digest() async -> [TrustID: UInt64] {
        await heads().mapValues(\.sequence)
    }

    func heads() async -> [TrustID: IndexHead] {
        if let roundHeads { return roundHeads }
        return await committed.heads()
    }

    func records(origin: TrustID, after: UInt64, limit: Int) async -> [IndexRecord] {
        await committed.records(origin: origin, after: after, limit: limit)
    }

    func append(_ records: [IndexRecord]) async {
        guard var heads = roundHeads else {
            await committed.append(records)
            return
        }
        for record in records.sorted(by: { ($0.origin, $0.sequence) < ($1.origin, $1.sequence) })
        where record.sequence == (heads[record.origin]?.sequence ?? 0) + 1 {
            heads[record.origin] = IndexHead(sequence: record.sequence, fingerprint: RecordFingerprint(record))
            staged.append(record)
        }
        roundHeads = heads
    }

    func unresolvedConflicts() async -> [IndexConflict] {
        await committed.unresolvedConflicts()
    }

    func recordConflict(_ conflict: IndexConflict) async -> Bool {
        await committed.recordConflict(conflict)
    }

    /// From now on, appends are staged.
    func openRound() async {
        roundHeads = await committed.heads()
    }

    /// Stores the staged records and stops staging.
    func closeRound() async {
        roundHeads = nil
        let records = staged
        staged = []
        await committed.append(records)
    }
}
