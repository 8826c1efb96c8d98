internal import CSodium

/// An X25519 public key: anyone can ``seal(_:)`` a message that only the matching ``AgreementKey`` can open.
///
/// Its text form (`description`, `Codable`) is standard padded base64 of the 32 raw bytes.
///
/// See https://doc.libsodium.org/public-key_cryptography/sealed_boxes.
public struct AgreementPublicKey: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The length of an X25519 public key (`crypto_box_publickeybytes()`).
    public static var byteCount: Int { crypto_box_publickeybytes() }

    /// The 32 raw key bytes.
    public let rawBytes: [UInt8]

    init(validated rawBytes: [UInt8]) {
        self.rawBytes = rawBytes
    }

    /// Creates a key from its raw bytes.
    ///
    /// Low-order points, for which every shared secret is the same known value, are refused here so that
    /// ``seal(_:)`` cannot fail later.
    /// - Parameter rawBytes: Exactly ``byteCount`` bytes.
    /// - Throws: ``CryptoError/invalidKeyLength(expected:actual:)`` or ``CryptoError/invalidPublicKey``.
    public init(rawBytes: [UInt8]) throws(CryptoError) {
        _ = Sodium.ready
        guard rawBytes.count == Self.byteCount else {
            throw .invalidKeyLength(expected: Self.byteCount, actual: rawBytes.count)
        }
        // "crypto_scalarmult() [...] returns -1 [if] the output is all zeros", which happens exactly when the
        // point has small order, because libsodium clamps the scalar to a multiple of the cofactor 8
        // (https://doc.libsodium.org/advanced/scalar_multiplication). crypto_box_seal would fail the same way.
        // The scalar is a fixed public constant; only the outcome matters.
        let scalar = [UInt8](repeating: 0x5a, count: crypto_scalarmult_scalarbytes())
        var product = [UInt8](repeating: 0, count: crypto_scalarmult_bytes())
        try Sodium.check(crypto_scalarmult(&product, scalar, rawBytes), failure: .invalidPublicKey)
        self.rawBytes = rawBytes
    }

    /// Parses the base64 form produced by ``base64``.
    ///
    /// - Parameter base64: Standard padded base64 of the raw bytes.
    /// - Throws: ``CryptoError/invalidEncoding(reason:)``, ``CryptoError/invalidKeyLength(expected:actual:)`` or
    ///   ``CryptoError/invalidPublicKey``.
    public init(base64: String) throws(CryptoError) {
        try self.init(rawBytes: try Base64.decode(base64))
    }

    /// The raw bytes as standard padded base64.
    public var base64: String { Base64.encode(rawBytes) }

    /// Same as ``base64``.
    public var description: String { base64 }

    /// The bytes a sealed box adds to its plaintext (`crypto_box_sealbytes()`, 48).
    public static var sealOverhead: Int { crypto_box_sealbytes() }

    /// Encrypts `plaintext` to this key from an anonymous sender (`crypto_box_seal`).
    ///
    /// A fresh ephemeral key pair is made for each message and its secret destroyed, so not even the sender can
    /// open the result. The recipient learns nothing about who sent it: authenticate the content separately
    /// (e.g. sign it) when that matters.
    /// - Parameter plaintext: The message.
    /// - Returns: `plaintext.count + sealOverhead` bytes.
    public func seal(_ plaintext: [UInt8]) -> [UInt8] {
        _ = Sodium.ready
        return [UInt8](unsafeUninitializedCapacity: plaintext.count + Self.sealOverhead) { buffer, initialized in
            let status = plaintext.withUnsafeBytes { message in
                withUInt8Pointer(message) {
                    crypto_box_seal(buffer.baseAddress!, $0, UInt64(message.count), rawBytes)
                }
            }
            // Fails only for a low-order public key, which init(rawBytes:) refused.
            Sodium.mustSucceed(status)
            initialized = buffer.count
        }
    }

    /// Decodes the base64 string form.
    /// - Throws: `DecodingError.dataCorrupted` if the string is not a valid key.
    public init(from decoder: any Decoder) throws {
        self = try Base64.decode(decoder, as: "AgreementPublicKey") { text throws(CryptoError) in try Self(base64: text)
        }
    }

    /// Encodes as the base64 string form.
    public func encode(to encoder: any Encoder) throws {
        try Base64.encode(base64, to: encoder)
    }
}
