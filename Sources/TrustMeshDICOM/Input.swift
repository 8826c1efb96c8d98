/// A buffered cursor over a ``ByteSource`` that knows its absolute byte offset and decodes numbers.
///
/// The buffer holds at most `capacity` bytes; the parser only ever needs a few header bytes contiguous
/// (at most 132, the preamble and prefix), and reads or skips values through it in pieces, so memory stays
/// bounded whatever the lengths in the file say.
struct Input<Source: ByteSource>: ByteSource {
    var source: Source
    private let storage: ReadBuffer
    /// Index of the next unread byte in `storage`.
    private var start = 0
    /// Index after the last valid byte in `storage`.
    private var end = 0
    /// Absolute offset of `storage[start]`.
    private(set) var offset: Int
    /// Set once `source` has returned 0.
    private var sourceEnded = false

    init(source: Source, startOffset: Int = 0, capacity: Int = 16 * 1024) {
        self.source = source
        self.storage = ReadBuffer(capacity: capacity)
        self.offset = startOffset
    }

    /// Bytes buffered and not yet consumed.
    var available: Int { end - start }

    /// Makes `count` bytes (at most the capacity) available contiguously.
    /// - Returns: false if the input ends first; `available` then tells how many there are.
    @inline(__always)
    mutating func ensure(_ count: Int) throws(DICOMError) -> Bool {
        if end - start >= count { return true }
        return try fill(count)
    }

    private mutating func fill(_ count: Int) throws(DICOMError) -> Bool {
        precondition(count <= storage.capacity, "ensure beyond the buffer's capacity")
        if start > 0 {
            let kept = end - start
            if kept > 0 {
                storage.base.copyMemory(from: storage.base + start, byteCount: kept)
            }
            start = 0
            end = kept
        }
        while end < count && !sourceEnded {
            let room = UnsafeMutableRawBufferPointer(start: storage.base + end, count: storage.capacity - end)
            let got = try source.read(into: room)
            if got == 0 { sourceEnded = true } else { end += got }
        }
        return end >= count
    }

    /// Whether the input has no more bytes.
    mutating func isAtEnd() throws(DICOMError) -> Bool { try !ensure(1) }

    /// The byte at `index` past the cursor; `ensure(index + 1)` must have succeeded.
    @inline(__always)
    func byte(_ index: Int) -> UInt8 { storage.base.load(fromByteOffset: start + index, as: UInt8.self) }

    /// A 16-bit number at `index` past the cursor.
    @inline(__always)
    func uint16(_ index: Int, bigEndian: Bool) -> UInt16 {
        let raw = storage.base.loadUnaligned(fromByteOffset: start + index, as: UInt16.self)
        return bigEndian ? UInt16(bigEndian: raw) : UInt16(littleEndian: raw)
    }

    /// A 32-bit number at `index` past the cursor.
    @inline(__always)
    func uint32(_ index: Int, bigEndian: Bool) -> UInt32 {
        let raw = storage.base.loadUnaligned(fromByteOffset: start + index, as: UInt32.self)
        return bigEndian ? UInt32(bigEndian: raw) : UInt32(littleEndian: raw)
    }

    /// Consumes `count` buffered bytes.
    @inline(__always)
    mutating func consume(_ count: Int) {
        start += count
        offset += count
    }

    /// Skips `count` bytes, seeking in the source where it can.
    /// - Returns: How many were skipped: fewer than `count` only at the end of the input.
    mutating func skip(_ count: Int) throws(DICOMError) -> Int {
        let fromBuffer = min(count, end - start)
        consume(fromBuffer)
        var skipped = fromBuffer
        while skipped < count && !sourceEnded {
            let got = try source.skip(count - skipped)
            if got == 0 {
                // A source may skip nothing yet still have bytes (e.g. a drip-feed limit): probe with a read.
                if try !ensure(1) { break }
                let more = min(count - skipped, end - start)
                consume(more)
                skipped += more
                continue
            }
            skipped += got
            offset += got
        }
        return skipped
    }

    /// Reads exactly `count` bytes, growing the result as bytes arrive so that a false length never
    /// allocates more than the input holds.
    /// - Returns: The bytes, or nil if the input ends first (the cursor is then at the end).
    mutating func readBytes(_ count: Int) throws(DICOMError) -> [UInt8]? {
        var result: [UInt8] = []
        result.reserveCapacity(min(count, storage.capacity))
        while result.count < count {
            if start == end, try !ensure(1) { return nil }
            let piece = min(count - result.count, end - start)
            result.append(contentsOf: UnsafeRawBufferPointer(start: storage.base + start, count: piece))
            consume(piece)
        }
        return result
    }

    /// Hands buffered bytes out first, then reads the source directly; lets the inflater sit on top.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(DICOMError) -> Int {
        guard buffer.count > 0 else { return 0 }
        if start == end {
            if sourceEnded { return 0 }
            if buffer.count >= storage.capacity {
                let got = try source.read(into: buffer)
                if got == 0 { sourceEnded = true }
                offset += got
                return got
            }
            if try !ensure(1) { return 0 }
        }
        let count = min(buffer.count, end - start)
        buffer.baseAddress!.copyMemory(from: storage.base + start, byteCount: count)
        consume(count)
        return count
    }
}

/// The parser's read buffer: heap memory freed when the last `Input` copy goes away.
final class ReadBuffer {
    let base: UnsafeMutableRawPointer
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        self.base = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { base.deallocate() }
}
