public import TrustMeshModel

/// A peer's answer to a ``GossipRequest``: its digest, and the records the caller lacks.
///
/// ``records`` holds at most ``GossipSettings/batchSize`` records; the caller gets the rest in later
/// exchanges. The caller compares ``digest`` with its own to decide what to push back. ``records`` may
/// also hold the responder's record at a sequence the caller holds too, when the caller's
/// fingerprint for it differed (or a record the caller sent contradicted it): the evidence the
/// caller needs to see the equivocation itself.
public struct GossipResponse: Sendable, Codable {
    /// For each origin, the highest sequence the peer holds, after storing the request's records.
    public var digest: [TrustID: UInt64]
    /// For origins of ``digest``, the fingerprint of the responder's record at that sequence.
    public var fingerprints: [TrustID: RecordFingerprint]
    /// Origins the responder holds: it stores none of their new records until an operator resolves
    /// an equivocation, so the caller pushes it none.
    public var held: Set<TrustID>
    /// Evidence of equivocations first, then records the caller lacks according to its request's
    /// digest, oldest first per origin.
    public var records: [IndexRecord]

    /// Creates a response.
    /// - Parameters:
    ///   - digest: The responder's digest.
    ///   - fingerprints: The fingerprints of the responder's records at the digest's sequences.
    ///   - held: Origins the responder holds (of its digest).
    ///   - records: Records the caller lacks.
    public init(
        digest: [TrustID: UInt64], fingerprints: [TrustID: RecordFingerprint] = [:], held: Set<TrustID> = [],
        records: [IndexRecord] = []
    ) {
        self.digest = digest
        self.fingerprints = fingerprints.filter { digest[$0.key] != nil }
        self.held = held.filter { digest[$0] != nil }
        self.records = records
    }

    /// A response carrying a node's heads as its digest.
    /// - Parameters:
    ///   - heads: The responder's heads (``IndexLog/heads()``).
    ///   - held: Origins the responder holds.
    ///   - records: Evidence and records the caller lacks.
    public init(heads: [TrustID: IndexHead], held: Set<TrustID> = [], records: [IndexRecord] = []) {
        self.init(
            digest: heads.mapValues(\.sequence), fingerprints: heads.mapValues(\.fingerprint), held: held,
            records: records)
    }

    private enum CodingKeys: String, CodingKey {
        case digest, records
    }

    /// Decodes the JSON form.
    /// - Throws: `DecodingError` if a field is missing or malformed, an origin is listed twice, or a
    ///   fingerprint is not base64 of 16 bytes.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        (digest, fingerprints, held) = try DigestEntry.decodeDigest(from: container, forKey: .digest)
        records = try container.decode([IndexRecord].self, forKey: .records)
    }

    /// Encodes the JSON form, the digest as an array sorted by origin.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(DigestEntry.entries(digest, fingerprints, held: held), forKey: .digest)
        try container.encode(records, forKey: .records)
    }
}
