import Testing

@testable import TrustMeshStore

/// Deterministic pseudo-random bytes (SplitMix64), so failures reproduce.
func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed
    var out = [UInt8]()
    out.reserveCapacity(count + 8)
    while out.count < count {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        withUnsafeBytes(of: z) { out.append(contentsOf: $0) }
    }
    return Array(out.prefix(count))
}

/// Chunks `data` through a reader that returns at most `piece(i)` bytes per call.
func chunkLengths(_ data: [UInt8], parameters: ChunkingParameters, piece: @escaping (Int) -> Int) throws -> [Int] {
    var call = 0
    let chunker = RegionChunker(range: 0..<data.count, parameters: parameters, path: "test") {
        (buffer, offset) throws(StoreError) -> Int in
        call += 1
        let n = min(buffer.count, data.count - offset, max(1, piece(call)))
        data.withUnsafeBytes { source in
            buffer.baseAddress!.copyMemory(from: source.baseAddress! + offset, byteCount: n)
        }
        return n
    }
    var lengths: [Int] = []
    while let chunk = try chunker.next() { lengths.append(chunk.count) }
    return lengths
}

@Suite struct ChunkerTests {
    let data = randomBytes(300_000, seed: 7)

    @Test func chunksAreTheSameWhetherFedWholeByteByByteOrInRandomSplits() throws {
        let whole = try chunkLengths(data, parameters: .small) { _ in Int.max }
        let dripped = try chunkLengths(data, parameters: .small) { _ in 1 }
        var seed: UInt64 = 99
        let random = try chunkLengths(data, parameters: .small) { _ in
            seed = seed &* 6_364_136_223_846_793_005 &+ 1
            return Int(seed >> 33) % 5000 + 1
        }
        #expect(whole.count > 10)
        #expect(whole == dripped)
        #expect(whole == random)
        #expect(whole.reduce(0, +) == data.count)
    }

    @Test func chunkSizesRespectBoundsAndClusterAroundTheAverage() throws {
        let p = ChunkingParameters.small
        let lengths = try chunkLengths(data, parameters: p) { _ in Int.max }
        for length in lengths.dropLast() {
            #expect(length >= p.minimum && length <= p.maximum)
        }
        let mean = Double(data.count) / Double(lengths.count)
        #expect(mean > Double(p.average) / 2 && mean < Double(p.average) * 2)
    }

    @Test func anInsertionNearTheStartLeavesLaterChunksIdentical() throws {
        var edited = data
        edited.insert(contentsOf: Array("a longer patient name".utf8), at: 100)
        func chunks(_ bytes: [UInt8]) throws -> [[UInt8]] {
            var offset = 0
            return try chunkLengths(bytes, parameters: .small) { _ in Int.max }.map { length in
                defer { offset += length }
                return Array(bytes[offset..<(offset + length)])
            }
        }
        let before = try chunks(data)
        let after = try chunks(edited)
        let shared = Set(before.map { $0.hashValue }).intersection(after.map { $0.hashValue })
        #expect(shared.count >= before.count - 2)
    }

    @Test func allZeroInputIsCutAtTheMaximum() throws {
        let zeros = [UInt8](repeating: 0, count: 100_000)
        let lengths = try chunkLengths(zeros, parameters: .small) { _ in Int.max }
        #expect(lengths.dropLast().allSatisfy { $0 == ChunkingParameters.small.maximum })
    }

    @Test func boundariesNeverChange() throws {
        // Changing the gear table or the masks would move every boundary, and new chunks would no
        // longer deduplicate against stored ones. These lengths were recorded once; keep them.
        #expect(Chunker.gear.count == 256)
        #expect(Set(Chunker.gear).count == 256)
        let lengths = try chunkLengths(data, parameters: .small) { _ in Int.max }
        #expect(Chunker.gear[0] == 15_575_658_426_852_734_793)
        #expect(Array(lengths.prefix(6)) == [2768, 2954, 5254, 4554, 4118, 4803])
    }
}
