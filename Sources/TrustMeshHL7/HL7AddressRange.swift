import Glibc

/// An address or a CIDR block a feed may connect from (`--hl7-allow`): `10.1.2.3`, `10.1.0.0/16`,
/// `::1`, `fd00::/8`. An IPv4 address written as IPv6 (`::ffff:10.1.2.3`) matches as IPv4.
public struct HL7AddressRange: Sendable, Hashable, CustomStringConvertible {
    private let network: [UInt8]
    private let prefix: Int
    /// As given.
    public let description: String

    /// Reads an address or CIDR block.
    /// - Throws: ``HL7Error`` naming what is wrong with `text`.
    public init(_ text: String) throws(HL7Error) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let bytes = Self.bytes(String(parts[0])) else {
            throw .unreadable("--hl7-allow", "\"\(text)\" is not an IP address or CIDR block (e.g. 10.1.0.0/16)")
        }
        let bits = bytes.count * 8
        var prefix = bits
        if parts.count == 2 {
            guard let given = Int(parts[1]), (0...bits).contains(given) else {
                throw .unreadable("--hl7-allow", "\"\(text)\": the prefix length must be 0–\(bits)")
            }
            prefix = given
        }
        network = bytes
        self.prefix = prefix
        description = text
    }

    /// Whether `address` (as a socket reports it) is in this range.
    public func contains(_ address: String) -> Bool {
        guard let bytes = Self.bytes(address), bytes.count == network.count else { return false }
        var remaining = prefix
        for (a, b) in zip(bytes, network) where remaining > 0 {
            let take = min(8, remaining)
            let mask: UInt8 = take == 8 ? 0xFF : ~(0xFF >> UInt8(take))
            if a & mask != b & mask { return false }
            remaining -= take
        }
        return true
    }

    /// An address's bytes: 4 for IPv4 (and IPv4-mapped IPv6), 16 for IPv6.
    static func bytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF { return Array(bytes[12...]) }
        return bytes
    }
}
