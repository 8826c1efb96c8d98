internal import CZstd

/// A reusable zstd compression context, for one frame at a time: whole (``compress(_:)-(UnsafeRawBufferPointer)``)
/// or streamed (``begin(pledgedSize:)``, ``feed(_:into:)``, ``finish(into:)``).
///
/// Frames carry a content checksum, and their content size when it is known (always, for one-shot frames). Not
/// `Sendable`: use one compressor per task.
///
/// ```swift
/// let compressor = ZstdCompressor(level: 3)
/// try compressor.begin()
/// for piece in pieces {
///     try piece.withUnsafeBytes { try compressor.feed($0) { try file.write($0) } }
/// }
/// try compressor.finish { try file.write($0) }
/// ```
///
/// Streaming memory is bounded: output is handed over in pieces of at most `ZSTD_CStreamOutSize()` bytes
/// (about 128 KiB), whatever the input size. See https://facebook.github.io/zstd/zstd_manual.html.
public final class ZstdCompressor {
    private let context: OpaquePointer
    private let outputBuffer: UnsafeMutableRawBufferPointer
    private var inFrame = false

    /// Creates a context at `level`.
    /// - Parameter level: The zstd compression level; 1 is fast, 19 is small, negative levels are faster still.
    ///   Out-of-range levels are clamped by zstd.
    public init(level: Int32 = 1) {
        // "ZSTD_createCCtx() [...] return NULL" only when allocation fails, like any Swift allocation.
        guard let context = ZSTD_createCCtx() else { fatalError("ZSTD_createCCtx: out of memory") }
        self.context = context
        zstdMustSucceed(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level))
        // "A 32-bits checksum of content is written at end of frame (default:0)" (zstd.h): lets the decoder detect
        // corruption that still parses.
        zstdMustSucceed(ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1))
        zstdMustSucceed(ZSTD_CCtx_setParameter(context, ZSTD_c_contentSizeFlag, 1))
        outputBuffer = .allocate(byteCount: ZSTD_CStreamOutSize(), alignment: 16)
    }

    deinit {
        // "ZSTD_freeCCtx() : [...] compatible with NULL pointer" (zstd.h); the context is ours alone.
        ZSTD_freeCCtx(context)
        outputBuffer.deallocate()
    }

    /// Compresses `input` into one frame that records its content size (`ZSTD_compress2`).
    ///
    /// Abandons any streamed frame in progress.
    /// - Parameter input: The data.
    /// - Returns: The frame.
    /// - Throws: ``CompressionError/library(function:name:)`` if zstd fails.
    public func compress(_ input: UnsafeRawBufferPointer) throws(CompressionError) -> [UInt8] {
        inFrame = false
        // "ZSTD_compress2() always starts a new frame", so no reset is needed.
        let bound = ZSTD_compressBound(input.count)
        var result = 0
        var frame = [UInt8](unsafeUninitializedCapacity: bound) { buffer, initialized in
            // With dstCapacity >= ZSTD_compressBound(srcSize), "compression runs faster" and cannot run out of room.
            result = ZSTD_compress2(context, buffer.baseAddress, buffer.count, input.baseAddress, input.count)
            initialized = ZSTD_isError(result) != 0 ? 0 : result
        }
        try zstdCheck(result)
        if frame.capacity > frame.count * 2 + 4096 {
            frame = Array(frame)  // release the slack of a well-compressed input
        }
        return frame
    }

    /// Compresses `input` into one frame that records its content size (`ZSTD_compress2`).
    /// - Parameter input: The data.
    /// - Returns: The frame.
    /// - Throws: ``CompressionError/library(function:name:)`` if zstd fails.
    public func compress(_ input: [UInt8]) throws(CompressionError) -> [UInt8] {
        var result: Result<[UInt8], CompressionError> = .success([])
        input.withUnsafeBytes { bytes in
            result = Result { () throws(CompressionError) in try compress(bytes) }
        }
        return try result.get()
    }

    /// Starts a new streamed frame, abandoning any frame in progress.
    ///
    /// - Parameter pledgedSize: The total number of bytes that will be fed, if known; it is recorded in the frame
    ///   header and ``finish(into:)`` fails if a different amount was fed.
    /// - Throws: ``CompressionError/library(function:name:)`` if zstd refuses.
    public func begin(pledgedSize: Int? = nil) throws(CompressionError) {
        // "ZSTD_reset_session_only: [...] Useful after an error, or to interrupt any ongoing compression" (zstd.h).
        try zstdCheck(ZSTD_CCtx_reset(context, ZSTD_reset_session_only))
        if let pledgedSize {
            precondition(pledgedSize >= 0, "pledgedSize must not be negative")
            try zstdCheck(ZSTD_CCtx_setPledgedSrcSize(context, UInt64(pledgedSize)))
        }
        inFrame = true
    }

    /// Compresses the next piece of the frame started by ``begin(pledgedSize:)``.
    ///
    /// `output` may be called zero or more times, each with at most `ZSTD_CStreamOutSize()` bytes that are valid
    /// only during the call; zstd buffers input internally, so small pieces often produce no output yet.
    /// - Parameters:
    ///   - input: The next bytes of the data.
    ///   - output: Receives compressed bytes, in order.
    /// - Throws: ``CompressionError``, or whatever `output` throws (after which the frame is abandoned).
    public func feed(_ input: UnsafeRawBufferPointer, into output: (UnsafeRawBufferPointer) throws -> Void) throws {
        precondition(inFrame, "ZstdCompressor.feed called without begin()")
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        while inBuffer.pos < inBuffer.size {
            try step(&inBuffer, directive: ZSTD_e_continue, output: output)
        }
    }

    /// Ends the frame: flushes everything zstd still holds, then the frame epilogue and checksum.
    ///
    /// - Parameter output: Receives the remaining compressed bytes, in order.
    /// - Throws: ``CompressionError`` (e.g. the fed size differs from the pledged size), or whatever `output` throws.
    public func finish(into output: (UnsafeRawBufferPointer) throws -> Void) throws {
        precondition(inFrame, "ZstdCompressor.finish called without begin()")
        var inBuffer = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        // With ZSTD_e_end, "@return [...] minimal estimation of the size of remaining data to flush [...] or 0 if
        // [the frame is] fully flushed" (zstd.h).
        while try step(&inBuffer, directive: ZSTD_e_end, output: output) != 0 {}
        inFrame = false
    }

    /// One `ZSTD_compressStream2` call into the owned buffer, handing any output to `output`.
    @discardableResult
    private func step(
        _ inBuffer: inout ZSTD_inBuffer,
        directive: ZSTD_EndDirective,
        output: (UnsafeRawBufferPointer) throws -> Void
    ) throws -> Int {
        var outBuffer = ZSTD_outBuffer(dst: outputBuffer.baseAddress, size: outputBuffer.count, pos: 0)
        let remaining: Int
        do {
            remaining = try zstdCheck(ZSTD_compressStream2(context, &outBuffer, &inBuffer, directive))
        } catch {
            inFrame = false
            throw error
        }
        if outBuffer.pos > 0 {
            do {
                try output(UnsafeRawBufferPointer(rebasing: outputBuffer[..<outBuffer.pos]))
            } catch {
                inFrame = false
                throw error
            }
        }
        return remaining
    }
}

@available(*, unavailable, message: "A ZstdCompressor owns a ZSTD_CCtx, which one thread at a time may use.")
extension ZstdCompressor: Sendable {}
