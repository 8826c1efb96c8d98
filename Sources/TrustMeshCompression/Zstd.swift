internal import CZstd

/// One-shot zstd compression and bounded decompression of byte arrays.
///
/// Each call makes a fresh context; reuse a ``ZstdCompressor`` or ``ZstdDecompressor`` on hot paths.
///
/// ```swift
/// let frame = try Zstd.compress(chunk)
/// let chunk = try Zstd.decompress(frame, limit: 4 << 20)
/// ```
public enum Zstd {
    /// Compresses `bytes` into one zstd frame that records its content size and a checksum.
    ///
    /// - Parameters:
    ///   - bytes: The data.
    ///   - level: The zstd compression level; 1 is fast, 19 is small. Out-of-range levels are clamped.
    /// - Returns: The frame.
    /// - Throws: ``CompressionError/library(function:name:)`` if zstd fails (e.g. out of memory).
    public static func compress(_ bytes: [UInt8], level: Int32 = 1) throws(CompressionError) -> [UInt8] {
        try ZstdCompressor(level: level).compress(bytes)
    }

    /// Decompresses exactly one zstd frame, refusing to produce more than `limit` bytes.
    ///
    /// - Parameters:
    ///   - bytes: One complete frame and nothing after it.
    ///   - limit: The most output to accept, in bytes.
    /// - Returns: The data.
    /// - Throws: ``CompressionError/outputLimitExceeded(limit:)``, ``CompressionError/truncated`` or
    ///   ``CompressionError/corrupt(reason:)``.
    public static func decompress(_ bytes: [UInt8], limit: Int) throws(CompressionError) -> [UInt8] {
        try ZstdDecompressor().decompress(bytes, limit: limit)
    }
}

/// The chokepoint for zstd's `size_t` results: "an error code, which can be tested using ZSTD_isError()"
/// (zstd.h). Returns the result when it is not an error.
///
/// - Parameters:
///   - result: What a zstd function returned.
///   - dataError: Whether a failure here is about the input data (decoding), which is reported as
///     ``CompressionError/corrupt(reason:)``; otherwise it is ``CompressionError/library(function:name:)``.
///   - function: Filled in by the compiler.
@inline(__always)
@discardableResult
func zstdCheck(_ result: Int, dataError: Bool = false, function: String = #function) throws(CompressionError) -> Int {
    guard ZSTD_isError(result) != 0 else { return result }
    let name = String(cString: ZSTD_getErrorName(result))
    throw dataError ? .corrupt(reason: name) : .library(function: function, name: name)
}

/// For calls that cannot fail with valid arguments (setting a supported parameter, resetting a context).
@inline(__always)
func zstdMustSucceed(_ result: Int, function: String = #function) {
    do {
        try zstdCheck(result, function: function)
    } catch {
        preconditionFailure("\(error)")
    }
}
