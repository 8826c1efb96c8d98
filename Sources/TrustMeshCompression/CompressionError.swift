/// The one error type of `TrustMeshCompression`.
///
/// A struct with a private code so that adding a case breaks no caller. Compare with `==`:
///
/// ```swift
/// #expect(throws: CompressionError.outputLimitExceeded(limit: 1 << 20)) { ... }
/// ```
public struct CompressionError: Error, CustomStringConvertible, Sendable, Equatable {
    private enum Code: Sendable, Equatable {
        case outputLimitExceeded(limit: Int)
        case corrupt(reason: String)
        case truncated
        case library(function: String, name: String)
    }

    private let code: Code

    private init(_ code: Code) {
        self.code = code
    }

    /// Decompression stopped because the output would have exceeded the caller's ceiling. Nothing beyond the
    /// ceiling (plus at most one internal buffer) was allocated.
    /// - Parameter limit: The ceiling, in bytes, that was passed in.
    public static func outputLimitExceeded(limit: Int) -> CompressionError {
        CompressionError(.outputLimitExceeded(limit: limit))
    }

    /// The input is not a valid zstd frame, fails its checksum, or has bytes after the frame.
    /// - Parameter reason: zstd's error name (`ZSTD_getErrorName`) or a short explanation.
    public static func corrupt(reason: String) -> CompressionError {
        CompressionError(.corrupt(reason: reason))
    }

    /// The input ended before the frame did.
    public static let truncated = CompressionError(.truncated)

    /// zstd reported an error that is not about the input data (e.g. out of memory, wrong pledged size).
    /// - Parameters:
    ///   - function: The Swift function that made the call.
    ///   - name: zstd's error name (`ZSTD_getErrorName`).
    public static func library(function: String, name: String) -> CompressionError {
        CompressionError(.library(function: function, name: name))
    }

    /// A human-readable explanation; it never contains the data.
    public var description: String {
        switch code {
        case .outputLimitExceeded(let limit):
            "decompressed output exceeds the limit of \(limit) bytes"
        case .corrupt(let reason):
            "corrupt zstd data: \(reason)"
        case .truncated:
            "truncated zstd frame"
        case .library(let function, let name):
            "zstd call failed in \(function): \(name)"
        }
    }

    /// Lets `catch CompressionError.truncated` match when the thrown error is untyped (`any Error`).
    public static func ~= (pattern: CompressionError, value: any Error) -> Bool {
        (value as? CompressionError) == pattern
    }
}
