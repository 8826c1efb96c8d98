import Testing
import TrustMeshCompression

/// A deterministic generator so failures reproduce (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum Samples {
    static func random(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
        var generator = SeededGenerator(seed: seed)
        var bytes = [UInt8]()
        bytes.reserveCapacity(count + 8)
        while bytes.count < count {
            withUnsafeBytes(of: generator.next()) { bytes.append(contentsOf: $0) }
        }
        return Array(bytes.prefix(count))
    }

    /// Looks a little like 16-bit pixel data: slowly varying little-endian samples with noise.
    static func compressible(_ count: Int) -> [UInt8] {
        var generator = SeededGenerator(seed: 2)
        return (0..<count).map { index in
            index.isMultiple(of: 2)
                ? UInt8(truncatingIfNeeded: index / 512) : UInt8.random(in: 0...3, using: &generator)
        }
    }

    static let sizes = [0, 1, 100, 131_072, 3 << 20]
}

/// Splits `count` into random piece lengths (1...maxPiece).
func randomSplits(of count: Int, maxPiece: Int, seed: UInt64) -> [Range<Int>] {
    var generator = SeededGenerator(seed: seed)
    var ranges = [Range<Int>]()
    var start = 0
    while start < count {
        let end = min(count, start + Int.random(in: 1...maxPiece, using: &generator))
        ranges.append(start..<end)
        start = end
    }
    return ranges
}

/// Feeds `frame` to a streaming decompressor in the given pieces and returns the concatenated output.
func streamDecompress(_ frame: [UInt8], pieces: [Range<Int>], limit: Int) throws -> [UInt8] {
    let decompressor = ZstdDecompressor()
    decompressor.begin(limit: limit)
    var output = [UInt8]()
    for range in pieces {
        try frame[range].withUnsafeBytes { piece in
            try decompressor.feed(piece) { output.append(contentsOf: $0) }
        }
    }
    try decompressor.finish()
    return output
}

/// Compresses `input` with the streaming API, in the given pieces.
func streamCompress(_ input: [UInt8], pieces: [Range<Int>], pledged: Bool, level: Int32 = 1) throws -> [UInt8] {
    let compressor = ZstdCompressor(level: level)
    try compressor.begin(pledgedSize: pledged ? input.count : nil)
    var frame = [UInt8]()
    for range in pieces {
        try input[range].withUnsafeBytes { piece in
            try compressor.feed(piece) { frame.append(contentsOf: $0) }
        }
    }
    try compressor.finish { frame.append(contentsOf: $0) }
    return frame
}

@Suite("zstd")
struct ZstdTests {
    @Test("one-shot round trip", arguments: Samples.sizes)
    func oneShotRoundTrips(count: Int) throws {
        for input in [Samples.random(count), Samples.compressible(count)] {
            let frame = try Zstd.compress(input)
            #expect(try Zstd.decompress(frame, limit: count) == input)
        }
    }

    @Test func compressibleDataShrinksAndRandomDataDoesNotGrowMuch() throws {
        let compressible = Samples.compressible(1 << 20)
        #expect(try Zstd.compress(compressible, level: 3).count < compressible.count / 2)
        let random = Samples.random(1 << 20)
        #expect(try Zstd.compress(random).count < random.count + 1024)
    }

    @Test func reusedContextsGiveTheSameResults() throws {
        let compressor = ZstdCompressor(level: 3)
        let decompressor = ZstdDecompressor()
        for count in Samples.sizes {
            let input = Samples.compressible(count)
            let frame = try compressor.compress(input)
            #expect(frame == (try Zstd.compress(input, level: 3)))
            #expect(try decompressor.decompress(frame, limit: count) == input)
        }
    }

    @Test("streamed decompression in any split equals one-shot", arguments: [0, 1, 5_000, 3 << 20])
    func streamedDecompressionInAnySplitEqualsOneShot(count: Int) throws {
        let input = Samples.compressible(count)
        let frame = try Zstd.compress(input)
        let oneShot = try Zstd.decompress(frame, limit: count)
        #expect(oneShot == input)

        #expect(try streamDecompress(frame, pieces: [0..<frame.count], limit: count) == oneShot)
        if frame.count <= 20_000 {
            let byteByByte = (0..<frame.count).map { $0..<($0 + 1) }
            #expect(try streamDecompress(frame, pieces: byteByByte, limit: count) == oneShot)
        }
        for (seed, maxPiece) in [(1, 7), (2, 1000), (3, 200_000)] as [(UInt64, Int)] {
            let pieces = randomSplits(of: frame.count, maxPiece: maxPiece, seed: seed)
            #expect(try streamDecompress(frame, pieces: pieces, limit: count) == oneShot, "max piece \(maxPiece)")
        }
    }

