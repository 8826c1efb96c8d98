internal import TrustMeshModel

/// One origin's entry of a gossip digest on the wire: `{"origin": "RRK", "sequence": 12}`.
///
/// Digests travel as arrays of these, sorted by origin, so that the JSON of a message is stable (a
/// dictionary's key order is not) and an origin can't appear twice.
struct DigestEntry: Codable, Sendable {
    var origin: TrustID
    var sequence: UInt64

    /// The digest as entries sorted by origin.
    static func entries(_ digest: [TrustID: UInt64]) -> [DigestEntry] {
        digest.keys.sorted().map { DigestEntry(origin: $0, sequence: digest[$0] ?? 0) }
    }

    /// Decodes a digest, refusing an origin listed twice.
    static func decodeDigest<Key: CodingKey>(
        from container: KeyedDecodingContainer<Key>, forKey key: Key
    ) throws -> [TrustID: UInt64] {
        let entries = try container.decode([DigestEntry].self, forKey: key)
        var digest: [TrustID: UInt64] = [:]
        digest.reserveCapacity(entries.count)
        for entry in entries {
            guard digest.updateValue(entry.sequence, forKey: entry.origin) == nil else {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: container, debugDescription: "origin \(entry.origin) listed twice")
            }
        }
        return digest
    }
}
