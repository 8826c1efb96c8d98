internal import CSodium

/// A 256-bit secret key for ``XChaCha20Poly1305``, e.g. a per-transfer key.
///
/// The bytes live in ``SecretBytes`` (wiped when released), `==` runs in constant time, and `description` prints
/// `<redacted>`.
public struct SymmetricKey: Sendable, Equatable {
    private let secret: SecretBytes

    /// The key length (`crypto_aead_xchacha20poly1305_ietf_keybytes()`).
    public static var byteCount: Int { crypto_aead_xchacha20poly1305_ietf_keybytes() }

    /// Creates a new random key (`crypto_aead_xchacha20poly1305_ietf_keygen`).
    public init() {
        _ = Sodium.ready
        secret = SecretBytes(count: Self.byteCount) { bytes in
            crypto_aead_xchacha20poly1305_ietf_keygen(bytes.uint8Pointer)
        }
    }

    /// Wraps existing key bytes.
    ///
    /// - Parameter bytes: Exactly ``byteCount`` secret bytes. The caller should wipe its copy.
    /// - Throws: ``CryptoError/invalidKeyLength(expected:actual:)``.
    public init(bytes: [UInt8]) throws(CryptoError) {
        _ = Sodium.ready
        guard bytes.count == Self.byteCount else {
            throw .invalidKeyLength(expected: Self.byteCount, actual: bytes.count)
        }
        secret = SecretBytes(copying: bytes)
    }

    /// Wraps a buffer already of ``byteCount`` bytes.
    init(secret: SecretBytes) {
        precondition(secret.count == Self.byteCount)
        self.secret = secret
    }

    /// Calls `body` with the raw key bytes, e.g. to seal them to a recipient's ``AgreementPublicKey``.
    ///
    /// - Parameter body: Must not let the pointer escape.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try secret.withUnsafeBytes(body)
    }
}

extension SymmetricKey: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Always `<redacted>`.
    public var description: String { "<redacted>" }
    /// Always `<redacted>`.
    public var debugDescription: String { "<redacted>" }
    /// An empty mirror, so `dump` and debuggers show nothing of the key.
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}
