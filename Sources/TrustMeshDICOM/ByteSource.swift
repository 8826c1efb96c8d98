/// Where the reader gets its bytes: a file, memory, a network body, or a test's drip-feed.
///
/// Conformers hand out bytes in order. Both methods may deliver fewer bytes than asked; the reader asks
/// again and treats `0` as the end of the input. The reader never asks for more than it needs, so a
/// source can be shared with later consumers of the bytes after the data set.
///
/// ```swift
/// var source = BytesSource(bytes)
/// let info = try DICOMReader.read(source: &source)
/// ```
public protocol ByteSource {
    /// Copies up to `buffer.count` bytes into `buffer`.
    /// - Parameter buffer: Where to put the bytes.
    /// - Returns: How many bytes were copied: at least one unless the input has ended (`0`).
    /// - Throws: ``DICOMError`` if the bytes cannot be had (I/O failure).
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(DICOMError) -> Int

    /// Moves past `count` bytes without handing them out.
    ///
    /// Sources that can seek (files) should do so; others read and discard.
    /// - Parameter count: How many bytes to skip; never negative.
    /// - Returns: How many bytes were skipped: `count`, or fewer where the input ends.
    /// - Throws: ``DICOMError`` if the bytes cannot be had.
    mutating func skip(_ count: Int) throws(DICOMError) -> Int
}

extension ByteSource {
    /// Skips by reading into a scratch buffer and discarding, for sources that cannot seek.
    /// - Parameter count: How many bytes to skip.
    /// - Returns: How many bytes were skipped: fewer than `count` only at the end of the input.
    public mutating func skipByReading(_ count: Int) throws(DICOMError) -> Int {
        var remaining = count
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: min(count, 64 * 1024), alignment: 1)
        defer { scratch.deallocate() }
        while remaining > 0 {
            let got = try read(into: UnsafeMutableRawBufferPointer(rebasing: scratch[..<min(remaining, scratch.count)]))
            if got == 0 { break }
            remaining -= got
        }
        return count - remaining
    }
}
