/// What a node holds of one origin, in one look: the highest sequence (all lower ones are held too)
/// and the fingerprint of the record at it.
///
/// An ``IndexLog`` keeps it as records are stored, so a digest costs one read per origin, not a scan.
public struct IndexHead: Sendable, Hashable {
    /// The highest sequence held.
    public var sequence: UInt64
    /// The fingerprint of the record held at ``sequence``.
    public var fingerprint: RecordFingerprint

    /// A head.
    /// - Parameters:
    ///   - sequence: The highest sequence held.
    ///   - fingerprint: The fingerprint of the record at it.
    public init(sequence: UInt64, fingerprint: RecordFingerprint) {
        self.sequence = sequence
        self.fingerprint = fingerprint
    }
}
