/// The one error type of `TrustMeshCrypto`.
///
/// A struct with a private code so that adding a case breaks no caller. Compare with `==` against the static
/// members, or use them as patterns in `catch`:
///
/// ```swift
/// do {
///     try key.verify(signature, for: message)
/// } catch CryptoError.badSignature {
///     // refuse and audit
/// }
/// ```
///
/// `description` never contains key material, plaintext or ciphertext.
public struct CryptoError: Error, CustomStringConvertible, Sendable, Equatable {
    private enum Code: Sendable, Equatable {
        case badSignature
        case authenticationFailed
        case invalidKeyLength(expected: Int, actual: Int)
        case invalidLength(expected: Int, actual: Int)
        case invalidPublicKey
        case invalidEncoding(reason: String)
        case keyFile(path: String, reason: String)
        case library(function: String)
    }

    private let code: Code

    private init(_ code: Code) {
        self.code = code
    }

    /// A signature did not verify for the given message and key.
    public static let badSignature = CryptoError(.badSignature)

    /// Authenticated decryption failed: the ciphertext, nonce, associated data or key is wrong, or the input
    /// was too short to be a ciphertext at all.
    public static let authenticationFailed = CryptoError(.authenticationFailed)

    /// Key material of the wrong length.
    /// - Parameters:
    ///   - expected: The length the primitive requires.
    ///   - actual: The length supplied.
    public static func invalidKeyLength(expected: Int, actual: Int) -> CryptoError {
        CryptoError(.invalidKeyLength(expected: expected, actual: actual))
    }

    /// A signature, digest or nonce of the wrong length.
    /// - Parameters:
    ///   - expected: The length the type requires.
    ///   - actual: The length supplied.
    public static func invalidLength(expected: Int, actual: Int) -> CryptoError {
        CryptoError(.invalidLength(expected: expected, actual: actual))
    }

    /// An X25519 public key that no honest party could hold (a low-order point), or a key-exchange public key
    /// that libsodium refused.
    public static let invalidPublicKey = CryptoError(.invalidPublicKey)

    /// Text that is not valid base64 or hex.
    /// - Parameter reason: What was wrong; never includes the input.
    public static func invalidEncoding(reason: String) -> CryptoError {
        CryptoError(.invalidEncoding(reason: reason))
    }

    /// A key file could not be written or read, or was refused (exists already, too-open permissions, wrong
    /// size or kind).
    /// - Parameters:
    ///   - path: The file's path.
    ///   - reason: What went wrong, e.g. `"mode 0644 lets group or others read it; run chmod 600"`.
    public static func keyFile(path: String, reason: String) -> CryptoError {
        CryptoError(.keyFile(path: path, reason: reason))
    }

    /// libsodium reported a failure that the API does not attribute to its input.
    /// - Parameter function: The Swift function that made the call.
    public static func library(function: String) -> CryptoError {
        CryptoError(.library(function: function))
    }

    /// A human-readable explanation that never contains secrets.
    public var description: String {
        switch code {
        case .badSignature:
            "bad signature"
        case .authenticationFailed:
            "authentication failed"
        case .invalidKeyLength(let expected, let actual):
            "invalid key length: expected \(expected) bytes, got \(actual)"
        case .invalidLength(let expected, let actual):
            "invalid length: expected \(expected) bytes, got \(actual)"
        case .invalidPublicKey:
            "invalid public key"
        case .invalidEncoding(let reason):
            "invalid encoding: \(reason)"
        case .keyFile(let path, let reason):
            "key file \(path): \(reason)"
        case .library(let function):
            "libsodium call failed in \(function)"
        }
    }

    /// Lets `catch CryptoError.badSignature` match when the thrown error is untyped (`any Error`).
    public static func ~= (pattern: CryptoError, value: any Error) -> Bool {
        (value as? CryptoError) == pattern
    }
}
