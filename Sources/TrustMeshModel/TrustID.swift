/// A trust's ODS code (Organisation Data Service), such as `RRK` or `RQ3`: the node id.
///
/// Stored upper-case; 3 to 6 ASCII letters and digits.
public struct TrustID: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    /// The code, upper-case.
    public let code: String

    /// Validates an ODS code.
    /// - Throws: ``ModelError/trustID(_:)`` if it is not 3 to 6 letters and digits.
    public init(_ text: String) throws(ModelError) {
        let upper = text.uppercased()
        let ok =
            (3...6).contains(upper.utf8.count)
            && upper.utf8.allSatisfy { (48...57).contains($0) || (65...90).contains($0) }
        guard ok else { throw .trustID(text) }
        code = upper
    }

    public var description: String { code }

    public static func < (lhs: TrustID, rhs: TrustID) -> Bool { lhs.code < rhs.code }

    public init(from decoder: any Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(code)
    }
}
