internal import CSodium

/// Cryptographically secure random bytes from the operating system, via libsodium.
///
/// See https://doc.libsodium.org/generating_random_data.
public enum Random {
    /// Returns `count` unpredictable bytes (`randombytes_buf`).
    ///
    /// - Parameter count: How many bytes; must not be negative.
    /// - Returns: A new array of `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        precondition(count >= 0, "Random.bytes count must not be negative")
        _ = Sodium.ready
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let base = buffer.baseAddress {
                randombytes_buf(base, count)
            }
            initialized = count
        }
    }
}
