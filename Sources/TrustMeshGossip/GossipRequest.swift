public import TrustMeshModel

/// What a node sends a peer in one gossip exchange: its digest, and any records it knows the peer lacks.
///
/// The first message of an exchange carries no records (the caller does not yet know the peer's
/// digest); the second, sent only when the peer's digest shows it lacks something, pushes those
/// records. JSON form, with the digest as an array sorted by origin so that the bytes are stable:
///
/// ```json
/// {"digest":[{"origin":"RQ3","sequence":4},{"origin":"RRK","sequence":12}],"from":"RRK","records":[]}
/// ```
public struct GossipRequest: Sendable, Codable {
    /// The calling trust. The transport must authenticate it (the HTTP transport checks that the
    /// sealed request came from this trust's pinned key); ``GossipNode`` refuses unknown peers.
    public var from: TrustID
    /// For each origin, the highest sequence the caller holds (contiguously).
    public var digest: [TrustID: UInt64]
    /// Records the caller believes the peer lacks; each is verified by the receiver.
    public var records: [IndexRecord]

    /// Creates a request.
    /// - Parameters:
    ///   - from: The calling trust.
    ///   - digest: The caller's digest.
    ///   - records: Records pushed to the peer.
    public init(from: TrustID, digest: [TrustID: UInt64], records: [IndexRecord] = []) {
        self.from = from
        self.digest = digest
        self.records = records
    }

    private enum CodingKeys: String, CodingKey {
        case from, digest, records
    }

    /// Decodes the JSON form.
    /// - Throws: `DecodingError` if a field is missing or malformed, or an origin is listed twice.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        from = try container.decode(TrustID.self, forKey: .from)
        digest = try DigestEntry.decodeDigest(from: container, forKey: .digest)
        records = try container.decode([IndexRecord].self, forKey: .records)
    }

    /// Encodes the JSON form, the digest as an array sorted by origin.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(from, forKey: .from)
        try container.encode(DigestEntry.entries(digest), forKey: .digest)
        try container.encode(records, forKey: .records)
    }
}
