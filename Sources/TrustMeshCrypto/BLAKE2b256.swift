internal import CSodium

/// BLAKE2b with a 256-bit output and no key (RFC 7693), one-shot or streaming.
///
/// libsodium's `crypto_generichash` is BLAKE2b (https://doc.libsodium.org/hashing/generic_hashing); this type calls
/// the explicitly named `crypto_generichash_blake2b_*` functions so the algorithm cannot change underneath.
///
/// ```swift
/// var hasher = BLAKE2b256()
/// hasher.update(header)
/// hasher.update(body)
/// let digest = hasher.finalize()
/// ```
///
/// A value type: copying a hasher mid-stream forks it (the state is copied on write).
public struct BLAKE2b256: Sendable {
    private var state: State

    /// Starts a new unkeyed BLAKE2b-256 computation.
    public init() {
        _ = Sodium.ready
        state = State()
    }

    /// Absorbs `bytes`.
    /// - Parameter bytes: Any number of bytes, including none.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        if !isKnownUniquelyReferenced(&state) {
            state = state.copy()
        }
        let status = withUInt8Pointer(bytes) {
            crypto_generichash_blake2b_update(state.pointer, $0, UInt64(bytes.count))
        }
        Sodium.mustSucceed(status)
    }

    /// Absorbs `bytes`.
    /// - Parameter bytes: Any number of bytes, including none.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Returns the digest of everything absorbed. The hasher is consumed.
    public consuming func finalize() -> Digest256 {
        // libsodium refuses to finalise a state twice, and the state may be shared with a copy of this hasher.
        if !isKnownUniquelyReferenced(&state) {
            state = state.copy()
        }
        return withUnsafeTemporaryAllocation(byteCount: Digest256.byteCount, alignment: 8) { out in
            let typed = out.bindMemory(to: UInt8.self)
            Sodium.mustSucceed(crypto_generichash_blake2b_final(state.pointer, typed.baseAddress!, typed.count))
            return Digest256(unsafeBytes: UnsafeRawBufferPointer(out))
        }
    }

    /// Returns the BLAKE2b-256 digest of `bytes`.
    /// - Parameter bytes: The message.
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> Digest256 {
        _ = Sodium.ready
        precondition(Int(crypto_generichash_blake2b_bytes()) == Digest256.byteCount)
        return withUnsafeTemporaryAllocation(byteCount: Digest256.byteCount, alignment: 8) { out in
            let typed = out.bindMemory(to: UInt8.self)
            let status = withUInt8Pointer(bytes) {
                crypto_generichash_blake2b(typed.baseAddress!, typed.count, $0, UInt64(bytes.count), nil, 0)
            }
            Sodium.mustSucceed(status)
            return Digest256(unsafeBytes: UnsafeRawBufferPointer(out))
        }
    }

    /// Returns the BLAKE2b-256 digest of `bytes`.
    /// - Parameter bytes: The message.
    public static func hash(_ bytes: [UInt8]) -> Digest256 {
        bytes.withUnsafeBytes { hash($0) }
    }
}

extension BLAKE2b256 {
    /// Owns one `crypto_generichash_blake2b_state`.
    ///
    /// `@unchecked Sendable` invariant: the state is written only by `BLAKE2b256`'s mutating methods, and only after
    /// `isKnownUniquelyReferenced` has confirmed that no other value (and so no other task) can see this instance;
    /// a shared instance is only ever read (copied).
    final class State: @unchecked Sendable {
        // Swift does not import the over-aligned C struct, so the functions take it as an OpaquePointer.
        private let raw: UnsafeMutableRawPointer
        var pointer: OpaquePointer { OpaquePointer(raw) }

        private static var byteCount: Int { crypto_generichash_blake2b_statebytes() }
        // The C type is declared CRYPTO_ALIGN(64) in crypto_generichash_blake2b.h.
        private static let alignment = 64

        private init(uninitialized: Void) {
            raw = UnsafeMutableRawPointer.allocate(byteCount: Self.byteCount, alignment: Self.alignment)
        }

        convenience init() {
            self.init(uninitialized: ())
            precondition(Int(crypto_generichash_blake2b_bytes()) == Digest256.byteCount)
            Sodium.mustSucceed(crypto_generichash_blake2b_init(pointer, nil, 0, Digest256.byteCount))
        }

        func copy() -> State {
            let clone = State(uninitialized: ())
            clone.raw.copyMemory(from: raw, byteCount: Self.byteCount)
            return clone
        }

        deinit {
            // The state holds a digest of the input so far; wipe it like any other intermediate secret.
            sodium_memzero(raw, Self.byteCount)
            raw.deallocate()
        }
    }
}
