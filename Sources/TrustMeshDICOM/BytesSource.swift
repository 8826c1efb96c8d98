/// A ``ByteSource`` over bytes already in memory.
///
/// An optional `maximumReadSize` caps how many bytes one `read` hands out; tests use `1` to drip-feed the
/// reader one byte at a time.
public struct BytesSource: ByteSource, Sendable {
    /// All the bytes.
    public let bytes: [UInt8]
    /// How many bytes have been read or skipped so far.
    public private(set) var position: Int = 0
    /// The most bytes one `read` or `skip` call hands out.
    public var maximumReadSize: Int

    /// Creates a source that hands out `bytes` in order.
    /// - Parameters:
    ///   - bytes: The input.
    ///   - maximumReadSize: The most bytes one call returns, to exercise callers' handling of short reads.
    public init(_ bytes: [UInt8], maximumReadSize: Int = .max) {
        precondition(maximumReadSize > 0, "maximumReadSize must be positive")
        self.bytes = bytes
        self.maximumReadSize = maximumReadSize
    }

    /// Copies the next bytes into `buffer`.
    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(DICOMError) -> Int {
        let count = min(buffer.count, bytes.count - position, maximumReadSize)
        guard count > 0 else { return 0 }
        bytes.withUnsafeBytes { all in
            buffer.baseAddress!.copyMemory(from: all.baseAddress! + position, byteCount: count)
        }
        position += count
        return count
    }

    /// Moves past up to `count` bytes.
    public mutating func skip(_ count: Int) throws(DICOMError) -> Int {
        let skipped = min(max(count, 0), bytes.count - position, maximumReadSize)
        position += skipped
        return skipped
    }
}
