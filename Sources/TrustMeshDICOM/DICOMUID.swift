/// The one check of a UID (UI) value, made at every door a UID comes through: ingest, STOW-RS,
/// C-STORE, a fetched manifest, query parameters, C-FIND and C-MOVE identifiers.
///
/// PS3.5 §9.1: at most 64 characters, components of digits separated by dots, no empty component,
/// no leading zero in a component of more than one digit ("0" alone is a component). A UID is also
/// a name the node builds folders and files from (`export`), so nothing else may pass.
///
/// ```swift
/// try DICOMUID.check("1.2.840.10008.1.2", attribute: "TransferSyntaxUID")   // passes
/// try DICOMUID.check("../../outside", attribute: "SeriesInstanceUID")
/// // SeriesInstanceUID is not a valid UID: it holds characters other than digits and dots
/// ```
public enum DICOMUID {
    /// Why `value` is not a valid UID, or nil when it is one.
    public static func problem(_ value: String) -> String? {
        let bytes = Array(value.utf8)
        if bytes.isEmpty { return "it is empty" }
        if bytes.count > 64 { return "it is \(bytes.count) characters long; a UID has at most 64" }
        if !bytes.allSatisfy({ $0 == UInt8(ascii: ".") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) {
            return "it holds characters other than digits and dots"
        }
        for component in bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            if component.isEmpty { return "it has an empty component (a leading, trailing or doubled dot)" }
            if component.count > 1 && component.first == UInt8(ascii: "0") {
                return "a component of more than one digit starts with 0"
            }
        }
        return nil
    }

    /// Whether `value` is a valid UID.
    public static func isValid(_ value: String) -> Bool { problem(value) == nil }

    /// Checks a UID value.
    /// - Parameters:
    ///   - value: the value as received.
    ///   - attribute: its keyword (`SeriesInstanceUID`), which the refusal names.
    /// - Throws: ``InvalidUID`` naming the attribute and the rule broken (never the value, which
    ///   may be anything a sender chose).
    public static func check(_ value: String, attribute: String) throws(InvalidUID) {
        if let reason = problem(value) { throw InvalidUID(attribute: attribute, reason: reason) }
    }
}

/// A UID value that is not one (PS3.5 §9.1), naming its attribute.
public struct InvalidUID: Error, CustomStringConvertible, Sendable, Equatable {
    /// The attribute's keyword.
    public let attribute: String
    /// The rule the value breaks.
    public let reason: String

    public var description: String { "\(attribute) is not a valid UID: \(reason)" }
}
