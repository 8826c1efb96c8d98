internal import CZlib

/// A ``ByteSource`` that inflates a raw deflate stream (RFC 1951, no zlib or gzip wrapper) read from `base`,
/// as Deflated Explicit VR Little Endian stores its data set after the File Meta Information (PS3.5 §A.5).
///
/// Inflates in pieces into the caller's buffer, so the inflated data set is never held whole. Skipping
/// inflates and discards: a deflate stream cannot be seeked.
struct InflatingSource<Base: ByteSource>: ByteSource {
    var base: Base
    private let stream: InflateStream
    /// Offset in the file of the first compressed byte, and how many compressed bytes went into zlib.
    private let baseOffset: Int
    private var compressedConsumed = 0
    private(set) var finished = false

    init(base: Base, baseOffset: Int) throws(DICOMError) {
        self.base = base
        self.baseOffset = baseOffset
        self.stream = try InflateStream(offset: baseOffset)
    }

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(DICOMError) -> Int {
        guard !finished, buffer.count > 0 else { return 0 }
        let z = stream.pointer
        z.pointee.next_out = buffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
        let capacity = min(buffer.count, Int(UInt32.max))
        z.pointee.avail_out = uInt(capacity)
        while true {
            if z.pointee.avail_in == 0 {
                let got = try base.read(into: stream.input)
                if got == 0 {
                    throw .truncated(
                        at: baseOffset + compressedConsumed,
                        "the file ends inside the deflated data set (no end of the deflate stream)")
                }
                z.pointee.next_in = stream.input.baseAddress!.assumingMemoryBound(to: Bytef.self)
                z.pointee.avail_in = uInt(got)
            }
            let before = z.pointee.avail_in
            // zlib manual: inflate "decompresses as much data as possible, and stops when the input buffer
            // becomes empty or the output buffer becomes full"; Z_BUF_ERROR only means no progress was possible.
            let status = CZlib.inflate(z, Z_NO_FLUSH)
            compressedConsumed += Int(before - z.pointee.avail_in)
            let produced = capacity - Int(z.pointee.avail_out)
            switch status {
            case Z_STREAM_END:
                finished = true
                return produced
            case Z_OK, Z_BUF_ERROR:
                if produced > 0 { return produced }
            default:
                let message = z.pointee.msg.map { String(cString: $0) } ?? "status \(status)"
                throw .deflate(at: baseOffset + compressedConsumed, "invalid deflate stream: \(message)")
            }
        }
    }

    mutating func skip(_ count: Int) throws(DICOMError) -> Int {
        var skipped = 0
        while skipped < count {
            let piece = min(count - skipped, stream.scratch.count)
            let got = try read(into: UnsafeMutableRawBufferPointer(rebasing: stream.scratch[..<piece]))
            if got == 0 { break }
            skipped += got
        }
        return skipped
    }
}

/// Owns a zlib `z_stream` set up for raw inflate, its input buffer, and a scratch buffer that skipped
/// output is inflated into; `inflateEnd` runs in `deinit`.
private final class InflateStream {
    let pointer: UnsafeMutablePointer<z_stream>
    let input: UnsafeMutableRawBufferPointer
    let scratch: UnsafeMutableRawBufferPointer

    init(offset: Int) throws(DICOMError) {
        let pointer = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        pointer.initialize(to: z_stream())
        // zlib manual, inflateInit2: "windowBits can also be -8..-15 for raw inflate. In this case, -windowBits
        // determines the window size. inflate() will then process raw deflate data, not looking for a zlib or
        // gzip header". inflateInit2 is a macro; Swift calls the function behind it with the version and size.
        let status = inflateInit2_(pointer, -15, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            // Nothing of self is initialised yet, so deinit will not run: free here.
            pointer.deallocate()
            throw .deflate(at: offset, "zlib inflateInit2 failed (status \(status))")
        }
        self.pointer = pointer
        self.input = .allocate(byteCount: 64 * 1024, alignment: 16)
        self.scratch = .allocate(byteCount: 64 * 1024, alignment: 16)
    }

    deinit {
        // zlib manual: "All dynamically allocated data structures for this stream are freed" by inflateEnd.
        inflateEnd(pointer)
        pointer.deallocate()
        input.deallocate()
        scratch.deallocate()
    }
}
