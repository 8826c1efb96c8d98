internal import CSodium

/// Authenticated encryption with associated data: XChaCha20-Poly1305 (IETF variant).
///
/// Its 192-bit nonces are long enough to pick at random for every message, which ``seal(_:key:associatedData:)``
/// does. See https://doc.libsodium.org/secret-key_cryptography/aead/chacha20-poly1305/xchacha20-poly1305_construction.
///
/// ```swift
/// let key = SymmetricKey()
/// let box = XChaCha20Poly1305.seal(chunk, key: key, associatedData: chunkID.rawBytes)
/// let chunk = try XChaCha20Poly1305.open(box, key: key, associatedData: chunkID.rawBytes)
/// ```
public enum XChaCha20Poly1305 {
    /// The nonce length (`crypto_aead_xchacha20poly1305_ietf_npubbytes()`, 24).
    public static var nonceByteCount: Int { crypto_aead_xchacha20poly1305_ietf_npubbytes() }

    /// The authentication tag length (`crypto_aead_xchacha20poly1305_ietf_abytes()`, 16).
    public static var tagByteCount: Int { crypto_aead_xchacha20poly1305_ietf_abytes() }

    /// Encrypts `plaintext` under a fresh random nonce.
    ///
    /// - Parameters:
    ///   - plaintext: The message.
    ///   - key: The secret key.
    ///   - associatedData: Bytes that are authenticated but not encrypted; ``open(_:key:associatedData:)`` must be
    ///     given the same bytes.
    /// - Returns: `nonce ‖ ciphertext ‖ tag`, that is `plaintext.count + nonceByteCount + tagByteCount` bytes.
    public static func seal(_ plaintext: [UInt8], key: SymmetricKey, associatedData: [UInt8] = []) -> [UInt8] {
        _ = Sodium.ready
        let nonceCount = nonceByteCount
        return [UInt8](unsafeUninitializedCapacity: nonceCount + plaintext.count + tagByteCount) { buffer, count in
            let base = buffer.baseAddress!
            randombytes_buf(base, nonceCount)
            encrypt(plaintext, key: key, nonce: base, associatedData: associatedData, into: base + nonceCount)
            count = buffer.count
        }
    }

    /// Decrypts a box made by ``seal(_:key:associatedData:)``.
    ///
    /// - Parameters:
    ///   - box: `nonce ‖ ciphertext ‖ tag`.
    ///   - key: The key it was sealed with.
    ///   - associatedData: The associated data it was sealed with.
    /// - Returns: The plaintext.
    /// - Throws: ``CryptoError/authenticationFailed`` if anything was altered or is too short to be a box.
    public static func open(_ box: [UInt8], key: SymmetricKey, associatedData: [UInt8] = []) throws(CryptoError)
        -> [UInt8]
    {
        _ = Sodium.ready
        let nonceCount = nonceByteCount
        guard box.count >= nonceCount + tagByteCount else { throw .authenticationFailed }
        return try box.withUnsafeBufferPointer { buffer throws(CryptoError) in
            try decrypt(
                UnsafeBufferPointer(rebasing: buffer[nonceCount...]), key: key, nonce: buffer.baseAddress!,
                associatedData: associatedData)
        }
    }

    /// Encrypts `plaintext` under a caller-chosen nonce.
    ///
    /// - Warning: Never use a nonce twice with the same key: that reveals the XOR of the plaintexts and lets the
    ///   authenticator be forged. Prefer ``seal(_:key:associatedData:)`` unless the nonce is derived from a counter.
    /// - Parameters:
    ///   - plaintext: The message.
    ///   - key: The secret key.
    ///   - nonce: Exactly ``nonceByteCount`` bytes.
    ///   - associatedData: Bytes that are authenticated but not encrypted.
    /// - Returns: `ciphertext ‖ tag` (the nonce is not included).
    /// - Throws: ``CryptoError/invalidLength(expected:actual:)`` for a nonce of the wrong length.
    public static func seal(
        _ plaintext: [UInt8],
        key: SymmetricKey,
        nonce: [UInt8],
        associatedData: [UInt8] = []
    ) throws(CryptoError) -> [UInt8] {
        _ = Sodium.ready
        guard nonce.count == nonceByteCount else {
            throw .invalidLength(expected: nonceByteCount, actual: nonce.count)
        }
        return [UInt8](unsafeUninitializedCapacity: plaintext.count + tagByteCount) { buffer, count in
            encrypt(plaintext, key: key, nonce: nonce, associatedData: associatedData, into: buffer.baseAddress!)
            count = buffer.count
        }
    }

    /// Decrypts `ciphertext ‖ tag` made by ``seal(_:key:nonce:associatedData:)``.
    ///
    /// - Parameters:
    ///   - ciphertext: `ciphertext ‖ tag`.
    ///   - key: The key it was sealed with.
    ///   - nonce: The nonce it was sealed with.
    ///   - associatedData: The associated data it was sealed with.
    /// - Returns: The plaintext.
    /// - Throws: ``CryptoError/authenticationFailed`` if anything was altered, or
    ///   ``CryptoError/invalidLength(expected:actual:)`` for a nonce of the wrong length.
    public static func open(
        _ ciphertext: [UInt8],
        key: SymmetricKey,
        nonce: [UInt8],
        associatedData: [UInt8] = []
    ) throws(CryptoError) -> [UInt8] {
        _ = Sodium.ready
        guard nonce.count == nonceByteCount else {
            throw .invalidLength(expected: nonceByteCount, actual: nonce.count)
        }
        guard ciphertext.count >= tagByteCount else { throw .authenticationFailed }
        return try ciphertext.withUnsafeBufferPointer { buffer throws(CryptoError) in
            try decrypt(buffer, key: key, nonce: nonce, associatedData: associatedData)
        }
    }

