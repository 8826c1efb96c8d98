internal import CZstd

/// A reusable zstd decompression context with an output ceiling, for one frame at a time: whole
/// (``decompress(_:limit:)-(UnsafeRawBufferPointer,_)``) or streamed (``begin(limit:)``, ``feed(_:into:)``,
/// ``finish()``).
///
/// Input is untrusted. The output never grows past the caller's `limit` (plus one internal buffer of
/// `ZSTD_DStreamOutSize()`, about 128 KiB), whatever the frame header claims, and the window is capped at
/// 2^``windowLogMax`` bytes so a frame cannot make the decoder allocate more. Not `Sendable`: use one decompressor
/// per task.
///
/// ```swift
/// let decompressor = ZstdDecompressor()
/// let chunk = try decompressor.decompress(frame, limit: 4 << 20)
/// ```
///
/// See https://facebook.github.io/zstd/zstd_manual.html.
public final class ZstdDecompressor {
    /// The largest window accepted, as a power of two: 27, i.e. 128 MiB, zstd's own default ceiling for frames it
    /// did not write itself (`ZSTD_WINDOWLOG_LIMIT_DEFAULT`), set explicitly so it cannot drift.
    public static let windowLogMax: Int32 = 27

    /// The most capacity reserved up front from a frame header's claimed size; larger outputs grow as they decode.
    private static let maxReservation = 64 << 20

    private enum StreamState {
        case idle
        case decoding(produced: Int, limit: Int)
        case complete(produced: Int, limit: Int)
    }

    private let context: OpaquePointer
    private let outputBuffer: UnsafeMutableRawBufferPointer
    private var state = StreamState.idle

    /// Creates a context.
    public init() {
        // "ZSTD_createDCtx() [...] return NULL" only when allocation fails, like any Swift allocation.
        guard let context = ZSTD_createDCtx() else { fatalError("ZSTD_createDCtx: out of memory") }
        self.context = context
        // "ZSTD_d_windowLogMax: Select a size limit (in power of 2) beyond which the streaming API will refuse to
        // allocate memory buffer in order to protect the host from unreasonable memory requirements." (zstd.h)
        zstdMustSucceed(ZSTD_DCtx_setParameter(context, ZSTD_d_windowLogMax, Self.windowLogMax))
        outputBuffer = .allocate(byteCount: ZSTD_DStreamOutSize(), alignment: 16)
    }

    deinit {
        // "ZSTD_freeDCtx() : [...] accepts NULL pointer" (zstd.h); the context is ours alone.
        ZSTD_freeDCtx(context)
        outputBuffer.deallocate()
    }

    /// Decompresses exactly one frame, refusing to produce more than `limit` bytes.
    ///
    /// A content size in the frame header above `limit` is refused before any decoding. Otherwise the header's
    /// size is only a capacity hint (capped at `limit`); the ceiling is enforced on the bytes actually produced.
    /// Abandons any streamed frame in progress.
    /// - Parameters:
    ///   - input: One complete frame and nothing after it.
    ///   - limit: The most output to accept, in bytes.
    /// - Returns: The data.
    /// - Throws: ``CompressionError/outputLimitExceeded(limit:)``, ``CompressionError/truncated`` or
    ///   ``CompressionError/corrupt(reason:)``.
    public func decompress(_ input: UnsafeRawBufferPointer, limit: Int) throws(CompressionError) -> [UInt8] {
        precondition(limit >= 0, "limit must not be negative")
        state = .idle
        // The common case, a frame that declares its size within the limit, decodes in one call straight
        // into an array of that size.
        if let base = input.baseAddress, case let declared = ZSTD_getFrameContentSize(base, input.count),
            declared < UInt64.max - 1, declared <= UInt64(limit), declared <= UInt64(Self.maxReservation)
        {
            var failure: CompressionError?
            let size = Int(declared)
            let output = [UInt8](unsafeUninitializedCapacity: max(size, 1)) { buffer, count in
                let space = UnsafeMutableRawBufferPointer(buffer)
                do throws(CompressionError) {
                    count = try decompress(input, into: UnsafeMutableRawBufferPointer(rebasing: space[..<size]))
                } catch {
                    failure = error
                    count = 0
                }
            }
            if let failure { throw failure }
            return output
        }
        var output = [UInt8]()
        if let base = input.baseAddress {
            // "ZSTD_getFrameContentSize() [...] @return : decompressed size of `src` frame content, if known;
            // ZSTD_CONTENTSIZE_UNKNOWN if the size cannot be determined; ZSTD_CONTENTSIZE_ERROR if an error
            // occurred" (zstd.h). Errors are left for the decoder to report precisely.
            let declared = ZSTD_getFrameContentSize(base, input.count)
            if declared < UInt64.max - 1 {
                guard declared <= UInt64(limit) else { throw .outputLimitExceeded(limit: limit) }
                // Only a hint: a caller may pass a huge limit, and the header is untrusted until decoded.
                output.reserveCapacity(Int(min(declared, UInt64(Self.maxReservation))))
            }
        }
        try zstdCheck(ZSTD_DCtx_reset(context, ZSTD_reset_session_only))
        state = .decoding(produced: 0, limit: limit)
        do throws(CompressionError) {
            try decode(input) { piece in
                output.append(contentsOf: piece)
                return true
            }
            try finish()
        } catch {
            state = .idle
            throw error
        }
        return output
    }

