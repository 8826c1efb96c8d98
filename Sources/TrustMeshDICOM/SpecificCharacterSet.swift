/// Decodes string values with the character repertoire named by Specific Character Set (0008,0005).
///
/// PS3.5 §6.1.2.5 and PS3.3 §C.12.1.1.2. Supported exactly: the default repertoire (ISO-IR 6, ASCII),
/// ISO_IR 100 (ISO 8859-1, Latin-1) and ISO_IR 192 (UTF-8). Any other value — including ISO 2022 code
/// extensions, which need escape-sequence switching — decodes as UTF-8 where the bytes are valid UTF-8,
/// else as Latin-1, so that no value is lost or rejected.
enum SpecificCharacterSet: Sendable {
    case defaultRepertoire, latin1, utf8

    /// Chooses a decoder from the raw value of (0008,0005); nil means the element is absent.
    init(rawValue: [UInt8]?) {
        guard let rawValue else {
            self = .defaultRepertoire
            return
        }
        // A multi-valued Specific Character Set lists code extensions; the first value may be empty (default).
        let terms = String(decoding: rawValue, as: UTF8.self).split(separator: "\\", omittingEmptySubsequences: false)
            .map { $0.trimmingPadding() }
        if terms.contains("ISO_IR 192") {
            self = .utf8
        } else if terms.contains(where: { $0 == "ISO_IR 100" || $0 == "ISO 2022 IR 100" }) {
            self = .latin1
        } else {
            self = .defaultRepertoire
        }
    }

    /// Decodes `bytes`, trimming leading and trailing spaces and NULs (value padding, PS3.5 §6.2).
    /// - Returns: nil for an empty value.
    func decode(_ bytes: [UInt8]) -> String? {
        var lower = 0
        var upper = bytes.count
        while lower < upper, bytes[lower] == 0x20 || bytes[lower] == 0x00 { lower += 1 }
        while upper > lower, bytes[upper - 1] == 0x20 || bytes[upper - 1] == 0x00 { upper -= 1 }
        guard lower < upper else { return nil }
        let slice = bytes[lower..<upper]
        if !slice.contains(where: { $0 >= 0x80 }) { return String(decoding: slice, as: UTF8.self) }
        switch self {
        case .latin1:
            return Self.latin1(slice)
        case .utf8, .defaultRepertoire:
            return String(validating: slice, as: UTF8.self) ?? Self.latin1(slice)
        }
    }

    private static func latin1(_ bytes: ArraySlice<UInt8>) -> String {
        var scalars = String.UnicodeScalarView()
        for byte in bytes { scalars.append(Unicode.Scalar(byte)) }
        return String(scalars)
    }
}

extension Substring {
    /// The text without leading and trailing spaces and NULs.
    func trimmingPadding() -> String {
        var text = self
        while let first = text.first, first == " " || first == "\0" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\0" { text.removeLast() }
        return String(text)
    }
}
