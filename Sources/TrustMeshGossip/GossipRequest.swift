public import TrustMeshModel

/// What a node sends a peer in one gossip exchange: its digest, and any records it knows the peer lacks.
///
/// The first message of an exchange carries no records (the caller does not yet know the peer's
/// digest); the second, sent only when the peer's digest shows it lacks something, pushes those
/// records. JSON form, with the digest as an array sorted by origin so that the bytes are stable:
///
/// ```json
/// {"digest":[{"hash":"q83vEjRWeJASNFZ4kBI0Vg==","origin":"RQ3","sequence":4},
///            {"hash":"3q2+7wAAAAAAAAAAAAAAAA==","origin":"RRK","sequence":12}],"from":"RRK","records":[]}
/// ```
///
/// Each digest entry may carry the ``RecordFingerprint`` of the caller's record at that sequence
/// (``fingerprints``): the peer compares it with its own to find an origin that signed two records
/// with one sequence.
public struct GossipRequest: Sendable, Codable {
    /// The calling trust. The transport must authenticate it (the HTTP transport checks that the
    /// sealed request came from this trust's pinned key); ``GossipNode`` refuses unknown peers.
    public var from: TrustID
    /// For each origin, the highest sequence the caller holds (contiguously).
    public var digest: [TrustID: UInt64]
    /// For origins of ``digest``, the fingerprint of the caller's record at that sequence. An origin
    /// without one is not compared (a node that predates fingerprints sends none).
    public var fingerprints: [TrustID: RecordFingerprint]
    /// Origins the caller holds: it has an unresolved equivocation of theirs and stores none of their
    /// new records until an operator resolves it, so the peer sends it none.
    public var held: Set<TrustID>
    /// Records the caller believes the peer lacks; each is verified by the receiver.
    public var records: [IndexRecord]

    /// Creates a request.
    /// - Parameters:
    ///   - from: The calling trust.
    ///   - digest: The caller's digest.
    ///   - fingerprints: The fingerprints of the caller's records at the digest's sequences.
    ///   - held: Origins the caller holds (of its digest).
    ///   - records: Records pushed to the peer.
    public init(
        from: TrustID, digest: [TrustID: UInt64], fingerprints: [TrustID: RecordFingerprint] = [:],
        held: Set<TrustID> = [], records: [IndexRecord] = []
    ) {
        self.from = from
        self.digest = digest
        self.fingerprints = fingerprints.filter { digest[$0.key] != nil }
        self.held = held.filter { digest[$0] != nil }
        self.records = records
    }

    /// A request carrying a node's heads as its digest.
    /// - Parameters:
    ///   - from: The calling trust.
    ///   - heads: The caller's heads (``IndexLog/heads()``).
    ///   - held: Origins the caller holds.
    ///   - records: Records pushed to the peer.
    public init(
        from: TrustID, heads: [TrustID: IndexHead], held: Set<TrustID> = [], records: [IndexRecord] = []
    ) {
        self.init(
            from: from, digest: heads.mapValues(\.sequence), fingerprints: heads.mapValues(\.fingerprint),
            held: held, records: records)
    }

    private enum CodingKeys: String, CodingKey {
        case from, digest, records
    }

    /// Decodes the JSON form.
    /// - Throws: `DecodingError` if a field is missing or malformed, an origin is listed twice, or a
    ///   fingerprint is not base64 of 16 bytes.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        from = try container.decode(TrustID.self, forKey: .from)
        (digest, fingerprints, held) = try DigestEntry.decodeDigest(from: container, forKey: .digest)
        records = try container.decode([IndexRecord].self, forKey: .records)
    }

    /// Encodes the JSON form, the digest as an array sorted by origin.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(from, forKey: .from)
        try container.encode(DigestEntry.entries(digest, fingerprints, held: held), forKey: .digest)
        try container.encode(records, forKey: .records)
    }
}
