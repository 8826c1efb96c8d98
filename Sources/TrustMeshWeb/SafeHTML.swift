/// A fragment of HTML in which every interpolated value has been escaped, unless it was itself a
/// `SafeHTML`.
///
/// Pages are built from this type so that forgetting to escape one value cannot open a hole: text
/// goes in escaped by default, and markup can come from only three places —
/// - the string literals in the source (`StaticString`, so a `String` computed at run time can't
///   pass for one),
/// - another `SafeHTML` interpolated or appended (it was built escaped),
/// - ``init(trusted:)``, for the rare fragment that must not be escaped and can't be a literal (the
///   page's JSON data block). Each use says why in a comment.
///
/// Interpolated strings and integers are escaped for element content and for attribute values in
/// double or single quotes: `&`, `<`, `>`, `"` and `'` become character references. An attribute's
/// value must therefore always be quoted in the literal. A URL built from a value is
/// percent-encoded first (``HTML/query(_:)``), then escaped by the interpolation.
///
/// ```swift
/// let name = "<script>alert(1)</script>"
/// let cell: SafeHTML = "<td title=\"\(name)\">\(name)</td>"
/// // <td title="&lt;script&gt;alert(1)&lt;/script&gt;">&lt;script&gt;alert(1)&lt;/script&gt;</td>
/// let row: SafeHTML = "<tr>\(cell)</tr>"  // cell is markup already: not escaped again
/// ```
package struct SafeHTML: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringInterpolation {
    /// The markup, ready to send.
    package private(set) var markup: String

    /// No markup at all.
    package static let empty = SafeHTML(markup: "")

    private init(markup: String) { self.markup = markup }

    /// Markup taken as it is, without escaping: only for a fragment that is safe by construction and
    /// can't be written as a literal. Say at each use why it is safe.
    package init(trusted markup: String) { self.markup = markup }

    /// A literal in the source: markup as written.
    package init(stringLiteral literal: StaticString) { markup = literal.description }

    /// A literal with interpolations: the literal parts as written, each interpolated value escaped
    /// unless it is a `SafeHTML`.
    package init(stringInterpolation: Interpolation) { markup = stringInterpolation.markup }

    package var description: String { markup }

    /// Builds a `SafeHTML` literal: literal parts are markup, interpolated values are escaped text.
    package struct Interpolation: StringInterpolationProtocol {
        fileprivate var markup = ""

        package init(literalCapacity: Int, interpolationCount: Int) {
            markup.reserveCapacity(literalCapacity + 16 * interpolationCount)
        }

        /// A literal part of the source: markup as written.
        package mutating func appendLiteral(_ literal: StaticString) { markup += literal.description }

        /// Text: escaped.
        package mutating func appendInterpolation(_ text: some StringProtocol) { SafeHTML.escape(text, into: &markup) }

        /// A number: written in decimal (escaping it would change nothing).
        package mutating func appendInterpolation(_ number: some BinaryInteger) { markup += String(number) }

        /// Markup built escaped: included as it is.
        package mutating func appendInterpolation(_ html: SafeHTML) { markup += html.markup }
    }

    /// Both fragments, one after the other.
    package static func + (lhs: SafeHTML, rhs: SafeHTML) -> SafeHTML { SafeHTML(markup: lhs.markup + rhs.markup) }

    /// Appends `rhs` to `lhs`.
    package static func += (lhs: inout SafeHTML, rhs: SafeHTML) { lhs.markup += rhs.markup }

    /// Whether there is no markup.
    package var isEmpty: Bool { markup.isEmpty }

    /// Escapes text for element content and quoted attribute values (HTML Living Standard, "Writing
    /// HTML documents": "Text" and "Attributes"): `<` and `&` in text, the quote that would end an
    /// attribute value, and `>` and the other quote for good measure. The only escaping in the page
    /// code.
    ///
    /// It goes by Unicode scalar, as the browser's tokenizer does, not by `Character`: a `"`
    /// followed by a combining mark (U+0301) is one `Character` that is not equal to `"`, yet the
    /// browser still ends the attribute at that `"`.
    private static func escape(_ text: some StringProtocol, into out: inout String) {
        out.reserveCapacity(out.utf8.count + text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(scalar)
            }
        }
    }
}

extension Sequence<SafeHTML> {
    /// The fragments one after the other, with `separator` between each two.
    package func joined(separator: SafeHTML = .empty) -> SafeHTML {
        var result = SafeHTML.empty
        for (index, fragment) in enumerated() {
            if index > 0 { result += separator }
            result += fragment
        }
        return result
    }
}
