/// Content-defined chunking: where to cut a byte stream so that identical content gives identical
/// chunks even when bytes before it were inserted or removed.
///
/// FastCDC (Xia et al., "FastCDC: a Fast and Efficient Content-Defined Chunking Approach for Data
/// Deduplication", USENIX ATC 2016): a gear rolling hash `h = (h << 1) + gear[byte]` tested against a
/// harder mask before the average size and an easier one after it ("normalised chunking"), which
/// narrows the size distribution around the average. The gear hash's bit *k* depends on the last
/// *k+1* bytes, so testing the top bits makes each decision depend on the last 64 bytes only.
///
/// All parameters live here, in one place: changing any of them changes every chunk boundary, so
/// stored chunks would no longer deduplicate against new ones.
package struct ChunkingParameters: Sendable, Equatable {
    /// No chunk is shorter, except a stream's last.
    package let minimum: Int
    /// The size chunks cluster around.
    package let average: Int
    /// No chunk is longer.
    package let maximum: Int

    /// The node's parameters: 64 KiB / 256 KiB / 1 MiB.
    package static let standard = ChunkingParameters(minimum: 64 << 10, average: 256 << 10, maximum: 1 << 20)

    /// Small parameters for tests that want many chunks from little data.
    package static let small = ChunkingParameters(minimum: 1 << 10, average: 4 << 10, maximum: 16 << 10)

    package init(minimum: Int, average: Int, maximum: Int) {
        precondition(minimum > 0 && minimum < average && average < maximum, "chunk sizes must increase")
        precondition(average & (average - 1) == 0, "average chunk size must be a power of two")
        self.minimum = minimum
        self.average = average
        self.maximum = maximum
    }

    /// Mask tested before the average size: two bits harder than log2(average).
    var hardMask: UInt64 { Self.topBits(averageBits + 2) }
    /// Mask tested after the average size: two bits easier.
    var easyMask: UInt64 { Self.topBits(averageBits - 2) }

    private var averageBits: Int { average.trailingZeroBitCount }

    private static func topBits(_ n: Int) -> UInt64 { n <= 0 ? 0 : ~UInt64(0) << UInt64(64 - n) }
}

/// Finds content-defined cut points (see ``ChunkingParameters``).
package enum Chunker {
    /// The gear table: 256 fixed pseudo-random 64-bit values (SplitMix64 from a fixed seed), so
    /// every node, now and later, cuts the same bytes at the same places.
    static let gear: [UInt64] = {
        var state: UInt64 = 0x5472_7573_744D_6573  // "TrustMes"
        return (0..<256).map { _ in
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }()

    /// The length of the first chunk of `bytes`.
    ///
    /// `bytes` must hold at least `parameters.maximum` bytes unless it is the end of the stream:
    /// the cut point depends only on the bytes up to it, so a caller that supplies that much gets
    /// the same answer however its reads were split.
    package static func cutPoint(in bytes: UnsafeRawBufferPointer, parameters: ChunkingParameters) -> Int {
        let count = bytes.count
        if count <= parameters.minimum { return count }
        let end = min(count, parameters.maximum)
        let middle = min(end, parameters.average)
        let hard = parameters.hardMask
        let easy = parameters.easyMask
        var hash: UInt64 = 0
        var index = parameters.minimum
        return gear.withUnsafeBufferPointer { table in
            while index < middle {
                hash = (hash << 1) &+ table[Int(bytes[index])]
                if hash & hard == 0 { return index + 1 }
                index += 1
            }
            while index < end {
                hash = (hash << 1) &+ table[Int(bytes[index])]
                if hash & easy == 0 { return index + 1 }
                index += 1
            }
            return end
        }
    }
}
