#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// A ``ByteSource`` reading a file through a buffer, skipping with `lseek` so that skipped values
/// (pixel data) are never read from disk.
///
/// The file is opened read-only by `init(path:)` and closed when the source is released.
/// Reads of at least the buffer's size go straight to the caller's memory.
public final class FileByteSource: ByteSource {
    private let fd: Int32
    private let path: String
    /// The file's size in bytes when it was opened.
    public let fileSize: Int
    /// The offset of the next byte to hand out.
    public private(set) var position: Int = 0
    private let buffer: UnsafeMutableRawBufferPointer
    private var bufferStart = 0
    private var bufferEnd = 0

    /// Opens a file for reading.
    /// - Parameters:
    ///   - path: The file's path.
    ///   - bufferSize: The read buffer's size; reads at least this large bypass it.
    /// - Throws: ``DICOMError`` of kind ``DICOMError/Kind/io`` if the file cannot be opened or measured.
    public init(path: String, bufferSize: Int = 16 * 1024) throws(DICOMError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io("open", path: path, errno: errno) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            let code = errno
            close(fd)
            throw .io("fstat", path: path, errno: code)
        }
        self.fd = fd
        self.path = path
        self.fileSize = Int(status.st_size)
        self.buffer = .allocate(byteCount: max(bufferSize, 1), alignment: 16)
    }

    deinit {
        buffer.deallocate()
        close(fd)
    }

    /// Copies the next bytes of the file into `destination`.
    public func read(into destination: UnsafeMutableRawBufferPointer) throws(DICOMError) -> Int {
        guard destination.count > 0 else { return 0 }
        if bufferStart == bufferEnd {
            if destination.count >= buffer.count { return try readFile(into: destination) }
            bufferStart = 0
            bufferEnd = try readFile(into: buffer)
            position -= bufferEnd  // readFile advanced position; buffered bytes are not handed out yet
            if bufferEnd == 0 { return 0 }
        }
        let count = min(destination.count, bufferEnd - bufferStart)
        destination.baseAddress!.copyMemory(from: buffer.baseAddress! + bufferStart, byteCount: count)
        bufferStart += count
        position += count
        return count
    }

    /// Moves past up to `count` bytes, using the buffer first and `lseek` for the rest.
    public func skip(_ count: Int) throws(DICOMError) -> Int {
        guard count > 0 else { return 0 }
        let fromBuffer = min(count, bufferEnd - bufferStart)
        bufferStart += fromBuffer
        position += fromBuffer
        // The file offset is past the buffered bytes; never seek beyond the end so the result is exact.
        let fileOffset = position + (bufferEnd - bufferStart)
        let fromFile = min(count - fromBuffer, max(fileSize - fileOffset, 0))
        if fromFile > 0 {
            guard lseek(fd, off_t(fromFile), SEEK_CUR) >= 0 else { throw .io("lseek", path: path, errno: errno) }
            position += fromFile
        }
        return fromBuffer + fromFile
    }

    private func readFile(into destination: UnsafeMutableRawBufferPointer) throws(DICOMError) -> Int {
        while true {
            let got = systemRead(fd, destination.baseAddress, destination.count)
            if got >= 0 {
                position += got
                return got
            }
            if errno == EINTR { continue }
            throw .io("read", path: path, errno: errno)
        }
    }
}

/// `read(2)`, named apart from ``FileByteSource/read(into:)``, which would shadow it inside the class.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(fd, buffer, count)
}

// One reader owns a file source at a time: it holds a file offset and a buffer.
@available(*, unavailable)
extension FileByteSource: Sendable {}
