/// The value of a ``DataElement`` to be written.
///
/// A string literal makes a ``string(_:)`` value, so `DataElement(.patientID, .lo, "9434765919")` works.
public enum Value: Sendable, ExpressibleByStringLiteral {
    /// Raw bytes, written as they are: no padding, so an odd count makes an odd-length value. For binary
    /// VRs (US, SS, UL, SL, FL, FD, AT, OW, OF, OL, OD, OV, SV, UV) give them in little-endian order; the
    /// writer swaps them for Explicit VR Big Endian (PS3.5 §7.3).
    case bytes([UInt8])
    /// Text, encoded in the data set's Specific Character Set (Latin-1 for `ISO_IR 100`, else UTF-8) and
    /// padded to an even length with a space, or a NUL for UI (PS3.5 §6.2). Multiple values are separated
    /// by `\`.
    case string(String)
    /// A sequence of items, each a list of data elements (PS3.5 §7.5). With `undefinedLength` the sequence
    /// and its items end with delimitation items; otherwise they carry explicit lengths.
    case sequence([[DataElement]], undefinedLength: Bool)
    /// Encapsulated pixel data (PS3.5 §A.4): written with undefined length as an empty Basic Offset Table
    /// item, one item per fragment (padded to even length with a zero byte), and a sequence delimiter.
    case fragments([[UInt8]])
    /// 16-bit unsigned numbers (US, or OW words), in the transfer syntax's byte order.
    case uint16([UInt16])
    /// 32-bit unsigned numbers (UL, or OL), in the transfer syntax's byte order.
    case uint32([UInt32])

    /// A ``string(_:)`` value from a literal.
    public init(stringLiteral value: String) {
        self = .string(value)
    }
}
