internal import TrustMeshModel

/// One origin's entry of a gossip digest on the wire:
/// `{"hash": "q83vEjRWeJASNFZ4kBI0Vg==", "origin": "RRK", "sequence": 12}`, and `"held": true` while
/// the sender holds that origin (it stores none of its new records until an operator resolves an
/// equivocation: send it none).
///
/// Digests travel as arrays of these, sorted by origin, so that the JSON of a message is stable (a
/// dictionary's key order is not) and an origin can't appear twice. `hash` is the
/// ``RecordFingerprint`` of the sender's record at `sequence`; it is optional, so a digest from a node
/// that predates fingerprints still decodes (such an entry is simply not compared).
struct DigestEntry: Codable, Sendable {
    var hash: String?
    var held: Bool?
    var origin: TrustID
    var sequence: UInt64

    /// A digest decoded: sequences, fingerprints and held origins.
    typealias Decoded = (digest: [TrustID: UInt64], fingerprints: [TrustID: RecordFingerprint], held: Set<TrustID>)

    /// The digest as entries sorted by origin, each with its fingerprint when known and `held` only
    /// when true (so a digest without held origins is byte for byte what it was before).
    static func entries(
        _ digest: [TrustID: UInt64], _ fingerprints: [TrustID: RecordFingerprint], held: Set<TrustID>
    ) -> [DigestEntry] {
        digest.keys.sorted().map {
            DigestEntry(
                hash: fingerprints[$0]?.base64, held: held.contains($0) ? true : nil, origin: $0,
                sequence: digest[$0] ?? 0)
        }
    }

    /// Decodes a digest, refusing an origin listed twice or a fingerprint that is not base64 of 16
    /// bytes.
    static func decodeDigest<Key: CodingKey>(
        from container: KeyedDecodingContainer<Key>, forKey key: Key
    ) throws -> Decoded {
        let entries = try container.decode([DigestEntry].self, forKey: key)
        var digest: [TrustID: UInt64] = [:]
        var fingerprints: [TrustID: RecordFingerprint] = [:]
        var held: Set<TrustID> = []
        digest.reserveCapacity(entries.count)
        for entry in entries {
            guard digest.updateValue(entry.sequence, forKey: entry.origin) == nil else {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: container, debugDescription: "origin \(entry.origin) listed twice")
            }
            if entry.held == true { held.insert(entry.origin) }
            guard let hash = entry.hash else { continue }
            guard let fingerprint = RecordFingerprint(base64: hash) else {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: container,
                    debugDescription: "the hash of origin \(entry.origin) is not base64 of 16 bytes")
            }
            fingerprints[entry.origin] = fingerprint
        }
        return (digest, fingerprints, held)
    }
}
