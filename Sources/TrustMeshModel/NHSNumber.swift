/// A valid NHS number: ten digits whose last is a modulus-11 check digit.
///
/// Construction validates, so past the input edge an NHS number is never a bare `String`.
/// Spaces and dashes are accepted on input (`943 476 5919`, `943-476-5919`) and dropped.
///
/// The check digit follows the NHS Data Dictionary ("NHS NUMBER"): multiply the first nine digits
/// by weights 10 down to 2, sum, take the remainder modulo 11 and subtract it from 11; a result of
/// 11 means a check digit of 0, and 10 means the number is invalid.
///
/// `description` masks all but the last four digits so an NHS number never reaches a log by
/// accident; use ``digits`` or ``formatted`` where the full number is meant to be shown.
///
/// ```swift
/// let nhs = try NHSNumber("943 476 5919")
/// nhs.digits     // "9434765919"
/// nhs.formatted  // "943 476 5919"
/// "\(nhs)"       // "*** *** 5919"
/// ```
public struct NHSNumber: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    /// The ten digits, no separators.
    /// - Warning: the full identifier of a patient; show it only to those entitled to see it.
    public let digits: String

    /// Validates and normalises an NHS number.
    /// - Throws: ``ModelError`` naming the rule that failed (length, characters, check digit).
    public init(_ text: String) throws(ModelError) {
        var values: [Int] = []
        values.reserveCapacity(10)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "0"..."9": values.append(Int(scalar.value) - 48)
            case " ", "-": continue
            default: throw .nhsNumberCharacters
            }
        }
        guard values.count == 10 else { throw .nhsNumberLength(values.count) }
        var sum = 0
        for (index, value) in values.prefix(9).enumerated() { sum += value * (10 - index) }
        var check = 11 - sum % 11
        if check == 11 { check = 0 }
        guard check != 10, check == values[9] else { throw .nhsNumberCheckDigit }
        digits = String(values.map { Character(Unicode.Scalar(UInt8(48 + $0))) })
    }

    /// The number as printed on NHS documents: `943 476 5919`.
    /// - Warning: the full identifier of a patient.
    public var formatted: String {
        let d = Array(digits)
        return String(d[0..<3]) + " " + String(d[3..<6]) + " " + String(d[6..<10])
    }

    /// Masked form safe for logs and error messages: `*** *** 5919`.
    public var description: String { "*** *** " + digits.suffix(4) }

    public static func < (lhs: NHSNumber, rhs: NHSNumber) -> Bool { lhs.digits < rhs.digits }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(digits)
    }
}

extension NHSNumber {
    /// The OID of the NHS number as an identifier issuer (England and Wales).
    public static let issuerOID = "2.16.840.1.113883.2.1.4.1"

    /// Whether a DICOM Issuer of Patient ID names the NHS (the text `NHS`, as many PACS write it,
    /// or the NHS number OID).
    public static func isNHSIssuer(_ issuer: String) -> Bool {
        let trimmed = issuer.trimmingSpaces.uppercased()
        return trimmed == issuerOID || trimmed.split(whereSeparator: { !$0.isLetter }).contains("NHS")
    }
}

extension String {
    fileprivate var trimmingSpaces: Substring {
        let s = self.drop { $0 == " " }
        return s.prefix(s.count - s.reversed().prefix { $0 == " " }.count)
    }
}
