public import TrustMeshModel

/// Two index records with one origin and sequence but different content, both signed with the
/// origin's key: proof that the origin (or a thief holding its key) signed two histories.
///
/// ``held`` is the record this node stored; ``other`` the one that arrived later and contradicts it.
/// Both are kept for good as evidence; while a conflict of an origin is unresolved the node stores
/// none of that origin's new records (``GossipNode``).
public struct IndexConflict: Sendable, Hashable {
    /// The record this node held.
    public var held: IndexRecord
    /// The record that contradicts it.
    public var other: IndexRecord

    /// The trust whose key signed both.
    public var origin: TrustID { held.origin }
    /// The sequence both claim.
    public var sequence: UInt64 { held.sequence }

    /// A conflict. The records must share origin and sequence and differ in content (the caller has
    /// compared them; a mismatch is a programmer error).
    /// - Parameters:
    ///   - held: The record this node held.
    ///   - other: The record that contradicts it.
    public init(held: IndexRecord, other: IndexRecord) {
        precondition(
            held.origin == other.origin && held.sequence == other.sequence,
            "a conflict is two records of one origin and sequence")
        self.held = held
        self.other = other
    }

    /// Whether this is the same pair of records as `other`, in either order (by content).
    public func isSamePair(as conflict: IndexConflict) -> Bool {
        let mine = Set([held.contentHash, other.contentHash])
        return mine == Set([conflict.held.contentHash, conflict.other.contentHash])
    }
}