    /// Decompresses exactly one frame into caller memory, whose size is the ceiling: the form for hot
    /// paths that reuse one buffer (a fetch verifying chunks). Same checks and errors as
    /// ``decompress(_:limit:)-(UnsafeRawBufferPointer,_)`` with `limit: output.count`.
    /// - Returns: How many bytes were written at the start of `output`.
    public func decompress(
        _ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer
    ) throws(CompressionError) -> Int {
        state = .idle
        if let base = input.baseAddress, let destination = output.baseAddress {
            let declared = ZSTD_getFrameContentSize(base, input.count)
            if declared < UInt64.max - 1 {
                guard declared <= UInt64(output.count) else { throw .outputLimitExceeded(limit: output.count) }
                // One frame exactly, then one call ("ZSTD_decompressDCtx [...] dstCapacity is an upper bound of
                // originalSize to regenerate", zstd.h): it never writes past `output`.
                if ZSTD_findFrameCompressedSize(base, input.count) == input.count {
                    let produced = ZSTD_decompressDCtx(context, destination, output.count, base, input.count)
                    if ZSTD_isError(produced) == 0 && UInt64(produced) == declared { return produced }
                }
            }
        }
        // Unknown size or a bad frame: the streaming decoder reports exactly what is wrong.
        try zstdCheck(ZSTD_DCtx_reset(context, ZSTD_reset_session_only))
        state = .decoding(produced: 0, limit: output.count)
        var written = 0
        do throws(CompressionError) {
            try decode(input) { piece in
                UnsafeMutableRawBufferPointer(rebasing: output[written..<(written + piece.count)]).copyMemory(
                    from: piece)
                written += piece.count
                return true
            }
            try finish()
        } catch {
            state = .idle
            throw error
        }
        return written
    }

    /// Decompresses exactly one frame, refusing to produce more than `limit` bytes.
    /// - Parameters:
    ///   - input: One complete frame and nothing after it.
    ///   - limit: The most output to accept, in bytes.
    /// - Returns: The data.
    /// - Throws: ``CompressionError/outputLimitExceeded(limit:)``, ``CompressionError/truncated`` or
    ///   ``CompressionError/corrupt(reason:)``.
    public func decompress(_ input: [UInt8], limit: Int) throws(CompressionError) -> [UInt8] {
        var result: Result<[UInt8], CompressionError> = .success([])
        input.withUnsafeBytes { bytes in
            result = Result { () throws(CompressionError) in try decompress(bytes, limit: limit) }
        }
        return try result.get()
    }

    /// Starts decoding a streamed frame, abandoning any frame in progress.
    /// - Parameter limit: The most output to accept over the whole frame, in bytes.
    public func begin(limit: Int) {
        precondition(limit >= 0, "limit must not be negative")
        // "ZSTD_reset_session_only: [...] Useful after an error" (zstd.h): after a failed call the context's
        // state is undefined until it is reset.
        zstdMustSucceed(ZSTD_DCtx_reset(context, ZSTD_reset_session_only))
        state = .decoding(produced: 0, limit: limit)
    }

