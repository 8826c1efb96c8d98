internal import TrustMeshCrypto
public import TrustMeshModel

// Data's base64 only: the lighter FoundationEssentials where the toolchain has it (Linux).
#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// A short hash of a whole gossip digest (every origin's head sequence and fingerprint): what lets
/// two nodes send each other only the entries that changed since their last exchange and still
/// be sure they agree on the rest.
///
/// BLAKE2b-256, truncated to 9 bytes, over each origin in order of its code: the code's UTF-8
/// bytes, a 0 byte, the sequence as 8 bytes big-endian, and the fingerprint's 16 bytes (16 zero
/// bytes when the entry has none). The empty digest hashes the empty input. On the wire it is 12
/// characters of base64. 72 bits: two different digests agree by chance once in 2⁷² comparisons,
/// and a wrong agreement would only delay records until the next change (the hash is checked
/// again with every message).
///
/// It is a consistency check between peers, not a security boundary: every record is still
/// verified against its origin's key, and a peer that lies about its digest could as well withhold
/// records outright.
public struct DigestHash: Sendable, Hashable, CustomStringConvertible {
    /// Bytes kept of the BLAKE2b-256 hash.
    public static let byteCount = 9

    /// The 16 bytes.
    public let rawBytes: [UInt8]

    /// The hash of a digest given as sequences and fingerprints (an origin without a fingerprint
    /// hashes as 16 zero bytes).
    /// - Parameters:
    ///   - digest: Per origin, the highest sequence held.
    ///   - fingerprints: Per origin, the fingerprint of the record at that sequence.
    public init(_ digest: [TrustID: UInt64], _ fingerprints: [TrustID: RecordFingerprint]) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digest.count * 32)
        let none = [UInt8](repeating: 0, count: RecordFingerprint.byteCount)
        for (origin, sequence) in digest.sorted(by: { $0.key < $1.key }) {
            bytes.append(contentsOf: origin.code.utf8)
            bytes.append(0)
            for shift in stride(from: 56, through: 0, by: -8) {
                bytes.append(UInt8(truncatingIfNeeded: sequence >> UInt64(shift)))
            }
            bytes.append(contentsOf: fingerprints[origin]?.rawBytes ?? none)
        }
        rawBytes = Array(BLAKE2b256.hash(bytes).rawBytes.prefix(Self.byteCount))
    }

    /// The hash of a node's heads.
    /// - Parameter heads: Per origin, the highest sequence held and its record's fingerprint.
    public init(_ heads: [TrustID: IndexHead]) {
        self.init(heads.mapValues(\.sequence), heads.mapValues(\.fingerprint))
    }

    /// Parses the wire form; `nil` unless it is base64 of exactly 9 bytes.
    init?(base64: String) {
        guard let data = Data(base64Encoded: base64), data.count == Self.byteCount else { return nil }
        rawBytes = Array(data)
    }

    /// The wire form: base64 (9 bytes need no padding).
    var base64: String { Data(rawBytes).base64EncodedString() }

    /// The wire form.
    public var description: String { base64 }
}
