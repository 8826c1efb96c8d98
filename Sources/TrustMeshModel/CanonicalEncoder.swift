public import TrustMeshCrypto

/// Builds the deterministic bytes that a record's Ed25519 signature covers.
///
/// JSON is how records travel; it is never what is signed, because two JSON encoders (or one encoder
/// and a database round trip) may order keys, escape characters or print numbers differently. The
/// signature covers this encoding instead, which has exactly one form for a given value and is simple
/// enough to rebuild with Python's `struct` module and verify with PyNaCl.
///
/// ## Byte layout
///
/// Every message starts with a domain-separation string, so that bytes signed as one kind of record
/// can never be replayed as another kind (or another version of the same kind):
///
/// - **Domain**: the domain string's UTF-8 bytes, then one byte `0x00`. For index records it is
///   `TrustMesh/IndexRecord/v1`, so the message starts
///   `54 72 75 73 74 4d 65 73 68 2f 49 6e 64 65 78 52 65 63 6f 72 64 2f 76 31 00`.
///   The domain never contains `0x00`.
///
/// Then each field in the order the record type documents, each in one of these forms; there are
/// no field names, tags or padding between fields:
///
/// - **UInt64**: 8 bytes, big-endian (`struct.pack(">Q", n)`).
/// - **Int**: 8 bytes, big-endian two's complement (`struct.pack(">q", n)`). Counts and sizes are
///   never negative in practice; the form is signed so that no input can trap the encoder.
/// - **String**: its UTF-8 byte length as a UInt32, 4 bytes big-endian, then the UTF-8 bytes exactly
///   as held (no Unicode normalisation, no terminator): `struct.pack(">I", len(b)) + b` with
///   `b = s.encode("utf-8")`.
/// - **Raw bytes** (a ``Digest256``): the length as a UInt32, 4 bytes big-endian, then the bytes.
///   A BLAKE2b-256 digest is therefore `00 00 00 20` followed by its 32 bytes.
/// - **Optional**: one presence byte, `0x00` for absent (and nothing follows) or `0x01` for present,
///   followed by the value in its own form.
/// - **Array of strings**: the element count as a UInt32, 4 bytes big-endian, then each element as a
///   String, in order (the order is significant and is not sorted by the encoder).
///
/// ```swift
/// var encoder = CanonicalEncoder(domain: "TrustMesh/IndexRecord/v1")
/// encoder.append(UInt64(7))          // 00 00 00 00 00 00 00 07
/// encoder.append("RRK")              // 00 00 00 03 52 52 4b
/// encoder.append(optional: nil as String?)  // 00
/// let message = encoder.bytes
/// ```
public struct CanonicalEncoder: Sendable {
    /// The bytes encoded so far, starting with the domain and its `0x00` terminator.
    public private(set) var bytes: [UInt8]

    /// Starts a message with its domain-separation string.
    ///
    /// - Parameter domain: A fixed ASCII name and version, such as `TrustMesh/IndexRecord/v1`. It must
    ///   not contain a NUL character: the domain is terminated by `0x00`.
    public init(domain: String) {
        precondition(!domain.utf8.contains(0), "a canonical domain must not contain NUL")
        bytes = Array(domain.utf8)
        bytes.append(0)
    }

    /// Appends 8 bytes, big-endian.
    /// - Parameter value: The number.
    public mutating func append(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }

    /// Appends 8 bytes, big-endian two's complement.
    /// - Parameter value: The number.
    public mutating func append(_ value: Int) {
        append(UInt64(bitPattern: Int64(value)))
    }

    /// Appends a UInt32 big-endian byte length, then the UTF-8 bytes.
    /// - Parameter value: The string, encoded exactly as held (no normalisation).
    public mutating func append(_ value: String) {
        append(bytes: Array(value.utf8))
    }

    /// Appends a UInt32 big-endian element count, then each string in the String form.
    /// - Parameter values: The strings, in order.
    public mutating func append(_ values: [String]) {
        appendLength(values.count)
        for value in values {
            append(value)
        }
    }

    /// Appends a UInt32 big-endian byte length, then the bytes.
    /// - Parameter raw: The bytes; fewer than 2³² of them.
    public mutating func append(bytes raw: [UInt8]) {
        appendLength(raw.count)
        bytes.append(contentsOf: raw)
    }

    /// Appends a digest as raw bytes: `00 00 00 20` and its 32 bytes.
    /// - Parameter digest: The digest.
    public mutating func append(_ digest: Digest256) {
        append(bytes: digest.rawBytes)
    }

    /// Appends `0x00` for `nil`, or `0x01` followed by the string.
    /// - Parameter value: The optional string.
    public mutating func append(optional value: String?) {
        if let value {
            bytes.append(1)
            append(value)
        } else {
            bytes.append(0)
        }
    }

    /// Appends the presence byte of an Optional whose value is a group of fields: `0x00` (absent;
    /// nothing follows) or `0x01` (present; the caller appends the fields next, in their forms).
    /// - Parameter isPresent: Whether the value is present.
    public mutating func appendPresence(_ isPresent: Bool) {
        bytes.append(isPresent ? 1 : 0)
    }

    /// Appends `0x00` for `nil`, or `0x01` followed by the digest as raw bytes.
    /// - Parameter value: The optional digest.
    public mutating func append(optional value: Digest256?) {
        if let value {
            bytes.append(1)
            append(value)
        } else {
            bytes.append(0)
        }
    }

    private mutating func appendLength(_ count: Int) {
        // A record field of 4 GiB is not a record; refusing it is a programmer error upstream.
        precondition(count <= Int(UInt32.max), "canonical field longer than 2^32 - 1 bytes")
        let length = UInt32(count)
        for shift in stride(from: 24, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: length >> UInt32(shift)))
        }
    }
}
