internal import CSodium

/// A detached Ed25519 signature (64 bytes), made by a ``SigningKey`` and checked by a ``VerifyingKey``.
///
/// Its `Codable` form is standard padded base64 of the raw bytes.
public struct Signature: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The length of an Ed25519 signature (`crypto_sign_bytes()`).
    public static var byteCount: Int { crypto_sign_bytes() }

    /// The 64 raw signature bytes.
    public let rawBytes: [UInt8]

    init(validated rawBytes: [UInt8]) {
        self.rawBytes = rawBytes
    }

    /// Creates a signature from its raw bytes.
    ///
    /// - Parameter rawBytes: Exactly ``byteCount`` bytes.
    /// - Throws: ``CryptoError/invalidLength(expected:actual:)``.
    public init(rawBytes: [UInt8]) throws(CryptoError) {
        _ = Sodium.ready
        guard rawBytes.count == Self.byteCount else {
            throw .invalidLength(expected: Self.byteCount, actual: rawBytes.count)
        }
        self.rawBytes = rawBytes
    }

    /// Parses the base64 form produced by ``base64``.
    ///
    /// - Parameter base64: Standard padded base64 of the raw bytes.
    /// - Throws: ``CryptoError/invalidEncoding(reason:)`` or ``CryptoError/invalidLength(expected:actual:)``.
    public init(base64: String) throws(CryptoError) {
        try self.init(rawBytes: try Base64.decode(base64))
    }

    /// The raw bytes as standard padded base64.
    public var base64: String { Base64.encode(rawBytes) }

    /// Same as ``base64``.
    public var description: String { base64 }

    /// Decodes the base64 string form.
    /// - Throws: `DecodingError.dataCorrupted` if the string is not a valid signature.
    public init(from decoder: any Decoder) throws {
        self = try Base64.decode(decoder, as: "Signature") { text throws(CryptoError) in try Self(base64: text) }
    }

    /// Encodes as the base64 string form.
    public func encode(to encoder: any Encoder) throws {
        try Base64.encode(base64, to: encoder)
    }
}