    /// Decodes the next piece of compressed input, in any split: whole, byte by byte, or at random boundaries.
    ///
    /// `output` may be called zero or more times, each with at most `ZSTD_DStreamOutSize()` bytes that are valid
    /// only during the call. Output already delivered stays delivered if a later piece turns out to be bad.
    /// - Parameters:
    ///   - input: The next compressed bytes.
    ///   - output: Receives decompressed bytes, in order.
    /// - Throws: ``CompressionError/outputLimitExceeded(limit:)``, ``CompressionError/corrupt(reason:)`` (including
    ///   bytes after the end of the frame), or whatever `output` throws. After an error, call ``begin(limit:)``
    ///   before decoding again.
    public func feed(_ input: UnsafeRawBufferPointer, into output: (UnsafeRawBufferPointer) throws -> Void) throws {
        var outputError: (any Error)?
        do throws(CompressionError) {
            try decode(input) { piece in
                do {
                    try output(piece)
                    return true
                } catch {
                    outputError = error
                    return false
                }
            }
        } catch {
            state = .idle
            throw error
        }
        if let outputError {
            state = .idle
            throw outputError
        }
    }

    /// Confirms that the frame ended.
    /// - Throws: ``CompressionError/truncated`` if the input stopped before the end of the frame.
    public func finish() throws(CompressionError) {
        switch state {
        case .idle:
            preconditionFailure("ZstdDecompressor.finish called without begin(limit:)")
        case .decoding:
            state = .idle
            throw .truncated
        case .complete:
            state = .idle
        }
    }

    /// Runs `ZSTD_decompressStream` until `input` is consumed and everything decodable has been handed to `output`,
    /// or until `output` returns `false` (it failed; the caller holds its error).
    private func decode(
        _ input: UnsafeRawBufferPointer,
        output: (UnsafeRawBufferPointer) -> Bool
    ) throws(CompressionError) {
        var (produced, limit): (Int, Int)
        switch state {
        case .idle:
            preconditionFailure("ZstdDecompressor.feed called without begin(limit:)")
        case .complete:
            guard input.isEmpty else { throw .corrupt(reason: "bytes after the end of the frame") }
            return
        case .decoding(let producedSoFar, let ceiling):
            (produced, limit) = (producedSoFar, ceiling)
        }

        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        while true {
            var outBuffer = ZSTD_outBuffer(dst: outputBuffer.baseAddress, size: outputBuffer.count, pos: 0)
            let consumedBefore = inBuffer.pos
            // Every failure here concerns the input: a bad header, block or checksum, or a window above
            // windowLogMax.
            let hint = try zstdCheck(ZSTD_decompressStream(context, &outBuffer, &inBuffer), dataError: true)
            if outBuffer.pos > 0 {
                guard outBuffer.pos <= limit - produced else { throw .outputLimitExceeded(limit: limit) }
                produced += outBuffer.pos
                state = .decoding(produced: produced, limit: limit)
                guard output(UnsafeRawBufferPointer(rebasing: outputBuffer[..<outBuffer.pos])) else { return }
            }
            // "@return : 0 when a frame is completely decoded and fully flushed" (zstd.h).
            if hint == 0 {
                state = .complete(produced: produced, limit: limit)
                guard inBuffer.pos == inBuffer.size else { throw .corrupt(reason: "bytes after the end of the frame") }
                return
            }
            // "If output.pos < output.size, decoder has flushed everything it could" (zstd.h): with the input also
            // used up, it needs more input.
            if inBuffer.pos == inBuffer.size && outBuffer.pos < outBuffer.size {
                return
            }
            // zstd always makes progress when it has room and input; guard against a loop all the same.
            if outBuffer.pos == 0 && inBuffer.pos == consumedBefore {
                throw .corrupt(reason: "decoder made no progress")
            }
        }
    }
}

@available(*, unavailable, message: "A ZstdDecompressor owns a ZSTD_DCtx, which one thread at a time may use.")
extension ZstdDecompressor: Sendable {}