    /// Encrypts `plaintext` under a caller-chosen nonce into caller memory, for hot paths that
    /// assemble many sealed frames in one buffer. Same rules as ``seal(_:key:nonce:associatedData:)``.
    /// - Parameter output: At least `plaintext.count + tagByteCount` bytes; receives `ciphertext ‖ tag`.
    ///   It may start exactly where `plaintext` starts (encryption in place); no other overlap.
    public static func seal(
        _ plaintext: UnsafeRawBufferPointer, key: SymmetricKey, nonce: [UInt8], associatedData: [UInt8],
        into output: UnsafeMutableRawBufferPointer
    ) throws(CryptoError) {
        _ = Sodium.ready
        guard nonce.count == nonceByteCount else {
            throw .invalidLength(expected: nonceByteCount, actual: nonce.count)
        }
        precondition(output.count >= plaintext.count + tagByteCount, "output too small for the sealed message")
        let status = key.withUnsafeBytes { keyBytes in
            crypto_aead_xchacha20poly1305_ietf_encrypt(
                output.baseAddress!.assumingMemoryBound(to: UInt8.self), nil,
                plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(plaintext.count), associatedData,
                UInt64(associatedData.count), nil, nonce, keyBytes.uint8Pointer)
        }
        Sodium.mustSucceed(status)
    }

    /// Decrypts `ciphertext ‖ tag` into caller memory. If it does not authenticate, libsodium zeroes
    /// the output's first `sealed.count - tagByteCount` bytes: no unauthenticated plaintext is released.
    /// - Parameters:
    ///   - sealed: `ciphertext ‖ tag`.
    ///   - nonce: Exactly ``nonceByteCount`` bytes.
    ///   - output: At least `sealed.count - tagByteCount` bytes.
    /// - Returns: The plaintext's length.
    /// - Throws: ``CryptoError/authenticationFailed`` if anything was altered (or `sealed` is shorter
    ///   than a tag), ``CryptoError/invalidLength(expected:actual:)`` for a nonce of the wrong length.
    public static func open(
        _ sealed: UnsafeRawBufferPointer, key: SymmetricKey, nonce: UnsafeRawBufferPointer, associatedData: [UInt8],
        into output: UnsafeMutableRawBufferPointer
    ) throws(CryptoError) -> Int {
        _ = Sodium.ready
        guard nonce.count == nonceByteCount else {
            throw .invalidLength(expected: nonceByteCount, actual: nonce.count)
        }
        guard sealed.count >= tagByteCount, let input = sealed.baseAddress else { throw .authenticationFailed }
        let plaintextCount = sealed.count - tagByteCount
        precondition(output.count >= plaintextCount, "output too small for the opened message")
        let status = key.withUnsafeBytes { keyBytes in
            crypto_aead_xchacha20poly1305_ietf_decrypt(
                output.baseAddress!.assumingMemoryBound(to: UInt8.self), nil, nil,
                input.assumingMemoryBound(to: UInt8.self), UInt64(sealed.count), associatedData,
                UInt64(associatedData.count), nonce.baseAddress!.assumingMemoryBound(to: UInt8.self),
                keyBytes.uint8Pointer)
        }
        try Sodium.check(status, failure: .authenticationFailed)
        return plaintextCount
    }

    /// Writes `plaintext.count + tagByteCount` bytes at `output`.
    private static func encrypt(
        _ plaintext: [UInt8],
        key: SymmetricKey,
        nonce: UnsafePointer<UInt8>,
        associatedData: [UInt8],
        into output: UnsafeMutablePointer<UInt8>
    ) {
        let status = key.withUnsafeBytes { keyBytes in
            // nsec is unused by this construction and must be NULL; clen_p may be NULL.
            crypto_aead_xchacha20poly1305_ietf_encrypt(
                output, nil, plaintext, UInt64(plaintext.count), associatedData, UInt64(associatedData.count), nil,
                nonce, keyBytes.uint8Pointer)
        }
        Sodium.mustSucceed(status)
    }

    /// Decrypts `ciphertext ‖ tag`, which the caller has checked holds at least a tag.
    private static func decrypt(
        _ ciphertext: UnsafeBufferPointer<UInt8>,
        key: SymmetricKey,
        nonce: UnsafePointer<UInt8>,
        associatedData: [UInt8]
    ) throws(CryptoError) -> [UInt8] {
        let plaintextCount = ciphertext.count - tagByteCount
        var status: Int32 = 0
        // Capacity of at least 1 so the output pointer is never null, even for an empty plaintext.
        let plaintext = [UInt8](unsafeUninitializedCapacity: max(plaintextCount, 1)) { buffer, count in
            status = key.withUnsafeBytes { keyBytes in
                crypto_aead_xchacha20poly1305_ietf_decrypt(
                    buffer.baseAddress!, nil, nil, ciphertext.baseAddress!, UInt64(ciphertext.count), associatedData,
                    UInt64(associatedData.count), nonce, keyBytes.uint8Pointer)
            }
            // "If the authentication tag doesn't verify, the function returns -1 without decrypting anything"
            // (libsodium XChaCha20-Poly1305 page); the array is then left empty and discarded.
            count = status == 0 ? plaintextCount : 0
        }
        try Sodium.check(status, failure: .authenticationFailed)
        return plaintext
    }
}
