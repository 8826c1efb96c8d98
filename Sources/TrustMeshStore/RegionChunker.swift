import Glibc

/// Reads a byte range of a file and splits it into content-defined chunks, holding at most two
/// maximum-size chunks in memory however large the file is.
final class RegionChunker {
    private let fd: Int32
    private let path: String
    private let parameters: ChunkingParameters
    private let buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var fileOffset: Int
    private let fileEnd: Int

    init(fd: Int32, path: String, range: Range<Int>, parameters: ChunkingParameters) {
        self.fd = fd
        self.path = path
        self.parameters = parameters
        self.buffer = .allocate(byteCount: 2 * parameters.maximum, alignment: 16)
        self.fileOffset = range.lowerBound
        self.fileEnd = range.upperBound
    }

    deinit { buffer.deallocate() }

    /// The next chunk, valid until the next call; nil at the end of the range.
    func next() throws(StoreError) -> UnsafeRawBufferPointer? {
        if end - start < parameters.maximum && fileOffset < fileEnd {
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
        while end < buffer.count && fileOffset < fileEnd {
            let want = min(buffer.count - end, fileEnd - fileOffset)
            let n = pread(fd, buffer.baseAddress! + end, want, off_t(fileOffset))
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, operation: "read", errno: errno)
            }
            if n == 0 {
                // The file shrank since it was parsed.
                throw .notDICOM(path: path, reason: "the file ended at byte \(fileOffset) while it was being read")
            }
            end += n
            fileOffset += n
        }
    }
}
