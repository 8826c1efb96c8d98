/// A 256-bit digest, such as a ``BLAKE2b256`` hash: the content address of a chunk.
///
/// Stored as four big-endian words so that equality, hashing and ordering touch 32 bytes without allocating; it is
/// a dictionary key on hot paths. Ordering is the lexicographic order of ``rawBytes``. The text form, used by
/// `description` and `Codable`, is 64 lowercase hex digits.
public struct Digest256: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The length of a digest in bytes.
    public static let byteCount = 32

    // Bytes 0..<8, 8..<16, 16..<24, 24..<32, each read big-endian so that tuple order is byte order.
    private var word0: UInt64
    private var word1: UInt64
    private var word2: UInt64
    private var word3: UInt64

    /// Reads exactly 32 bytes. Precondition: `bytes.count == Digest256.byteCount`.
    init(unsafeBytes bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count == Self.byteCount)
        word0 = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        word1 = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        word2 = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        word3 = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
    }

    /// Creates a digest from its 32 raw bytes.
    ///
    /// - Parameter rawBytes: Exactly ``byteCount`` bytes.
    /// - Throws: ``CryptoError/invalidLength(expected:actual:)`` for any other length.
    public init(rawBytes: [UInt8]) throws(CryptoError) {
        guard rawBytes.count == Self.byteCount else {
            throw .invalidLength(expected: Self.byteCount, actual: rawBytes.count)
        }
        self = rawBytes.withUnsafeBytes { Digest256(unsafeBytes: $0) }
    }

    /// Parses 64 hex digits (either case).
    ///
    /// - Parameter hex: The text form, e.g. from ``hex``.
    /// - Throws: ``CryptoError/invalidEncoding(reason:)`` or ``CryptoError/invalidLength(expected:actual:)``.
    public init(hex: String) throws(CryptoError) {
        try self.init(rawBytes: try Hex.decode(hex))
    }

    /// The 32 bytes of the digest, in order.
    public var rawBytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: Self.byteCount) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            raw.storeBytes(of: word0.bigEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: word1.bigEndian, toByteOffset: 8, as: UInt64.self)
            raw.storeBytes(of: word2.bigEndian, toByteOffset: 16, as: UInt64.self)
            raw.storeBytes(of: word3.bigEndian, toByteOffset: 24, as: UInt64.self)
            initialized = Self.byteCount
        }
    }

    /// The digest as 64 lowercase hex digits.
    public var hex: String { Hex.encode(rawBytes) }

    /// Same as ``hex``.
    public var description: String { hex }

    /// Orders digests by their bytes, lexicographically.
    public static func < (lhs: Digest256, rhs: Digest256) -> Bool {
        (lhs.word0, lhs.word1, lhs.word2, lhs.word3) < (rhs.word0, rhs.word1, rhs.word2, rhs.word3)
    }

    /// Decodes the hex string form.
    /// - Throws: `DecodingError.dataCorrupted` if the string is not 64 hex digits.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            try self.init(hex: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "Digest256: \(error)")
        }
    }

    /// Encodes as the hex string form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }
}
