public import TrustMeshCrypto
public import TrustMeshModel

// Data's base64 only: the lighter FoundationEssentials where the toolchain has it (Linux).
#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

/// The first 16 bytes of an index record's content hash (`IndexRecord.contentHash`, BLAKE2b-256 of
/// its signed bytes): what a gossip digest says about the record at each origin's high-water mark.
///
/// Two nodes that hold the same sequence of an origin compare fingerprints; different fingerprints
/// mean the origin signed two records with that sequence, and the two nodes exchange them. 128 bits
/// keep a deliberate collision out of reach (finding two records with one fingerprint takes about
/// 2⁶⁴ hashes), where 64 would not (2³², an afternoon). On the wire it is 24 characters of padded
/// base64, `"hash":"q83vEjRWeJASNFZ4kBI0Vg=="`.
public struct RecordFingerprint: Sendable, Hashable, CustomStringConvertible {
    /// Bytes kept of the content hash.
    public static let byteCount = 16

    /// The 16 bytes.
    public let rawBytes: [UInt8]

    /// The fingerprint of a record (hashes its signed bytes).
    /// - Parameter record: The record.
    public init(_ record: IndexRecord) {
        self.init(contentHash: record.contentHash)
    }

    /// The fingerprint of a content hash the caller already holds (the store keeps one per origin).
    /// - Parameter contentHash: An index record's `contentHash`.
    public init(contentHash: Digest256) {
        rawBytes = Array(contentHash.rawBytes.prefix(Self.byteCount))
    }

    /// Parses the wire form; `nil` unless it is base64 of exactly 16 bytes.
    init?(base64: String) {
        guard let data = Data(base64Encoded: base64), data.count == Self.byteCount else { return nil }
        rawBytes = Array(data)
    }

    /// The wire form: padded base64.
    var base64: String { Data(rawBytes).base64EncodedString() }

    /// The wire form.
    public var description: String { base64 }
}
