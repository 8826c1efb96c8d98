internal import CSodium

/// libsodium's one-time initialisation and the single place that turns its status codes into ``CryptoError``.
///
/// "sodium_init() initializes the library and should be called before any other function provided by Sodium.
/// [...] The function returns 0 on success, -1 on failure, and 1 if the library had already been initialized."
/// (https://doc.libsodium.org/usage)
package enum Sodium {
    /// Evaluated once per process (a `static let` is initialised lazily and atomically); every public entry
    /// point of this module evaluates it with `_ = Sodium.ready` before calling libsodium.
    package static let ready: Void = {
        guard sodium_init() >= 0 else {
            // Not bad input: the process cannot do any cryptography at all (e.g. no entropy source).
            fatalError("libsodium failed to initialise: sodium_init() returned -1")
        }
    }()

    /// The chokepoint: libsodium functions return 0 on success and -1 on failure.
    ///
    /// - Parameters:
    ///   - status: The value a libsodium function returned.
    ///   - failure: The error that a failure means for this call (`.badSignature`, `.authenticationFailed`…).
    ///     When `nil`, a failure is reported as `.library(function:)` naming the calling Swift function.
    ///   - function: Filled in by the compiler.
    /// - Throws: `failure`, or ``CryptoError/library(function:)``.
    @inline(__always)
    static func check(
        _ status: Int32,
        failure: CryptoError? = nil,
        function: String = #function
    ) throws(CryptoError) {
        guard status == 0 else { throw failure ?? .library(function: function) }
    }

    /// For calls that libsodium documents as unable to fail on valid arguments (which the caller has already
    /// checked), e.g. `crypto_sign_detached`. A failure here is a broken invariant, not bad input.
    @inline(__always)
    static func mustSucceed(_ status: Int32, function: String = #function) {
        do {
            try check(status, function: function)
        } catch {
            preconditionFailure("\(error)")
        }
    }
}

/// Calls `body` with a typed pointer to `bytes`, substituting a valid one-byte allocation when `bytes` is empty so
/// that libsodium never receives a null pointer (it accepts a zero length but some primitives `memcpy` from it).
@inline(__always)
func withUInt8Pointer<R>(_ bytes: UnsafeRawBufferPointer, _ body: (UnsafePointer<UInt8>) -> R) -> R {
    if let base = bytes.baseAddress {
        return body(base.assumingMemoryBound(to: UInt8.self))
    }
    return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1) { scratch in
        scratch.initialize(repeating: 0)
        return body(UnsafePointer(scratch.baseAddress!))
    }
}

/// Base64 with libsodium's helpers (https://doc.libsodium.org/helpers#base64-encoding-decoding), the original
/// alphabet with padding (`sodium_base64_VARIANT_ORIGINAL`), which is what Python's `base64.b64encode` and
/// Foundation's `base64EncodedString()` produce. Keeps Foundation out of this module.
enum Base64 {
    /// Decodes a key or signature from its `Codable` form, a base64 string, turning a malformed one
    /// into `DecodingError.dataCorrupted` that names the type.
    static func decode<T>(_ decoder: any Decoder, as name: String, _ make: (String) throws(CryptoError) -> T) throws
        -> T
    {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            return try make(text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(name): \(error)")
        }
    }

    /// Encodes a key or signature as its base64 string form.
    static func encode(_ text: String, to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }

    static func encode(_ bytes: [UInt8]) -> String {
        _ = Sodium.ready
        let variant = Int32(sodium_base64_VARIANT_ORIGINAL)
        // The length includes the trailing NUL.
        let capacity = sodium_base64_encoded_len(bytes.count, variant)
        var encoded = [CChar](repeating: 0, count: capacity)
        _ = bytes.withUnsafeBytes { raw in
            withUInt8Pointer(raw) { sodium_bin2base64(&encoded, capacity, $0, raw.count, variant) }
        }
        return String(decoding: encoded.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// - Throws: ``CryptoError/invalidEncoding(reason:)`` for anything that is not canonical padded base64.
    static func decode(_ text: String) throws(CryptoError) -> [UInt8] {
        _ = Sodium.ready
        let characters = Array(text.utf8)
        let capacity = characters.count / 4 * 3 + 3
        var decoded = [UInt8](repeating: 0, count: capacity)
        var decodedCount = 0
        let status = characters.withUnsafeBufferPointer { chars in
            chars.withMemoryRebound(to: CChar.self) { cchars in
                // With b64_end == NULL, sodium_base642bin fails unless the whole input was consumed.
                sodium_base642bin(
                    &decoded, capacity, cchars.baseAddress, cchars.count, nil, &decodedCount, nil,
                    Int32(sodium_base64_VARIANT_ORIGINAL))
            }
        }
        try Sodium.check(status, failure: .invalidEncoding(reason: "not valid base64"))
        decoded.removeSubrange(decodedCount...)
        return decoded
    }
}

/// Lowercase hexadecimal without Foundation.
enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    static func encode(_ bytes: some Collection<UInt8>) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { buffer in
            var index = 0
            for byte in bytes {
                buffer[index] = digits[Int(byte >> 4)]
                buffer[index + 1] = digits[Int(byte & 0x0f)]
                index += 2
            }
            return index
        }
    }

    /// Accepts upper- or lowercase digits.
    /// - Throws: ``CryptoError/invalidEncoding(reason:)`` on an odd length or a non-hex character.
    static func decode(_ text: String) throws(CryptoError) -> [UInt8] {
        let characters = Array(text.utf8)
        guard characters.count.isMultiple(of: 2) else {
            throw .invalidEncoding(reason: "hex string has an odd number of digits")
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity(characters.count / 2)
        var index = 0
        while index < characters.count {
            guard let high = value(of: characters[index]), let low = value(of: characters[index + 1]) else {
                throw .invalidEncoding(reason: "not a hex digit at offset \(index)")
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func value(of character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension UnsafeRawBufferPointer {
    /// The start as `const unsigned char *`, for libsodium's non-null parameters. The buffer must not be empty, and
    /// its memory must be bound to `UInt8` (every buffer in this module is).
    var uint8Pointer: UnsafePointer<UInt8> {
        baseAddress!.assumingMemoryBound(to: UInt8.self)
    }
}

extension UnsafeMutableRawBufferPointer {
    /// The start as `unsigned char *`, for libsodium's non-null parameters. The buffer must not be empty, and its
    /// memory must be bound to `UInt8` (every buffer in this module is).
    var uint8Pointer: UnsafeMutablePointer<UInt8> {
        baseAddress!.assumingMemoryBound(to: UInt8.self)
    }
}
