internal import CZlib

/// Writes 8-bit greyscale PNG images (PNG specification, W3C 2003: §5 signature and chunks, §11.2.2
/// IHDR colour type 0, §9 filter type 0 per scanline), for the study viewer's thumbnails.
///
/// The image data is one zlib stream (`compress2`), as PNG's IDAT requires (§10: "zlib datastream"),
/// and each chunk ends with the CRC-32 of its type and data (§5.3), both from zlib.
package enum PNGEncoder {
    /// Encodes `pixels` (row-major, one byte per pixel, `width × height` of them) as a PNG file.
    /// - Throws: ``DICOMError`` if the sizes disagree or zlib fails.
    package static func greyscale(width: Int, height: Int, pixels: [UInt8]) throws(DICOMError) -> [UInt8] {
        guard width > 0, height > 0, pixels.count == width * height, width < 1 << 16, height < 1 << 16 else {
            throw .unencodable(tag: .pixelData, "a \(width)×\(height) thumbnail cannot hold \(pixels.count) pixels")
        }
        // Each scanline starts with its filter type byte; 0 (None) keeps the encoder trivial (§9.2).
        var raw = [UInt8]()
        raw.reserveCapacity((width + 1) * height)
        for row in 0..<height {
            raw.append(0)
            raw.append(contentsOf: pixels[row * width..<(row + 1) * width])
        }
        var compressedSize = compressBound(uLong(raw.count))
        var compressed = [UInt8](repeating: 0, count: Int(compressedSize))
        // zlib manual, compress2: "destLen is the total size of the destination buffer, which must be at
        // least the value returned by compressBound(sourceLen). Upon exit, destLen is the actual size".
        let status = compressed.withUnsafeMutableBufferPointer { out in
            raw.withUnsafeBufferPointer { input in
                compress2(out.baseAddress, &compressedSize, input.baseAddress, uLong(input.count), 6)
            }
        }
        guard status == Z_OK else { throw .deflate(at: nil, "zlib compress2 failed (status \(status))") }
        compressed.removeLast(compressed.count - Int(compressedSize))

        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var header = [UInt8]()
        appendBigEndian(UInt32(width), to: &header)
        appendBigEndian(UInt32(height), to: &header)
        header += [8, 0, 0, 0, 0]  // bit depth 8, greyscale, deflate, filter method 0, no interlace
        appendChunk("IHDR", header, to: &png)
        appendChunk("IDAT", compressed, to: &png)
        appendChunk("IEND", [], to: &png)
        return png
    }

    private static func appendChunk(_ type: String, _ data: [UInt8], to png: inout [UInt8]) {
        appendBigEndian(UInt32(data.count), to: &png)
        let typeAndData = Array(type.utf8) + data
        png += typeAndData
        let crc = typeAndData.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
        appendBigEndian(UInt32(crc), to: &png)
    }

    private static func appendBigEndian(_ value: UInt32, to bytes: inout [UInt8]) {
        bytes += [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }
}
