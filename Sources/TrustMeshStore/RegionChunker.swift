import Glibc

/// Splits a byte range into content-defined chunks, holding at most two maximum-size chunks in
/// memory however large the range is.
///
/// Bytes come from `read(buffer, offset)`, which may return fewer bytes than asked (tests feed it
/// byte by byte); the chunks are the same however the reads are split.
package final class RegionChunker {
    /// Reads into the buffer from a file offset; returns the bytes read, 0 at the end of the data.
    package typealias Reader = (UnsafeMutableRawBufferPointer, Int) throws(StoreError) -> Int

    private let read: Reader
    private let parameters: ChunkingParameters
    private let buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var offset: Int
    private let rangeEnd: Int
    private let describe: String

    package init(range: Range<Int>, parameters: ChunkingParameters, path: String, read: @escaping Reader) {
        self.read = read
        self.parameters = parameters
        self.buffer = .allocate(byteCount: 2 * parameters.maximum, alignment: 16)
        self.offset = range.lowerBound
        self.rangeEnd = range.upperBound
        self.describe = path
    }

    /// Chunks a range of an open file.
    package convenience init(fd: Int32, path: String, range: Range<Int>, parameters: ChunkingParameters) {
        self.init(range: range, parameters: parameters, path: path) { (buffer, offset) throws(StoreError) -> Int in
            while true {
                let n = pread(fd, buffer.baseAddress!, buffer.count, off_t(offset))
                if n >= 0 { return n }
                if errno != EINTR { throw .io(path: path, operation: "read", errno: errno) }
            }
        }
    }

    deinit { buffer.deallocate() }

    /// The next chunk, valid until the next call; nil at the end of the range.
    package func next() throws(StoreError) -> UnsafeRawBufferPointer? {
        if end - start < parameters.maximum && offset < rangeEnd {
            try refill()
        }
        guard end > start else { return nil }
        let available = UnsafeRawBufferPointer(rebasing: buffer[start..<end])
        let cut = Chunker.cutPoint(in: available, parameters: parameters)
        defer { start += cut }
        return UnsafeRawBufferPointer(rebasing: available[0..<cut])
    }

    private func refill() throws(StoreError) {
        if start > 0 {
            let count = end - start
            if count > 0 { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: count) }
            start = 0
            end = count
        }
        while end < buffer.count && offset < rangeEnd {
            let want = min(buffer.count - end, rangeEnd - offset)
            let n = try read(UnsafeMutableRawBufferPointer(rebasing: buffer[end..<(end + want)]), offset)
            if n == 0 {
                // The file shrank since it was parsed.
                throw .notDICOM(path: describe, reason: "the file ended at byte \(offset) while it was being read")
            }
            end += n
            offset += n
        }
    }
}
