import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TrustMeshAccess
import TrustMeshModel

/// Small helpers for server-rendered HTML: the page frame, the response, and form and query
/// decoding. Markup itself is built as ``SafeHTML``, which escapes what it interpolates.
enum HTML {
    /// Percent-encodes a query value (interpolated into a ``SafeHTML`` attribute, it is then
    /// escaped too).
    static func query(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    /// The main navigation's entries: path and label.
    static let navigation: [(path: String, label: String)] = [
        ("/", "Patient search"), ("/priors", "Prior imaging"), ("/worklists", "Worklists"), ("/fetches", "Fetches"),
        ("/operator", "Operator"),
        ("/audit", "Audit trail"), ("/governance", "Emergency reviews"),
    ]

    /// What each navigation entry needs; entries the signed-in person may not use are not shown.
    static let navigationPermission: [String: Permission] = [
        "/": .search, "/priors": .search, "/worklists": .view, "/fetches": .view, "/operator": .status,
        "/audit": .audit,
        "/governance": .audit,
    ]

    /// The hidden field every state-changing form carries: the session's CSRF token.
    static var csrfField: SafeHTML {
        guard let token = Caller.current?.session?.csrf else { return "" }
        return "<input type=\"hidden\" name=\"csrf\" value=\"\(token)\">"
    }

    /// Who is signed in, and the sign-out button.
    static var signedIn: SafeHTML {
        guard let caller = Caller.current else { return "" }
        let roles = caller.roles.sorted().map(\.label).joined(separator: ", ")
        let role = caller.person?.roleCode ?? ""
        return """
            <div class="who">Signed in as <strong>\(caller.displayName)</strong> \
            (\(roles.isEmpty ? "no role here" : roles)\(role.isEmpty ? "" : ", " + role))\
            <form method="post" action="/auth/logout" class="signout">\(csrfField)\
            <button type="submit">Sign out</button></form></div>
            """
    }

    /// A whole page: head (stylesheet and script from this node only), masthead with the trust and
    /// navigation, the content, and a footer.
    static func page(title: String, node: String, current: String, refresh: Bool = false, body: SafeHTML)
        -> SafeHTML
    {
        let caller = Caller.current
        let nav = navigation.filter { entry in
            guard let caller, let permission = navigationPermission[entry.path] else { return true }
            return caller.may(permission)
        }.map { entry -> SafeHTML in
            let mark: SafeHTML = entry.path == current ? " aria-current=\"page\"" : ""
            return "<a href=\"\(entry.path)\"\(mark)>\(entry.label)</a>"
        }.joined()
        // Without JavaScript, a page showing a fetch in progress reloads itself.
        let reload: SafeHTML = refresh ? "<noscript><meta http-equiv=\"refresh\" content=\"2\"></noscript>" : ""
        return """
            <!doctype html>
            <html lang="en-GB">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(title) — TrustMesh</title>
            <link rel="stylesheet" href="/assets/app.css">
            <script src="/assets/app.js" defer></script>
            \(reload)
            </head>
            <body>
            <a class="skip" href="#main">Skip to main content</a>
            <header class="masthead">
            <div class="brand">TrustMesh</div>
            <div class="node">Imaging across the network, from this trust's node: \(node)</div>
            <nav aria-label="Main">\(nav)</nav>
            \(signedIn)
            </header>
            <main id="main" tabindex="-1">
            \(body)
            </main>
            <footer>This page is served by your trust's own node. It loads nothing from anywhere else and sends \
            no patient data to any third party. Every search is recorded in the node's audit trail.</footer>
            </body>
            </html>
            """
    }

    /// An HTML response with headers that keep the page to this node's own resources.
    static func response(_ status: HTTPResponse.Status = .ok, _ html: SafeHTML) -> Response {
        var response = Response(status: status, body: .init(byteBuffer: ByteBuffer(string: html.markup)))
        response.headers[.contentType] = "text/html; charset=utf-8"
        response.headers[.cacheControl] = "no-store"
        response.headers[HTTPField.Name("Content-Security-Policy")!] =
            "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; "
            + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        // same-origin, not no-referrer: browsers then send the real Origin on the page's own form posts,
        // which the access guard checks (with no-referrer a form post carries `Origin: null`).
        response.headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        response.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return response
    }

    /// A 303 See Other to `location` (after a form's POST, so a reload does not post it again).
    static func redirect(_ location: String) -> Response {
        var response = Response(status: .seeOther)
        response.headers[.location] = location
        return response
    }

    /// Decodes `application/x-www-form-urlencoded` text (a form body or a URL's query): `+` is a
    /// space, `%XX` a byte; later values of a repeated name win.
    static func form(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String {
                let spaced = part.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            fields[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }

    /// The request's query fields.
    static func query(of request: Request) -> [String: String] { form(request.uri.query ?? "") }

    /// The request's form body (at most 64 KiB).
    static func formBody(of request: Request) async -> [String: String] {
        var request = request
        guard let body = try? await request.collectBody(upTo: 64 << 10) else { return [:] }
        return form(String(buffer: body))
    }

    /// Bytes for people: "512 KB", "1.4 GB" (SI units, as the CLI and BENCHMARKS quote them).
    static func size(_ bytes: Int) -> String {
        let value = Double(bytes)
        if bytes >= 1_000_000_000 { return String(format: "%.1f GB", value / 1e9) }
        if bytes >= 1_000_000 { return String(format: "%.1f MB", value / 1e6) }
        if bytes >= 1_000 { return String(format: "%.0f KB", value / 1e3) }
        return "\(bytes) bytes"
    }

    /// A DICOM date (`YYYYMMDD`) as `14 Mar 2026`, the form NHS screens use; other text as given.
    static func date(_ dicom: String?) -> String {
        guard let dicom, dicom.count == 8, let year = Int(dicom.prefix(4)),
            let month = Int(dicom.dropFirst(4).prefix(2)), let day = Int(dicom.suffix(2)), (1...12).contains(month)
        else { return dicom ?? "date not recorded" }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return "\(day) \(months[month - 1]) \(year)"
    }

    /// A DICOM date as ISO 8601 (`2026-03-14`) for `<time datetime>`; nil when it is not a date.
    static func isoDate(_ dicom: String?) -> String? {
        guard let dicom, dicom.count == 8, dicom.allSatisfy(\.isNumber) else { return nil }
        return "\(dicom.prefix(4))-\(dicom.dropFirst(4).prefix(2))-\(dicom.suffix(2))"
    }
}
