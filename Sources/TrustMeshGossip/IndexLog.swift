public import TrustMeshModel

/// A node's store of index records: for each origin, that origin's records 1, 2, 3… without gaps.
///
/// The role the gossip protocol needs from storage. The node implements it over SQLite;
/// ``InMemoryIndexLog`` serves simulations and tests. Records given to ``append(_:)`` have already been
/// verified against their origin's pinned key by ``GossipNode``; a log need not verify again.
///
/// Contiguity is the log's invariant: it never holds sequence *n + 1* of an origin without *1…n*, so
/// ``heads()`` summarises everything held from an origin in one number and one fingerprint.
///
/// The log also keeps the evidence of equivocations (``IndexConflict``): ``GossipNode`` finds them,
/// the log stores them for good, and an operator resolves them outside gossip; while one of an
/// origin is unresolved the node stores none of that origin's new records.
public protocol IndexLog: Sendable {
    /// For each origin with at least one record, the highest sequence held (all lower ones are held
    /// too). Origins with no records are absent: ``heads()`` without the fingerprints.
    /// - Throws: A storage error.
    func digest() async throws -> [TrustID: UInt64]

    /// For each origin with at least one record, the highest sequence held and the fingerprint of
    /// the record at it. Kept as records are stored (one read per origin, never a scan of the log).
    /// - Throws: A storage error.
    func heads() async throws -> [TrustID: IndexHead]

    /// The equivocations found and not yet resolved by an operator, oldest first. While one names
    /// an origin, ``GossipNode`` stores none of that origin's new records (but its own).
    /// - Throws: A storage error.
    func unresolvedConflicts() async throws -> [IndexConflict]

    /// Keeps the evidence of an equivocation for good, once per pair of records (in either order).
    /// - Parameter conflict: The record held and the one that contradicts it, both verified.
    /// - Returns: `true` if it is new; `false` if the same pair was recorded before (resolved or
    ///   not), or the log keeps no more evidence of that origin until an operator resolves what it has.
    /// - Throws: A storage error.
    func recordConflict(_ conflict: IndexConflict) async throws -> Bool

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
