/// Why a value from outside (a command line, a DICOM file, a peer) is not a valid model value.
///
/// Messages never contain a full NHS number: they name the rule that failed.
public struct ModelError: Error, CustomStringConvertible, Sendable, Equatable {
    private enum Code: Equatable, Sendable {
        case nhsNumberLength(Int)
        case nhsNumberCharacters
        case nhsNumberCheckDigit
        case trustID(String)
        case topology(String)
        case merkle(String)
        case network(String)
    }

    private let code: Code

    /// An NHS number that does not have exactly 10 digits.
    public static func nhsNumberLength(_ digits: Int) -> ModelError { ModelError(code: .nhsNumberLength(digits)) }
    /// An NHS number with characters other than digits, spaces and dashes.
    public static let nhsNumberCharacters = ModelError(code: .nhsNumberCharacters)
    /// An NHS number whose modulus-11 check digit is wrong.
    public static let nhsNumberCheckDigit = ModelError(code: .nhsNumberCheckDigit)
    /// An ODS code that is not 3 to 6 letters and digits.
    public static func trustID(_ text: String) -> ModelError { ModelError(code: .trustID(text)) }
    /// A topology that cannot be used, and why.
    public static func topology(_ reason: String) -> ModelError { ModelError(code: .topology(reason)) }
    /// A Merkle tree asked for a subtree or a size it does not hold.
    public static func merkle(_ reason: String) -> ModelError { ModelError(code: .merkle(reason)) }
    /// A membership document, key certificate or revocation that cannot be believed, and why.
    public static func network(_ reason: String) -> ModelError { ModelError(code: .network(reason)) }

    public var description: String {
        switch code {
        case .nhsNumberLength(let n):
            "an NHS number has 10 digits, this has \(n)"
        case .nhsNumberCharacters:
            "an NHS number may contain only digits, spaces and dashes"
        case .nhsNumberCheckDigit:
            "the NHS number's check digit is wrong (modulus 11): check it for a typing error"
        case .trustID(let text):
            "'\(text.prefix(16))' is not an ODS code (3 to 6 letters and digits, e.g. RRK)"
        case .topology(let reason):
            "topology: \(reason)"
        case .merkle(let reason):
            "audit tree: \(reason)"
        case .network(let reason):
            "network membership: \(reason)"
        }
    }
}