    @Test("streamed compression in any split decompresses to the input", arguments: [false, true])
    func streamedCompressionRoundTrips(pledged: Bool) throws {
        let input = Samples.compressible(3 << 20) + Samples.random(70_000)
        for pieces in [
            [0..<input.count],
            randomSplits(of: input.count, maxPiece: 100_000, seed: 5),
            randomSplits(of: 20_000, maxPiece: 1, seed: 6),  // byte by byte, over a prefix
        ] {
            let fed = Array(input[0..<pieces.last!.upperBound])
            let frame = try streamCompress(fed, pieces: pieces, pledged: pledged)
            #expect(try Zstd.decompress(frame, limit: fed.count) == fed)
        }
    }

    @Test func emptyStreamedFrameRoundTrips() throws {
        let frame = try streamCompress([], pieces: [], pledged: false)
        #expect(try Zstd.decompress(frame, limit: 0) == [])
    }

    @Test func pledgedSizeMismatchIsReported() throws {
        let compressor = ZstdCompressor()
        try compressor.begin(pledgedSize: 10)
        try [UInt8](repeating: 1, count: 5).withUnsafeBytes { try compressor.feed($0) { _ in } }
        let error = #expect(throws: CompressionError.self) { try compressor.finish { _ in } }
        #expect(error?.description.hasPrefix("zstd call failed in") == true)
    }

