internal import TrustMeshModel

/// One origin's entry of a gossip digest on the wire: one string, `"RRK:12:q83vEjRWeJASNFZ4kBI0Vg"`,
/// the origin's code, the highest sequence held, and the ``RecordFingerprint`` of the sender's
/// record at it in base64 without its padding (22 characters); `"RRK:12"` without a fingerprint
/// (such an entry is simply not compared).
///
/// Digests travel as arrays of these, sorted by origin, so that the JSON of a message is stable (a
/// dictionary's key order is not) and an origin can't appear twice. One string rather than an
/// object with three named fields: an entry is what most gossip bytes are, and this is 34 bytes
/// for a five-letter code where the object took 58.
struct DigestEntry: Sendable {
    var origin: TrustID
    var sequence: UInt64
    var fingerprint: RecordFingerprint?

    /// The wire form.
    var text: String {
        let head = "\(origin.code):\(sequence)"
        guard let fingerprint else { return head }
        return head + ":" + fingerprint.base64.prefix { $0 != "=" }
    }

    /// Parses the wire form; `nil` unless it is a valid code, a decimal sequence and, if present,
    /// base64 of 16 bytes (padding optional).
    init?(text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard (2...3).contains(parts.count), let origin = try? TrustID(String(parts[0])),
            !parts[1].isEmpty,
            parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let sequence = UInt64(parts[1])
        else { return nil }
        self.origin = origin
        self.sequence = sequence
        guard parts.count == 3 else { return }
        var base64 = String(parts[2])
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let fingerprint = RecordFingerprint(base64: base64) else { return nil }
        self.fingerprint = fingerprint
    }

    init(origin: TrustID, sequence: UInt64, fingerprint: RecordFingerprint?) {
        self.origin = origin
        self.sequence = sequence
        self.fingerprint = fingerprint
    }
}

/// The keys of a gossip message's JSON, requests and responses alike.
enum GossipMessageKey: String, CodingKey {
    case from, digest, hash, held, records, resend
}

/// The digest part of a gossip message, as requests and responses both carry it: the sender's
/// whole digest, or only the entries in which it differs from what the receiver can already infer
/// of it, with the hash of the whole (see ``GossipNode``, "Digests by difference").
///
/// On the wire (keys of the message itself):
/// - `digest` without `hash`: the whole digest (the receiver computes its hash);
/// - `digest` and `hash`: the entries that differ from the inferred digest; applied to it, they
///   give a digest whose ``DigestHash`` is `hash`;
/// - `hash` alone: nothing differs (an idle exchange's message);
/// - `held`: origins the sender holds (an unresolved equivocation; it stores none of their new
///   records), listed in full in every message while there are any.
struct DigestFields: Sendable {
    /// Per origin, the highest sequence: of every origin (whole), or of those that differ.
    var digest: [TrustID: UInt64]
    /// Per origin of ``digest``, the fingerprint of the sender's record at that sequence.
    var fingerprints: [TrustID: RecordFingerprint]
    /// Whether ``digest`` is the whole digest rather than differences.
    var isWhole: Bool
    /// The hash of the sender's whole digest.
    var hash: DigestHash
    /// Origins the sender holds.
    var held: Set<TrustID>

    /// A whole digest.
    init(whole digest: [TrustID: UInt64], _ fingerprints: [TrustID: RecordFingerprint], held: Set<TrustID>) {
        self.digest = digest
        self.fingerprints = fingerprints.filter { digest[$0.key] != nil }
        self.isWhole = true
        self.hash = DigestHash(digest, self.fingerprints)
        self.held = held
    }

    /// The entries that differ from what the receiver infers, and the hash of the whole.
    init(differences heads: [TrustID: IndexHead], hash: DigestHash, held: Set<TrustID>) {
        self.init(differences: heads.mapValues(\.sequence), heads.mapValues(\.fingerprint), hash: hash, held: held)
    }

    /// Differences as sequences and fingerprints.
    private init(
        differences digest: [TrustID: UInt64], _ fingerprints: [TrustID: RecordFingerprint], hash: DigestHash,
        held: Set<TrustID>
    ) {
        self.digest = digest
        self.fingerprints = fingerprints
        self.isWhole = false
        self.hash = hash
        self.held = held
    }

    /// Writes the fields into a message's JSON object, leaving out what the receiver can infer.
    func encode(to container: inout KeyedEncodingContainer<GossipMessageKey>) throws {
        if isWhole || !digest.isEmpty {
            try container.encode(
                digest.keys.sorted().map {
                    DigestEntry(origin: $0, sequence: digest[$0] ?? 0, fingerprint: fingerprints[$0]).text
                }, forKey: .digest)
        }
        if !isWhole { try container.encode(hash.base64, forKey: .hash) }
        if !held.isEmpty { try container.encode(held.sorted(), forKey: .held) }
    }

    /// Reads the fields of a message's JSON object.
    /// - Throws: `DecodingError` if neither a digest nor a hash is given, an entry is malformed, an
    ///   origin is listed twice, or the hash is not base64 of 9 bytes.
    init(from container: KeyedDecodingContainer<GossipMessageKey>) throws {
        let entries = try container.decodeIfPresent([String].self, forKey: .digest)
        var digest: [TrustID: UInt64] = [:]
        var fingerprints: [TrustID: RecordFingerprint] = [:]
        digest.reserveCapacity(entries?.count ?? 0)
        for text in entries ?? [] {
            guard let entry = DigestEntry(text: text) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .digest, in: container,
                    debugDescription:
                        "digest entry \"\(text.prefix(60))\" is not ORIGIN:SEQUENCE[:FINGERPRINT] "
                        + "(a fingerprint is base64 of 16 bytes)")
            }
            guard digest.updateValue(entry.sequence, forKey: entry.origin) == nil else {
                throw DecodingError.dataCorruptedError(
                    forKey: .digest, in: container, debugDescription: "origin \(entry.origin) listed twice")
            }
            fingerprints[entry.origin] = entry.fingerprint
        }
        let held = Set(try container.decodeIfPresent([TrustID].self, forKey: .held) ?? [])
        guard let text = try container.decodeIfPresent(String.self, forKey: .hash) else {
            guard entries != nil else {
                throw DecodingError.dataCorruptedError(
                    forKey: .hash, in: container,
                    debugDescription: "a gossip message needs a digest, or the hash of one")
            }
            self.init(whole: digest, fingerprints, held: held)
            return
        }
        guard let hash = DigestHash(base64: text) else {
            throw DecodingError.dataCorruptedError(
                forKey: .hash, in: container, debugDescription: "hash is not base64 of 9 bytes")
        }
        self.init(differences: digest, fingerprints, hash: hash, held: held)
    }
}
