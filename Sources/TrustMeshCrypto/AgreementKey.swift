internal import CSodium

/// An X25519 secret key: opens sealed boxes addressed to its ``publicKey``.
///
/// The secret lives in ``SecretBytes`` (wiped when released) and `description` prints `<redacted>`.
///
/// ```swift
/// let recipient = AgreementKey()
/// let box = recipient.publicKey.seal(transferKeyBytes)
/// let opened = try recipient.openSealed(box)
/// ```
///
/// See https://doc.libsodium.org/public-key_cryptography/sealed_boxes.
public struct AgreementKey: Sendable {
    private let secretKey: SecretBytes

    /// The public half, to publish.
    public let publicKey: AgreementPublicKey

    /// Creates a new random key pair (`crypto_box_keypair`).
    public init() {
        _ = Sodium.ready
        var publicKey = [UInt8](repeating: 0, count: crypto_box_publickeybytes())
        secretKey = SecretBytes(count: crypto_box_secretkeybytes()) { secret in
            Sodium.mustSucceed(crypto_box_keypair(&publicKey, secret.uint8Pointer))
        }
        self.publicKey = AgreementPublicKey(validated: publicKey)
    }

    private init(secretKey: SecretBytes) throws(CryptoError) {
        _ = Sodium.ready
        // crypto_box_keypair computes the public key as crypto_scalarmult_base(pk, sk)
        // (https://doc.libsodium.org/advanced/scalar_multiplication), so recompute it the same way.
        var publicKey = [UInt8](repeating: 0, count: crypto_box_publickeybytes())
        let status = secretKey.withUnsafeBytes { secret in
            crypto_scalarmult_base(&publicKey, secret.uint8Pointer)
        }
        try Sodium.check(status)
        self.secretKey = secretKey
        self.publicKey = AgreementPublicKey(validated: publicKey)
    }

    /// Decrypts a box made by ``AgreementPublicKey/seal(_:)`` for this key (`crypto_box_seal_open`).
    ///
    /// - Parameter ciphertext: The sealed box.
    /// - Returns: The plaintext.
    /// - Throws: ``CryptoError/authenticationFailed`` if the box was altered, truncated or sealed to another key.
    public func openSealed(_ ciphertext: [UInt8]) throws(CryptoError) -> [UInt8] {
        _ = Sodium.ready
        let overhead = crypto_box_sealbytes()
        guard ciphertext.count >= overhead else { throw .authenticationFailed }
        var status: Int32 = 0
        let plaintextCount = ciphertext.count - overhead
        // Capacity of at least 1 so the output pointer is never null, even for an empty plaintext.
        let plaintext = [UInt8](unsafeUninitializedCapacity: max(plaintextCount, 1)) { buffer, initialized in
            // The tag is checked before anything is decrypted; on failure the array is left empty and discarded.
            status = secretKey.withUnsafeBytes { secret in
                crypto_box_seal_open(
                    buffer.baseAddress, ciphertext, UInt64(ciphertext.count), publicKey.rawBytes,
                    secret.uint8Pointer)
            }
            initialized = status == 0 ? plaintextCount : 0
        }
        try Sodium.check(status, failure: .authenticationFailed)
        return plaintext
    }

    /// Writes the secret key to a new file readable only by its owner (mode 0600), and `fsync`s it.
    ///
    /// - Parameter path: Where to create the file. It must not exist yet.
    /// - Throws: ``CryptoError/keyFile(path:reason:)`` if the file exists or cannot be written.
    public func write(to path: String) throws(CryptoError) {
        try KeyFile.write(secretKey, kind: .x25519SecretKey, to: path)
    }

    /// Reads a key written by ``write(to:)``.
    ///
    /// - Parameter path: The key file.
    /// - Returns: The key, with the same public key as the one written.
    /// - Throws: ``CryptoError/keyFile(path:reason:)`` if the file is missing, is not an agreement-key file, or
    ///   grants any permission to group or others.
    public static func read(from path: String) throws(CryptoError) -> AgreementKey {
        _ = Sodium.ready
        let secret = try KeyFile.read(kind: .x25519SecretKey, secretCount: crypto_box_secretkeybytes(), from: path)
        return try AgreementKey(secretKey: secret)
    }
}

extension AgreementKey: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Always `<redacted>`; print ``publicKey`` to identify the key.
    public var description: String { "<redacted>" }
    /// Always `<redacted>`.
    public var debugDescription: String { "<redacted>" }
    /// An empty mirror, so `dump` and debuggers show nothing of the secret.
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}
