public import TrustMeshModel

/// A peer's answer to a ``GossipRequest``: its digest (whole, or only where it differs from what
/// the caller can infer of it), and the records the caller lacks.
///
/// ``records`` holds at most ``GossipSettings/batchSize`` records; the caller gets the rest in later
/// exchanges. The caller compares the peer's digest with its own to decide what to push back.
/// ``records`` may also hold the responder's record at a sequence the caller holds too, when the
/// caller's fingerprint for it differed (or a record the caller sent contradicted it): the evidence
/// the caller needs to see the equivocation itself. The JSON form is a request's without `from`.
public struct GossipResponse: Sendable, Codable {
    /// For each origin, the highest sequence the peer holds, after storing the request's records:
    /// of every origin when ``isWhole``, else of those where it differs from what the caller can
    /// infer.
    public var digest: [TrustID: UInt64] { fields.digest }
    /// For origins of ``digest``, the fingerprint of the responder's record at that sequence.
    public var fingerprints: [TrustID: RecordFingerprint] { fields.fingerprints }
    /// Whether ``digest`` is the sender's whole digest (a first exchange, or one the peer asked
    /// for) rather than the differences from what the peer can infer of it.
    public var isWhole: Bool { fields.isWhole }
    /// The hash of the responder's whole digest.
    public var hash: DigestHash { fields.hash }
    /// Origins the responder holds: it stores none of their new records until an operator resolves
    /// an equivocation, so the caller pushes it none.
    public var held: Set<TrustID> { fields.held }
    /// Evidence of equivocations first, then records the caller lacks according to its request's
    /// digest, oldest first per origin.
    public var records: [IndexRecord]
    /// The responder could not rebuild the caller's digest from the request (it forgot what it had heard
    /// in a restart, or the two sides' exchanges crossed): the caller sends its whole digest
    /// in a second message, and gets the records it lacks in the answer to that.
    public var resend: Bool

    var fields: DigestFields

    /// Creates a response carrying a whole digest.
    /// - Parameters:
    ///   - digest: The responder's digest.
    ///   - fingerprints: The fingerprints of the responder's records at the digest's sequences.
    ///   - held: Origins the responder holds.
    ///   - records: Records the caller lacks.
    public init(
        digest: [TrustID: UInt64], fingerprints: [TrustID: RecordFingerprint] = [:], held: Set<TrustID> = [],
        records: [IndexRecord] = []
    ) {
        self.init(fields: DigestFields(whole: digest, fingerprints, held: held), records: records)
    }

    /// A response carrying a node's heads as its whole digest.
    /// - Parameters:
    ///   - heads: The responder's heads (``IndexLog/heads()``).
    ///   - held: Origins the responder holds.
    ///   - records: Evidence and records the caller lacks.
    public init(heads: [TrustID: IndexHead], held: Set<TrustID> = [], records: [IndexRecord] = []) {
        self.init(
            digest: heads.mapValues(\.sequence), fingerprints: heads.mapValues(\.fingerprint), held: held,
            records: records)
    }

    init(fields: DigestFields, records: [IndexRecord], resend: Bool = false) {
        self.fields = fields
        self.records = records
        self.resend = resend
    }

    /// Decodes the JSON form.
    /// - Throws: `DecodingError` if neither a digest nor its hash is given, an origin is listed twice, or an entry or the hash is malformed.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: GossipMessageKey.self)
        fields = try DigestFields(from: container)
        records = try container.decodeIfPresent([IndexRecord].self, forKey: .records) ?? []
        resend = try container.decodeIfPresent(Bool.self, forKey: .resend) ?? false
    }

    /// Encodes the JSON form, leaving out empty records, a `false` resend and what the digest's
    /// form lets the receiver infer.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: GossipMessageKey.self)
        try fields.encode(to: &container)
        if !records.isEmpty { try container.encode(records, forKey: .records) }
        if resend { try container.encode(true, forKey: .resend) }
    }
}
