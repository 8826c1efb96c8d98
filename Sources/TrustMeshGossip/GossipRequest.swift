public import TrustMeshModel

/// What a node sends a peer in one gossip exchange: its digest (whole, or only where it differs
/// from what the peer can infer of it), and any records it knows the peer lacks.
///
/// The first message of an exchange carries no records (the caller does not yet know the peer's
/// digest); the second, sent only when the peer's digest shows it lacks something (or one side
/// could not rebuild the other's digest), pushes those records. JSON form, the digest as an array
/// sorted by origin so that the bytes are stable; a whole digest:
///
/// ```json
/// {"digest":["RQ3:4:q83vEjRWeJASNFZ4kBI0Vg","RRK:12:3q2+7wAAAAAAAAAAAAAAAA"]}
/// ```
///
/// and between peers that have spoken before, only the differing entries and the ``DigestHash`` of
/// the whole, or, when none differ, the hash alone:
///
/// ```json
/// {"digest":["RQ3:5:Jq9yF0mZ0b3V1cmVkZWFkAA"],"hash":"W8tJ0Xo3aF2h"}
/// {"hash":"W8tJ0Xo3aF2h"}
/// ```
///
/// The body does not name the caller: the transport authenticated it, and hands it to the decoder
/// as ``senderKey`` in `userInfo` (a body that does name one, as earlier versions did, must name
/// the same trust).
///
/// Each digest entry may carry the ``RecordFingerprint`` of the caller's record at that sequence
/// (``fingerprints``): the peer compares it with its own to find an origin that signed two records
/// with one sequence.
public struct GossipRequest: Sendable, Codable {
    /// The calling trust. The transport must authenticate it (the HTTP transport checks that the
    /// sealed request came from this trust's pinned key) and give it to the decoder
    /// (``senderKey``); ``GossipNode`` refuses unknown peers.
    public var from: TrustID

    /// The `userInfo` key under which a transport gives the decoder the `TrustID` of the sender it
    /// authenticated.
    public static let senderKey = CodingUserInfoKey(rawValue: "TrustMesh.gossipSender")!
    /// For each origin, the highest sequence the caller holds (contiguously): of every origin when
    /// ``isWhole``, else of the origins where it differs from what the peer can infer.
    public var digest: [TrustID: UInt64] { fields.digest }
    /// For origins of ``digest``, the fingerprint of the caller's record at that sequence. An origin
    /// without one is not compared (a node that predates fingerprints sends none).
    public var fingerprints: [TrustID: RecordFingerprint] { fields.fingerprints }
    /// Whether ``digest`` is the sender's whole digest (a first exchange, or one the peer asked
    /// for) rather than the differences from what the peer can infer of it.
    public var isWhole: Bool { fields.isWhole }
    /// The hash of the caller's whole digest.
    public var hash: DigestHash { fields.hash }
    /// Origins the caller holds: it has an unresolved equivocation of theirs and stores none of their
    /// new records until an operator resolves it, so the peer sends it none.
    public var held: Set<TrustID> { fields.held }
    /// Records the caller believes the peer lacks; each is verified by the receiver.
    public var records: [IndexRecord]
    /// The caller could not rebuild the peer's digest from the peer's last message (it had not
    /// rebuild the digest: it forgot what it had heard, or
    /// the two sides' exchanges crossed): the peer answers with its whole digest.
    public var resend: Bool

    var fields: DigestFields

    /// Creates a request carrying a whole digest.
    /// - Parameters:
    ///   - from: The calling trust.
    ///   - digest: The caller's digest.
    ///   - fingerprints: The fingerprints of the caller's records at the digest's sequences.
    ///   - held: Origins the caller holds.
    ///   - records: Records pushed to the peer.
    public init(
        from: TrustID, digest: [TrustID: UInt64], fingerprints: [TrustID: RecordFingerprint] = [:],
        held: Set<TrustID> = [], records: [IndexRecord] = []
    ) {
        self.init(from: from, fields: DigestFields(whole: digest, fingerprints, held: held), records: records)
    }

    /// A request carrying a node's heads as its whole digest.
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

    init(from: TrustID, fields: DigestFields, records: [IndexRecord], resend: Bool = false) {
        self.from = from
        self.fields = fields
        self.records = records
        self.resend = resend
    }

    /// Decodes the JSON form, the caller being the trust the transport put under ``senderKey``.
    /// - Throws: `DecodingError` if the transport named no sender (and the body none either), the
    ///   body names another sender, neither a digest nor its hash is given, an origin is listed twice, or an entry or the hash is
    ///   malformed.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: GossipMessageKey.self)
        let named = try container.decodeIfPresent(TrustID.self, forKey: .from)
        let authenticated = decoder.userInfo[Self.senderKey] as? TrustID
        if let named, let authenticated, named != authenticated {
            throw DecodingError.dataCorruptedError(
                forKey: .from, in: container,
                debugDescription: "the gossip request names \(named) but was sent by \(authenticated)")
        }
        guard let sender = authenticated ?? named else {
            throw DecodingError.dataCorruptedError(
                forKey: .from, in: container, debugDescription: "no sender: the transport named none")
        }
        from = sender
        fields = try DigestFields(from: container)
        records = try container.decodeIfPresent([IndexRecord].self, forKey: .records) ?? []
        resend = try container.decodeIfPresent(Bool.self, forKey: .resend) ?? false
    }

    /// Encodes the JSON form, leaving out the caller (the transport authenticates it), empty
    /// records, a `false` resend and what the digest's form lets the receiver infer.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: GossipMessageKey.self)
        try fields.encode(to: &container)
        if !records.isEmpty { try container.encode(records, forKey: .records) }
        if resend { try container.encode(true, forKey: .resend) }
    }
}
