public import TrustMeshModel

/// A peer's answer to a ``GossipRequest``: its digest, and the records the caller lacks.
///
/// ``records`` holds at most ``GossipSettings/batchSize`` records; the caller gets the rest in later
/// exchanges. The caller compares ``digest`` with its own to decide what to push back.
public struct GossipResponse: Sendable, Codable {
    /// For each origin, the highest sequence the peer holds, after storing the request's records.
    public var digest: [TrustID: UInt64]
    /// Records the caller lacks according to its request's digest, oldest first per origin.
    public var records: [IndexRecord]

    /// Creates a response.
    /// - Parameters:
    ///   - digest: The responder's digest.
    ///   - records: Records the caller lacks.
    public init(digest: [TrustID: UInt64], records: [IndexRecord] = []) {
        self.digest = digest
        self.records = records
    }

    private enum CodingKeys: String, CodingKey {
        case digest, records
    }

    /// Decodes the JSON form.
    /// - Throws: `DecodingError` if a field is missing or malformed, or an origin is listed twice.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        digest = try DigestEntry.decodeDigest(from: container, forKey: .digest)
        records = try container.decode([IndexRecord].self, forKey: .records)
    }

    /// Encodes the JSON form, the digest as an array sorted by origin.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(DigestEntry.entries(digest), forKey: .digest)
        try container.encode(records, forKey: .records)
    }
}
