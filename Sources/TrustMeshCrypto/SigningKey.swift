internal import CSodium

/// An Ed25519 secret key: signs messages that the matching ``VerifyingKey`` verifies.
///
/// The secret lives in ``SecretBytes`` (wiped when released) and `description` prints `<redacted>`.
///
/// ```swift
/// let key = SigningKey()
/// try key.write(to: "/var/lib/trustmesh/node.key")    // mode 0600, never overwrites
/// let signature = key.sign(canonicalBytes)
/// try key.verifyingKey.verify(signature, for: canonicalBytes)
/// ```
///
/// See https://doc.libsodium.org/public-key_cryptography/public-key_signatures.
public struct SigningKey: Sendable {
    /// libsodium's 64-byte secret key: the 32-byte seed followed by the public key.
    private let secretKey: SecretBytes

    /// The public half, to publish.
    public let verifyingKey: VerifyingKey

    /// The length of a seed (`crypto_sign_seedbytes()`).
    public static var seedByteCount: Int { crypto_sign_seedbytes() }

    /// Creates a new random key (`crypto_sign_keypair`).
    public init() {
        _ = Sodium.ready
        var publicKey = [UInt8](repeating: 0, count: crypto_sign_publickeybytes())
        secretKey = SecretBytes(count: crypto_sign_secretkeybytes()) { secret in
            Sodium.mustSucceed(crypto_sign_keypair(&publicKey, secret.uint8Pointer))
        }
        verifyingKey = VerifyingKey(validated: publicKey)
    }

    /// Derives the key deterministically from a 32-byte seed (`crypto_sign_seed_keypair`), as RFC 8032 does
    /// from its "secret key".
    ///
    /// - Parameter seed: Exactly ``seedByteCount`` secret bytes. The caller should wipe its copy.
    /// - Throws: ``CryptoError/invalidKeyLength(expected:actual:)``.
    public init(seed: [UInt8]) throws(CryptoError) {
        _ = Sodium.ready
        guard seed.count == Self.seedByteCount else {
            throw .invalidKeyLength(expected: Self.seedByteCount, actual: seed.count)
        }
        try self.init(seed: SecretBytes(copying: seed))
    }

    private init(seed: SecretBytes) throws(CryptoError) {
        _ = Sodium.ready
        var publicKey = [UInt8](repeating: 0, count: crypto_sign_publickeybytes())
        var status: Int32 = 0
        secretKey = seed.withUnsafeBytes { seedBytes in
            SecretBytes(count: crypto_sign_secretkeybytes()) { secret in
                status = crypto_sign_seed_keypair(
                    &publicKey, secret.uint8Pointer,
                    seedBytes.uint8Pointer)
            }
        }
        try Sodium.check(status)
        verifyingKey = VerifyingKey(validated: publicKey)
    }

    /// Signs `message`, returning a detached signature (`crypto_sign_detached`). Ed25519 is deterministic: the
    /// same key and message always give the same signature.
    /// - Parameter message: The bytes to sign.
    public func sign(_ message: [UInt8]) -> Signature {
        message.withUnsafeBytes { sign($0) }
    }

    /// Signs `message`, returning a detached signature (`crypto_sign_detached`).
    /// - Parameter message: The bytes to sign.
    public func sign(_ message: UnsafeRawBufferPointer) -> Signature {
        _ = Sodium.ready
        let signature = [UInt8](unsafeUninitializedCapacity: crypto_sign_bytes()) { buffer, initialized in
            let status = secretKey.withUnsafeBytes { secret in
                withUInt8Pointer(message) { messagePointer in
                    crypto_sign_detached(
                        buffer.baseAddress!, nil, messagePointer, UInt64(message.count),
                        secret.uint8Pointer)
                }
            }
            // "crypto_sign_detached() [...] always returns 0" for a valid secret key, which this type guarantees.
            Sodium.mustSucceed(status)
            initialized = buffer.count
        }
        return Signature(validated: signature)
    }

    /// Writes the key's seed to a new file readable only by its owner (mode 0600), and `fsync`s it.
    ///
    /// - Parameter path: Where to create the file. It must not exist yet.
    /// - Throws: ``CryptoError/keyFile(path:reason:)`` if the file exists or cannot be written; a partial file is
    ///   removed.
    public func write(to path: String) throws(CryptoError) {
        let seed = secretKey.withUnsafeBytes { secret in
            SecretBytes(count: Self.seedByteCount) { seed in
                Sodium.mustSucceed(
                    crypto_sign_ed25519_sk_to_seed(
                        seed.uint8Pointer, secret.uint8Pointer))
            }
        }
        try KeyFile.write(seed, kind: .ed25519Seed, to: path)
    }

    /// Reads a key written by ``write(to:)``.
    ///
    /// - Parameter path: The key file.
    /// - Returns: The key; it signs exactly as the key that was written.
    /// - Throws: ``CryptoError/keyFile(path:reason:)`` if the file is missing, is not a signing-key file, or
    ///   grants any permission to group or others (`chmod 600` fixes that).
    public static func read(from path: String) throws(CryptoError) -> SigningKey {
        _ = Sodium.ready
        let seed = try KeyFile.read(kind: .ed25519Seed, secretCount: seedByteCount, from: path)
        return try SigningKey(seed: seed)
    }
}

extension SigningKey: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Always `<redacted>`; print ``verifyingKey`` to identify the key.
    public var description: String { "<redacted>" }
    /// Always `<redacted>`.
    public var debugDescription: String { "<redacted>" }
    /// An empty mirror, so `dump` and debuggers show nothing of the secret.
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}
