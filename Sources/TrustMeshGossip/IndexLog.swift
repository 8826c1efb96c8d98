public import TrustMeshModel

/// A node's store of index records: for each origin, that origin's records 1, 2, 3… without gaps.
///
/// The role the gossip protocol needs from storage. The node implements it over SQLite;
/// ``InMemoryIndexLog`` serves simulations and tests. Records given to ``append(_:)`` have already been
/// verified against their origin's pinned key by ``GossipNode``; a log need not verify again.
///
/// Contiguity is the log's invariant: it never holds sequence *n + 1* of an origin without *1…n*, so
/// ``digest()`` summarises everything held from an origin in one number.
public protocol IndexLog: Sendable {
    /// For each origin with at least one record, the highest sequence held (all lower ones are held
    /// too). Origins with no records are absent.
    /// - Throws: A storage error.
    func digest() async throws -> [TrustID: UInt64]

    /// The records of `origin` with sequences `after + 1`, `after + 2`…, in order, at most `limit`.
    /// - Parameters:
    ///   - origin: The origin.
    ///   - after: The highest sequence the caller already has (0 for none).
    ///   - limit: The most records to return.
    /// - Returns: Up to `limit` records, contiguous from `after + 1`; empty if none are held.
    /// - Throws: A storage error.
    func records(origin: TrustID, after: UInt64, limit: Int) async throws -> [IndexRecord]

    /// Stores verified records, keeping each origin's records contiguous.
    ///
    /// Idempotent: a record whose sequence is already held is ignored (the first record stored under a
    /// sequence stays). A record that would leave a gap (its sequence is beyond held + 1, counting the
    /// records of this call in sequence order) is refused and dropped without error: anti-entropy
    /// offers it again once the gap is filled.
    /// - Parameter records: Verified records, in any order, from any origins.
    /// - Throws: A storage error; then none of `records` is stored.
    func append(_ records: [IndexRecord]) async throws
}
