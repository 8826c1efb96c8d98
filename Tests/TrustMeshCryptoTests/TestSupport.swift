import Foundation

/// Decodes test-vector hex; traps on malformed literals, which are test bugs.
func bytes(hex: String) -> [UInt8] {
    precondition(hex.count.isMultiple(of: 2), "odd-length hex literal")
    var result = [UInt8]()
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2)
        result.append(UInt8(hex[index..<next], radix: 16)!)
        index = next
    }
    return result
}

func hexString(_ bytes: [UInt8]) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}

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

/// Splits `count` into random piece lengths (1...maxPiece).
func randomSplits(of count: Int, maxPiece: Int, using generator: inout SeededGenerator) -> [Range<Int>] {
    var ranges = [Range<Int>]()
    var start = 0
    while start < count {
        let end = min(count, start + Int.random(in: 1...maxPiece, using: &generator))
        ranges.append(start..<end)
        start = end
    }
    return ranges
}

/// A fresh directory per test, removed afterwards.
func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("trustmesh-crypto-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url.path)
}

/// The permission bits of the file at `path`, from stat(2) via Foundation.
func permissions(atPath path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
}