    @Test func decompressionBombIsRefusedFromItsHeader() throws {
        let zeros = [UInt8](repeating: 0, count: 64 << 20)
        let frame = try Zstd.compress(zeros)
        #expect(frame.count < 64 << 10)
        #expect(throws: CompressionError.outputLimitExceeded(limit: 1 << 20)) {
            try Zstd.decompress(frame, limit: 1 << 20)
        }
    }

    /// A frame without a content size in its header (streamed, nothing pledged): the ceiling must hold on the
    /// bytes actually produced.
    @Test func decompressionBombWithoutContentSizeIsRefused() throws {
        let zeros = [UInt8](repeating: 0, count: 64 << 20)
        let frame = try streamCompress(zeros, pieces: [0..<zeros.count], pledged: false)
        #expect(throws: CompressionError.outputLimitExceeded(limit: 1 << 20)) {
            try Zstd.decompress(frame, limit: 1 << 20)
        }
        var delivered = 0
        let decompressor = ZstdDecompressor()
        decompressor.begin(limit: 1 << 20)
        #expect(throws: CompressionError.outputLimitExceeded(limit: 1 << 20)) {
            try frame.withUnsafeBytes { try decompressor.feed($0) { delivered += $0.count } }
        }
        #expect(delivered <= 1 << 20)
    }

    @Test func outputExactlyAtTheLimitIsAccepted() throws {
        let input = Samples.compressible(10_000)
        let frame = try Zstd.compress(input)
        #expect(try Zstd.decompress(frame, limit: 10_000) == input)
        #expect(throws: CompressionError.outputLimitExceeded(limit: 9_999)) {
            try Zstd.decompress(frame, limit: 9_999)
        }
        let unsized = try streamCompress(input, pieces: [0..<input.count], pledged: false)
        #expect(try streamDecompress(unsized, pieces: [0..<unsized.count], limit: 10_000) == input)
        #expect(throws: CompressionError.outputLimitExceeded(limit: 9_999)) {
            try streamDecompress(unsized, pieces: [0..<unsized.count], limit: 9_999)
        }
    }

    @Test func decompressingIntoCallerMemoryMatchesAndKeepsItsCeiling() throws {
        let input = Samples.compressible(300_000)
        let sized = try Zstd.compress(input)
        let unsized = try streamCompress(input, pieces: [0..<input.count], pledged: false)
        let decompressor = ZstdDecompressor()
        for frame in [sized, unsized] {
            var output = [UInt8](repeating: 0xEE, count: input.count + 10)
            let produced = try frame.withUnsafeBytes { bytes in
                try output.withUnsafeMutableBytes { try decompressor.decompress(bytes, into: $0) }
            }
            #expect(produced == input.count)
            #expect(Array(output.prefix(produced)) == input)
            #expect(output.suffix(10).allSatisfy { $0 == 0xEE }, "nothing written past the output")
            var small = [UInt8](repeating: 0, count: input.count - 1)
            #expect(throws: CompressionError.outputLimitExceeded(limit: input.count - 1)) {
                try frame.withUnsafeBytes { bytes in
                    try small.withUnsafeMutableBytes { try decompressor.decompress(bytes, into: $0) }
                }
            }
        }
        var corrupt = sized
        corrupt[corrupt.count / 2] ^= 0xFF
        var output = [UInt8](repeating: 0, count: input.count)
        let error = #expect(throws: CompressionError.self) {
            try corrupt.withUnsafeBytes { bytes in
                try output.withUnsafeMutableBytes { try decompressor.decompress(bytes, into: $0) }
            }
        }
        #expect(error?.description.hasPrefix("corrupt zstd data") == true)
    }

    @Test func truncatedFrameIsRefused() throws {
        let input = Samples.compressible(200_000)
        let frame = try Zstd.compress(input)
        for cut in [0, 1, 4, 10, frame.count / 2, frame.count - 1] {
            let prefix = Array(frame.prefix(cut))
            #expect(throws: CompressionError.truncated, "cut at \(cut)") {
                try Zstd.decompress(prefix, limit: input.count)
            }
            #expect(throws: CompressionError.truncated, "streamed, cut at \(cut)") {
                try streamDecompress(prefix, pieces: randomSplits(of: cut, maxPiece: 999, seed: 9), limit: input.count)
            }
        }
    }

    @Test func garbageIsRefusedAsCorrupt() throws {
        #expect(throws: CompressionError.corrupt(reason: "Unknown frame descriptor")) {
            try Zstd.decompress(Array("definitely not zstd".utf8), limit: 1 << 20)
        }
        #expect(throws: CompressionError.corrupt(reason: "Unknown frame descriptor")) {
            try Zstd.decompress(Samples.random(10_000), limit: 1 << 20)
        }
    }

    @Test func corruptedBodyIsRefused() throws {
        let input = Samples.compressible(100_000)
        var frame = try Zstd.compress(input)
        frame[frame.count / 2] ^= 0xFF
        let error = #expect(throws: CompressionError.self) { try Zstd.decompress(frame, limit: input.count) }
        #expect(error?.description.hasPrefix("corrupt zstd data") == true)
    }

    @Test func bytesAfterTheFrameAreRefused() throws {
        let frame = try Zstd.compress([1, 2, 3])
        #expect(throws: CompressionError.corrupt(reason: "bytes after the end of the frame")) {
            try Zstd.decompress(frame + [0], limit: 100)
        }
        #expect(throws: CompressionError.corrupt(reason: "bytes after the end of the frame")) {
            try streamDecompress(frame + [0], pieces: [0..<frame.count, frame.count..<(frame.count + 1)], limit: 100)
        }
    }

    @Test func decompressorIsReusableAfterAnError() throws {
        let decompressor = ZstdDecompressor()
        let good = try Zstd.compress(Samples.compressible(50_000))
        #expect(throws: CompressionError.self) { try decompressor.decompress(Array(good.prefix(100)), limit: 50_000) }
        #expect(try decompressor.decompress(good, limit: 50_000) == Samples.compressible(50_000))
        decompressor.begin(limit: 50_000)
        #expect(throws: CompressionError.self) {
            try Samples.random(100).withUnsafeBytes { try decompressor.feed($0) { _ in } }
        }
        #expect(try streamDecompress(good, pieces: [0..<good.count], limit: 50_000) == Samples.compressible(50_000))
    }

    @Test func outputClosureErrorsPassThroughUnchanged() throws {
        struct Stop: Error, Equatable {}
        let frame = try Zstd.compress(Samples.compressible(500_000))
        let decompressor = ZstdDecompressor()
        decompressor.begin(limit: 1 << 20)
        #expect(throws: Stop()) { try frame.withUnsafeBytes { try decompressor.feed($0) { _ in throw Stop() } } }

        let compressor = ZstdCompressor()
        try compressor.begin()
        #expect(throws: Stop()) {
            try Samples.random(1 << 20).withUnsafeBytes { try compressor.feed($0) { _ in throw Stop() } }
        }
    }
}

@Suite("zstd levels")
struct ZstdLevelTests {
    @Test(arguments: [-200_000, -5, 0, 1, 3, 19, 22, 100] as [Int32])
    func anyLevelRoundTrips(level: Int32) throws {
        let input = Samples.compressible(50_000)
        #expect(try Zstd.decompress(Zstd.compress(input, level: level), limit: input.count) == input)
    }
}
