internal import CSodium

/// An Ed25519 public key: verifies ``Signature``s made by the matching ``SigningKey``.
///
/// Its text form (`description`, `Codable`) is standard padded base64 of the 32 raw bytes.
///
/// ```swift
/// try peerKey.verify(signature, for: canonicalBytes)   // throws CryptoError.badSignature
/// ```
public struct VerifyingKey: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The length of an Ed25519 public key (`crypto_sign_publickeybytes()`).
    public static var byteCount: Int { crypto_sign_publickeybytes() }

    /// The 32 raw key bytes.
    public let rawBytes: [UInt8]

    /// Wraps raw bytes known to have the right length.
    init(validated rawBytes: [UInt8]) {
        self.rawBytes = rawBytes
    }

    /// Creates a key from its raw bytes.
    ///
    /// - Parameter rawBytes: Exactly ``byteCount`` bytes.
    /// - Throws: ``CryptoError/invalidKeyLength(expected:actual:)``.
    public init(rawBytes: [UInt8]) throws(CryptoError) {
        _ = Sodium.ready
        guard rawBytes.count == Self.byteCount else {
            throw .invalidKeyLength(expected: Self.byteCount, actual: rawBytes.count)
        }
        self.rawBytes = rawBytes
    }

    /// Parses the base64 form produced by ``base64``.
    ///
    /// - Parameter base64: Standard padded base64 of the raw bytes.
    /// - Throws: ``CryptoError/invalidEncoding(reason:)`` or ``CryptoError/invalidKeyLength(expected:actual:)``.
    public init(base64: String) throws(CryptoError) {
        try self.init(rawBytes: try Base64.decode(base64))
    }

    /// The raw bytes as standard padded base64.
    public var base64: String { Base64.encode(rawBytes) }

    /// Same as ``base64``.
    public var description: String { base64 }

    /// Checks that `signature` is this key's signature of `message`.
    ///
    /// Uses `crypto_sign_verify_detached`
    /// (https://doc.libsodium.org/public-key_cryptography/public-key_signatures#detached-mode).
    /// - Parameters:
    ///   - signature: The detached signature.
    ///   - message: The exact bytes that were signed.
    /// - Throws: ``CryptoError/badSignature`` if it does not verify. There is no `Bool` form, on purpose.
    public func verify(_ signature: Signature, for message: [UInt8]) throws(CryptoError) {
        _ = Sodium.ready
        let status = message.withUnsafeBytes { verificationStatus(signature, for: $0) }
        try Sodium.check(status, failure: .badSignature)
    }

    /// Checks that `signature` is this key's signature of `message`.
    ///
    /// - Parameters:
    ///   - signature: The detached signature.
    ///   - message: The exact bytes that were signed.
    /// - Throws: ``CryptoError/badSignature`` if it does not verify.
    public func verify(_ signature: Signature, for message: UnsafeRawBufferPointer) throws(CryptoError) {
        _ = Sodium.ready
        try Sodium.check(verificationStatus(signature, for: message), failure: .badSignature)
    }

    /// "crypto_sign_verify_detached() [...] returns -1 if the signature fails verification, or 0 on success"
    /// (https://doc.libsodium.org/public-key_cryptography/public-key_signatures#detached-mode).
    private func verificationStatus(_ signature: Signature, for message: UnsafeRawBufferPointer) -> Int32 {
        withUInt8Pointer(message) { messagePointer in
            crypto_sign_verify_detached(signature.rawBytes, messagePointer, UInt64(message.count), rawBytes)
        }
    }

    /// Decodes the base64 string form.
    /// - Throws: `DecodingError.dataCorrupted` if the string is not a valid key.
    public init(from decoder: any Decoder) throws {
        self = try Base64.decode(decoder, as: "VerifyingKey") { text throws(CryptoError) in try Self(base64: text) }
    }

    /// Encodes as the base64 string form.
    public func encode(to encoder: any Encoder) throws {
        try Base64.encode(base64, to: encoder)
    }
}
