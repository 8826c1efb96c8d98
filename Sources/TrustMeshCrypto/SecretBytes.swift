internal import CSodium

/// An immutable buffer of secret bytes that is wiped with `sodium_memzero` when the last reference goes.
///
/// Equality runs in constant time (`sodium_memcmp`), and `description` prints `<redacted>`. The bytes are reachable
/// only through ``withUnsafeBytes(_:)``; copy them out only when you must, because a copy is not wiped.
///
/// See https://doc.libsodium.org/memory_management ("zeroing memory") and
/// https://doc.libsodium.org/helpers#constant-time-test-for-equality.
public final class SecretBytes: @unchecked Sendable {
    // Invariant that makes `@unchecked Sendable` sound: `storage` is allocated and written only inside `init`,
    // never written afterwards, and wiped and freed only in `deinit`, when no other reference exists. Every
    // access after `init` is a read, so instances may be shared freely across tasks.
    private let storage: UnsafeMutableRawBufferPointer

    /// The number of bytes held.
    public var count: Int { storage.count }

    /// Allocates `count` bytes and lets `body` fill them. If `body` throws, the bytes are wiped and freed.
    package init<E: Error>(
        count: Int,
        initializingWith body: (UnsafeMutableRawBufferPointer) throws(E) -> Void
    ) throws(E) {
        precondition(count >= 0, "SecretBytes count must not be negative")
        _ = Sodium.ready
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0)
        do {
            try body(storage)
        } catch {
            Self.wipeAndFree(storage)
            throw error
        }
        self.storage = storage
    }

    /// Copies `bytes` into a new secret buffer.
    ///
    /// The source array is not wiped; prefer APIs that fill ``SecretBytes`` directly where there is one.
    /// - Parameter bytes: The secret to hold.
    public convenience init(copying bytes: [UInt8]) {
        self.init(count: bytes.count) { buffer in
            buffer.copyBytes(from: bytes)
        }
    }

    deinit {
        Self.wipeAndFree(storage)
    }

    private static func wipeAndFree(_ storage: UnsafeMutableRawBufferPointer) {
        if let base = storage.baseAddress {
            // "sodium_memzero() [...] zeroes len bytes starting at pnt. [...] the compiler cannot optimize
            // it away" (https://doc.libsodium.org/memory_management).
            sodium_memzero(base, storage.count)
        }
        storage.deallocate()
    }

    /// Calls `body` with a read-only view of the secret bytes.
    ///
    /// - Parameter body: Must not let the pointer escape.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(storage))
    }
}

extension SecretBytes: Equatable {
    /// Compares in time that depends only on the length, never on the contents.
    public static func == (lhs: SecretBytes, rhs: SecretBytes) -> Bool {
        guard lhs.count == rhs.count else { return false }
        guard lhs.count > 0 else { return true }
        // "sodium_memcmp() returns 0 if the len bytes pointed to by b1_ match the len bytes pointed to by b2_.
        // Otherwise, it returns -1." (https://doc.libsodium.org/helpers#constant-time-test-for-equality)
        return sodium_memcmp(lhs.storage.baseAddress!, rhs.storage.baseAddress!, lhs.count) == 0
    }
}

extension SecretBytes: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Always `<redacted>`.
    public var description: String { "<redacted>" }
    /// Always `<redacted>`.
    public var debugDescription: String { "<redacted>" }
    /// An empty mirror, so `dump` and debuggers show nothing of the contents.
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}
