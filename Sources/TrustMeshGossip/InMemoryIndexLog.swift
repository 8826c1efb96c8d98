public import TrustMeshModel

/// An ``IndexLog`` in memory, for simulations and tests.
///
/// Records beyond a gap are refused (dropped), as the protocol allows; records already held are
/// ignored. ``refusedRecords`` counts records dropped for a gap, and ``conflictingRecords`` counts
/// records that arrived for a held sequence with different content: a validly signed second record
/// for the same sequence means the origin signed two histories, which deserves an alert.
public actor InMemoryIndexLog: IndexLog {
    private var logs: [TrustID: [IndexRecord]] = [:]

    /// Records dropped because they would have left a gap.
    public private(set) var refusedRecords = 0

    /// Records ignored because a different record with the same origin and sequence was held.
    public private(set) var conflictingRecords = 0

    /// Creates an empty log.
    public init() {}

    /// For each origin with records, the highest sequence held.
    public func digest() -> [TrustID: UInt64] {
        logs.mapValues { UInt64($0.count) }
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
            } else if record.sequence == 0 || record.sequence > held + 1 {
                refusedRecords += 1
            } else if logs[record.origin]?[Int(record.sequence) - 1] != record {
                conflictingRecords += 1
            }
        }
    }

    /// Every record held, ordered by origin, then sequence.
    public func allRecords() -> [IndexRecord] {
        logs.keys.sorted().flatMap { logs[$0] ?? [] }
    }
}
