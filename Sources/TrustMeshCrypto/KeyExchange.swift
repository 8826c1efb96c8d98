internal import CSodium

/// A key pair for ``KeyExchange``: X25519, used once per transfer and then dropped.
///
/// The secret lives in ``SecretBytes`` and `description` prints `<redacted>`.
public struct KeyExchangeKeyPair: Sendable, CustomStringConvertible {
    let secretKey: SecretBytes

    /// The public half, sent to the peer (`crypto_kx_publickeybytes()` bytes).
    public let publicKey: [UInt8]

    /// Creates a new random key pair (`crypto_kx_keypair`).
    public init() {
        _ = Sodium.ready
        var publicKey = [UInt8](repeating: 0, count: crypto_kx_publickeybytes())
        secretKey = SecretBytes(count: crypto_kx_secretkeybytes()) { secret in
            Sodium.mustSucceed(crypto_kx_keypair(&publicKey, secret.uint8Pointer))
        }
        self.publicKey = publicKey
    }

    /// Always `<redacted>`.
    public var description: String { "<redacted>" }
}

/// Derives a pair of per-transfer session keys from two ``KeyExchangeKeyPair``s (`crypto_kx`).
///
/// The client's `tx` equals the server's `rx` and vice versa, so each direction has its own key:
///
/// ```swift
/// let (rx, tx) = try KeyExchange.clientSessionKeys(client: mine, serverPublicKey: theirs)
/// let box = XChaCha20Poly1305.seal(request, key: tx)
/// ```
///
/// See https://doc.libsodium.org/key_exchange.
public enum KeyExchange {
    /// The session keys for the client side (`crypto_kx_client_session_keys`).
    ///
    /// - Parameters:
    ///   - client: This side's key pair.
    ///   - serverPublicKey: The server's ``KeyExchangeKeyPair/publicKey``.
    /// - Returns: `rx` to open what the server sends, `tx` to seal what this side sends.
    /// - Throws: ``CryptoError/invalidKeyLength(expected:actual:)`` or, if libsodium refuses the server's public key,
    ///   ``CryptoError/invalidPublicKey``.
    public static func clientSessionKeys(
        client: KeyExchangeKeyPair,
        serverPublicKey: [UInt8]
    ) throws(CryptoError) -> (rx: SymmetricKey, tx: SymmetricKey) {
        try sessionKeys(peerPublicKey: serverPublicKey) { rx, tx, peer in
            client.secretKey.withUnsafeBytes { secret in
                crypto_kx_client_session_keys(
                    rx, tx, client.publicKey, secret.uint8Pointer, peer)
            }
        }
    }

    /// The session keys for the server side (`crypto_kx_server_session_keys`).
    ///
    /// - Parameters:
    ///   - server: This side's key pair.
    ///   - clientPublicKey: The client's ``KeyExchangeKeyPair/publicKey``.
    /// - Returns: `rx` to open what the client sends, `tx` to seal what this side sends.
    /// - Throws: ``CryptoError/invalidKeyLength(expected:actual:)`` or, if libsodium refuses the client's public key,
    ///   ``CryptoError/invalidPublicKey``.
    public static func serverSessionKeys(
        server: KeyExchangeKeyPair,
        clientPublicKey: [UInt8]
    ) throws(CryptoError) -> (rx: SymmetricKey, tx: SymmetricKey) {
        try sessionKeys(peerPublicKey: clientPublicKey) { rx, tx, peer in
            server.secretKey.withUnsafeBytes { secret in
                crypto_kx_server_session_keys(
                    rx, tx, server.publicKey, secret.uint8Pointer, peer)
            }
        }
    }

    private static func sessionKeys(
        peerPublicKey: [UInt8],
        derive: (UnsafeMutablePointer<UInt8>, UnsafeMutablePointer<UInt8>, [UInt8]) -> Int32
    ) throws(CryptoError) -> (rx: SymmetricKey, tx: SymmetricKey) {
        _ = Sodium.ready
        guard peerPublicKey.count == crypto_kx_publickeybytes() else {
            throw .invalidKeyLength(expected: crypto_kx_publickeybytes(), actual: peerPublicKey.count)
        }
        let keyCount = crypto_kx_sessionkeybytes()
        precondition(keyCount == SymmetricKey.byteCount, "crypto_kx session keys must fit XChaCha20-Poly1305")
        var status: Int32 = 0
        var tx: SecretBytes?
        let rx = SecretBytes(count: keyCount) { rxBytes in
            tx = SecretBytes(count: keyCount) { txBytes in
                status = derive(
                    rxBytes.uint8Pointer, txBytes.uint8Pointer,
                    peerPublicKey)
            }
        }
        // "returns -1 if the [peer's] public key is not acceptable" (https://doc.libsodium.org/key_exchange).
        try Sodium.check(status, failure: .invalidPublicKey)
        return (SymmetricKey(secret: rx), SymmetricKey(secret: tx!))
    }
}
