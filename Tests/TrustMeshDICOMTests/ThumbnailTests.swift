import Foundation
import Testing
import TrustMeshDICOM
import TrustMeshTesting

/// Thumbnails of uncompressed monochrome images, checked by decoding the PNG with Python's zlib.
@Suite(.timeLimit(.minutes(3))) struct ThumbnailTests {
    /// Decodes an 8-bit greyscale PNG with filter type 0 (what ``PNGEncoder`` writes), checking each
    /// chunk's CRC: prints "WIDTH HEIGHT" then the pixel rows.
    static let decoder = """
        import sys, struct, zlib
        data = open(sys.argv[1], 'rb').read()
        assert data[:8] == b'\\x89PNG\\r\\n\\x1a\\n', 'signature'
        pos, idat, width, height = 8, b'', 0, 0
        while pos < len(data):
            length, kind = struct.unpack('>I4s', data[pos:pos + 8])
            body = data[pos + 8:pos + 8 + length]
            crc, = struct.unpack('>I', data[pos + 8 + length:pos + 12 + length])
            assert zlib.crc32(kind + body) & 0xffffffff == crc, 'crc of ' + kind.decode()
            if kind == b'IHDR':
                width, height, depth, colour = struct.unpack('>IIBB', body[:10])
                assert (depth, colour) == (8, 0), 'greyscale 8-bit'
            elif kind == b'IDAT':
                idat += body
            pos += 12 + length
        raw = zlib.decompress(idat)
        print(width, height)
        for y in range(height):
            row = raw[y * (width + 1):(y + 1) * (width + 1)]
            assert row[0] == 0, 'filter type 0'
            print(' '.join(str(b) for b in row[1:]))
        """

    static func decode(_ png: [UInt8]) async throws -> (width: Int, height: Int, rows: [[Int]]) {
        let dir = try TemporaryDirectory(prefix: "thumb")
        let path = dir.appending("t.png")
        try Data(png).write(to: URL(fileURLWithPath: path))
        let result = try await CommandRunner.run("/usr/bin/env", ["python3", "-c", decoder, path])
        try #require(result.status == 0, "\(result.stderr)")
        var lines = result.stdout.split(separator: "\n")
        let size = lines.removeFirst().split(separator: " ").map { Int($0)! }
        return (size[0], size[1], lines.map { $0.split(separator: " ").map { Int($0)! } })
    }

    static func info(
        rows: Int = 4, columns: Int = 4, bits: Int = 16, signed: Bool = false, photometric: String = "MONOCHROME2",
        syntax: TransferSyntax = .explicitVRLittleEndian
    ) -> DICOMFileInfo {
        var info = DICOMFileInfo(
            transferSyntax: syntax, hasPreamble: true, hasMetaGroup: true, fileSize: 0, pixelDataOffset: 100)
        info.rows = rows
        info.columns = columns
        info.bitsAllocated = bits
        info.bitsStored = bits == 16 ? 12 : 8
        info.pixelRepresentation = signed ? 1 : 0
        info.samplesPerPixel = 1
        info.photometricInterpretation = photometric
        return info
    }

    @Test func aSyntheticCTSliceIsWindowedFromItsOwnAttributesAndScaledDown() async throws {
        let dir = try TemporaryDirectory(prefix: "thumb-ct")
        let study = SyntheticStudy(patientID: "9434765919", instancesPerSeries: 1, seed: 1, rows: 256, columns: 256)
        let path = try study.write(to: dir.path)[0]
        let bytes = try Fixtures.bytes(of: path)
        let info = try Fixtures.read(bytes)
        guard case .success(let plan) = ThumbnailRenderer.plan(info) else {
            Issue.record("no plan for an uncompressed CT slice")
            return
        }
        #expect(plan.windowCenter == 40 && plan.windowWidth == 400 && plan.intercept == -1024)
        let start = info.pixelDataOffset! + plan.elementHeaderLength
        let png = try ThumbnailRenderer.render(plan, frame: Array(bytes[start..<start + plan.frameBytes]), maxSize: 64)
        let image = try await Self.decode(png)
        #expect(image.width == 64 && image.height == 64)
        // Air outside the body is below the window (black); the body is inside it (grey).
        #expect(image.rows[0][0] == 0)
        #expect(image.rows[32][32] > 40 && image.rows[32][32] < 255)
    }

    @Test func withoutAWindowTheRangeIsStretchedAndMonochrome1IsInverted() async throws {
        let ramp: [UInt8] = (0..<16).flatMap { [UInt8($0 * 10), 0] }  // 16-bit little endian, 0...150
        var plan = try #require(try? ThumbnailRenderer.plan(Self.info()).get())
        let plain = try await Self.decode(try ThumbnailRenderer.render(plan, frame: ramp))
        #expect(plain.rows.flatMap { $0 }.first == 0 && plain.rows.flatMap { $0 }.last == 255)
        #expect(plain.rows.flatMap { $0 } == plain.rows.flatMap { $0 }.sorted())
        plan = try #require(try? ThumbnailRenderer.plan(Self.info(photometric: "MONOCHROME1")).get())
        let inverted = try await Self.decode(try ThumbnailRenderer.render(plan, frame: ramp))
        #expect(inverted.rows.flatMap { $0 }.first == 255 && inverted.rows.flatMap { $0 }.last == 0)

        // Signed 8-bit: -128 is the darkest, 127 the brightest.
        plan = try #require(try? ThumbnailRenderer.plan(Self.info(rows: 1, columns: 3, bits: 8, signed: true)).get())
        let signed = try await Self.decode(try ThumbnailRenderer.render(plan, frame: [0x80, 0x00, 0x7F]))
        #expect(signed.rows == [[0, 128, 255]])
    }

    @Test func compressedColourOrUnstatedImagesGetAReasonInsteadOfAWrongPicture() {
        let cases: [(DICOMFileInfo, String)] = [
            (Self.info(syntax: .jpegBaseline), "compressed"),
            (Self.info(syntax: .deflatedExplicitVRLittleEndian), "deflated"),
            (Self.info(photometric: "RGB"), "RGB"),
            (Self.info(bits: 32), "32 bits"),
            (Self.info(rows: 0), "size"),
        ]
        for (info, reason) in cases {
            guard case .failure(let why) = ThumbnailRenderer.plan(info) else {
                Issue.record("expected no preview for \(reason)")
                continue
            }
            #expect(why.reason.contains(reason), "\(why.reason)")
        }
    }
}
