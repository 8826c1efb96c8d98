import Foundation
import Testing

@testable import TrustMeshWeb

/// `SafeHTML`: interpolated text is escaped, markup is only what the source or another `SafeHTML` says.
@Suite struct SafeHTMLTests {
    static let script = "<script>alert(1)</script>"

    @Test func interpolatedTextIsEscapedAndLiteralMarkupIsKept() {
        let value = "\(Self.script) \"double\" 'single' R&D </td>"
        let html: SafeHTML = "<td title=\"\(value)\">\(value)</td>"
        let text =
            "&lt;script&gt;alert(1)&lt;/script&gt; &quot;double&quot; &#39;single&#39; R&amp;D &lt;/td&gt;"
        #expect(html.markup == "<td title=\"\(text)\">\(text)</td>")
    }

    @Test func substringsAndOptionalsWithADefaultAreEscapedToo() {
        let value = "a<b>c"
        let missing: String? = nil
        let html: SafeHTML = "\(value.prefix(3))|\(value.dropFirst(3))|\(missing ?? "<none>")"
        #expect(html.markup == "a&lt;b|&gt;c|&lt;none&gt;")
    }

    /// A `"` followed by a combining mark is one `Character` ("\"\u{301}" != "\""), but the browser
    /// reads the `"` and ends the attribute; escaping goes by Unicode scalar.
    @Test func aQuoteOrBracketJoinedToACombiningMarkIsStillEscaped() {
        let value = "x\"\u{301} autofocus onfocus=alert(1) y=\"\u{301}<\u{338}&\u{301}"
        let html: SafeHTML = "<input value=\"\(value)\">"
        #expect(
            Array(html.markup.unicodeScalars)
                == Array(
                    "<input value=\"x&quot;\u{301} autofocus onfocus=alert(1) y=&quot;\u{301}&lt;\u{338}&amp;\u{301}\">"
                        .unicodeScalars))
        #expect(html.markup.unicodeScalars.filter { $0 == "\"" }.count == 2)
    }

    @Test func numbersAreWrittenInDecimal() {
        let count = 3
        let sequence: UInt64 = 18_446_744_073_709_551_615
        let html: SafeHTML = "<td>\(count)</td><td>\(sequence)</td><td>\(-7)</td>"
        #expect(html.markup == "<td>3</td><td>18446744073709551615</td><td>-7</td>")
    }

    @Test func aSafeHTMLInterpolatedOrAddedIsNotEscapedAgain() {
        let text = "a&b"
        let cell: SafeHTML = "<td>\(text)</td>"
        let row: SafeHTML = "<tr>\(cell)</tr>"
        #expect(row.markup == "<tr><td>a&amp;b</td></tr>")
        var table: SafeHTML = "<table>"
        table += row
        #expect((table + "</table>").markup == "<table><tr><td>a&amp;b</td></tr></table>")
    }

    @Test func joinedPutsTheSeparatorBetweenFragmentsOnly() {
        let a = "<a>"
        let c = "c"
        let items: [SafeHTML] = ["\(a)", "<b>", "\(c)"]
        #expect(items.joined().markup == "&lt;a&gt;<b>c")
        #expect(items.joined(separator: "<br>").markup == "&lt;a&gt;<br><b><br>c")
        #expect([SafeHTML]().joined(separator: "<br>") == .empty)
        #expect(SafeHTML.empty.isEmpty && SafeHTML.empty.markup == "")
        #expect(([] as [SafeHTML]).joined().isEmpty)
    }

    @Test func trustedMarkupIsTakenAsItIs() {
        let markup = "<b>bold</b> &amp;"
        let html: SafeHTML = "<p>\(SafeHTML(trusted: markup))</p>"
        #expect(html.markup == "<p><b>bold</b> &amp;</p>")
        #expect(html.description == html.markup)
    }

    /// The JSON data block is not HTML-escaped (the script parses its text), so every `<` becomes
    /// `\u003c`: no value can close the element or open a comment.
    @Test func theJSONDataBlockCannotBeClosedByItsValues() throws {
        let hostile = "</script><script>alert(1)</script><!-- <\u{338}/script>"
        let block = WebPages.jsonBlock(id: "rule-sentences", ["rule": hostile]).markup
        let open = "<script type=\"application/json\" id=\"rule-sentences\">"
        #expect(block.hasPrefix(open) && block.hasSuffix("</script>"))
        let json = String(block.dropFirst(open.count).dropLast("</script>".count))
        #expect(!json.unicodeScalars.contains("<"))
        let decoded = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String]
        #expect(decoded == ["rule": hostile])
        let sentences = WebPages.ruleSentences().markup
        #expect(sentences.hasPrefix(open) && sentences.contains("noCareRelationship"))
    }
}
