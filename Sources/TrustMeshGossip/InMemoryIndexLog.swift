public import TrustMeshModel

/// An ``IndexLog`` in memory, for simulations and tests.
///
/// Records beyond a gap are refused (dropped), as the protocol allows; records already held are
/// ignored. ``refusedRecords`` counts records dropped for a gap, and ``conflictingRecords`` counts
/// records that arrived for a held sequence with different content. The fingerprint of each origin's
/// newest record is kept as it is stored, as the SQLite log keeps it, so ``heads()`` hashes nothing.
/// Equivocations (``recordConflict(_:)``) are kept until ``resolveConflicts(of:)``.
public actor InMemoryIndexLog: IndexLog {
    private var logs: [TrustID: [IndexRecord]] = [:]
    private var tops: [TrustID: RecordFingerprint] = [:]
    private var conflicts: [(conflict: IndexConflict, resolved: Bool)] = []

    /// Records dropped because they would have left a gap.
    public private(set) var refusedRecords = 0

    /// Records ignored because a different record with the same origin and sequence was held.
    public private(set) var conflictingRecords = 0

    /// The most unresolved conflicts kept per origin; more are not recorded until some are resolved
    /// (the origin is held anyway, and a thief could otherwise sign new variants without end).
    public static let unresolvedLimit = 16

    /// Creates an empty log.
    public init() {}

    /// For each origin with records, the highest sequence held.
    public func digest() -> [TrustID: UInt64] {
        logs.mapValues { UInt64($0.count) }
    }

    /// For each origin with records, the highest sequence held and its record's fingerprint.
    public func heads() -> [TrustID: IndexHead] {
        var heads: [TrustID: IndexHead] = [:]
        for (origin, log) in logs {
            if let top = tops[origin] { heads[origin] = IndexHead(sequence: UInt64(log.count), fingerprint: top) }
        }
        return heads
    }

    /// The records of `origin` after sequence `after`, at most `limit`.
    /// - Parameters:
    ///   - origin: The origin.
    ///   - after: The highest sequence the caller has.
    ///   - limit: The most records to return.
    public func records(origin: TrustID, after: UInt64, limit: Int) -> [IndexRecord] {
        guard let log = logs[origin], after < UInt64(log.count), limit > 0 else { return [] }
        let start = Int(after)
        return Array(log[start..<min(log.count, start + limit)])
    }

    /// Stores records that extend an origin's log contiguously; see ``IndexLog/append(_:)``.
    /// - Parameter records: Verified records.
    public func append(_ records: [IndexRecord]) {
        let ordered = records.sorted { ($0.origin, $0.sequence) < ($1.origin, $1.sequence) }
        for record in ordered {
            let held = UInt64(logs[record.origin]?.count ?? 0)
            if record.sequence == held + 1 {
                logs[record.origin, default: []].append(record)
                tops[record.origin] = RecordFingerprint(record)
            } else if record.sequence == 0 || record.sequence > held + 1 {
                refusedRecords += 1
            } else if logs[record.origin]?[Int(record.sequence) - 1] != record {
                conflictingRecords += 1
            }
        }
    }

    /// Conflicts recorded and not resolved, oldest first.
    public func unresolvedConflicts() -> [IndexConflict] {
        conflicts.filter { !$0.resolved }.map(\.conflict)
    }

    /// Keeps a conflict once per pair of records; see ``IndexLog/recordConflict(_:)``.
    /// - Parameter conflict: The evidence.
    /// - Returns: Whether it was new (and kept).
    public func recordConflict(_ conflict: IndexConflict) -> Bool {
        guard !conflicts.contains(where: { $0.conflict.isSamePair(as: conflict) }) else { return false }
        let open = conflicts.count { !$0.resolved && $0.conflict.origin == conflict.origin }
        guard open < Self.unresolvedLimit else { return false }
        conflicts.append((conflict, false))
        return true
    }

    /// Every conflict recorded, resolved or not, oldest first.
    public func allConflicts() -> [IndexConflict] {
        conflicts.map(\.conflict)
    }

    /// Resolves every conflict of `origin` (as an operator would): the held records stay, and the
    /// origin's new records are stored again.
    /// - Parameter origin: The trust.
    public func resolveConflicts(of origin: TrustID) {
        for index in conflicts.indices where conflicts[index].conflict.origin == origin {
            conflicts[index].resolved = true
        }
    }

    /// Every record held, ordered by origin, then sequence.
    public func allRecords() -> [IndexRecord] {
        logs.keys.sorted().flatMap { logs[$0] ?? [] }
    }
}
