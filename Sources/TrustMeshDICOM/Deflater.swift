internal import CZlib

/// One-shot raw deflate (RFC 1951, no zlib header) for the writer's Deflated Explicit VR Little Endian
/// data sets (PS3.5 §A.5).
enum Deflater {
    static func rawDeflate(_ input: [UInt8]) throws(DICOMError) -> [UInt8] {
        // zlib keeps a pointer back to the z_stream in its state and checks it on each call, so the stream
        // must not move: give it heap memory of its own rather than a Swift local.
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer { stream.deallocate() }
        // zlib manual, deflateInit2: "windowBits can also be –8..–15 for raw deflate ... will generate raw
        // deflate data with no zlib header or trailer". deflateInit2 is a macro over deflateInit2_.
        let status = deflateInit2_(
            stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, zlibVersion(),
            Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw .deflate(at: nil, "zlib deflateInit2 failed (status \(status))") }
        // zlib manual: deflateEnd frees "all dynamically allocated data structures for this stream".
        defer { deflateEnd(stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(stream, uLong(input.count))))
        var input = input
        let result: Int32 = input.withUnsafeMutableBufferPointer { inputBuffer in
            output.withUnsafeMutableBufferPointer { outputBuffer in
                stream.pointee.next_in = inputBuffer.baseAddress
                stream.pointee.avail_in = uInt(inputBuffer.count)
                stream.pointee.next_out = outputBuffer.baseAddress
                stream.pointee.avail_out = uInt(outputBuffer.count)
                // With an output of deflateBound bytes, one Z_FINISH call completes (zlib manual, deflateBound).
                return deflate(stream, Z_FINISH)
            }
        }
        guard result == Z_STREAM_END else { throw .deflate(at: nil, "zlib deflate failed (status \(result))") }
        output.removeLast(Int(stream.pointee.avail_out))
        return output
    }
}
