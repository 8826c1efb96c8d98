/// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014):
/// a tiny, fast, seedable generator for synthetic data that must be identical on every run.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    @inline(__always)
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A UUID-derived UID, `2.25.` and a version-4 (random) UUID as one decimal number (PS3.5 §B.2).
    mutating func uuidUID() -> String {
        var high = next()
        var low = next()
        high = (high & ~0xF000) | 0x4000  // version 4: random
        low = (low & ~(0b11 << 62)) | (0b10 << 62)  // RFC 4122 variant
        let value = UInt128(high) << 64 | UInt128(low)
        return "2.25.\(value)"
    }
}
