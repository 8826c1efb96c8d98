import AsyncHTTPClient
import Foundation
import HTTPTypes
package import Hummingbird
import HummingbirdAuth
package import Logging
import NIOCore
package import TrustMeshModel

/// Something the access layer asks the node to write to its audit log.
package struct AccessEvent: Sendable {
    /// `accessRefused`, `signedIn` or `signedOut`.
    package var kind: String
    package var actor: Actor
    /// What was asked for (`METHOD PATH`) and why it was refused, and the like.
    package var details: [String: String]
}

/// Who may use the local listener, decided before any body is read: sign-in (OpenID Connect),
/// page sessions, bearer tokens, the permission table (``AccessTable``), CSRF and Origin checks,
/// and the Host allow-list. Every refusal is answered with what was wrong and audited.
package final class Access: Sendable {
    /// nil: sign-in is not configured; every door but the open routes refuses.
    package let settings: AccessSettings?
    package let trust: TrustID
    /// The node's public base URL (no trailing slash).
    package let publicURL: String
    /// What bearer tokens' `aud` must contain.
    package let audience: String
    /// The `Host` values this node answers to.
    package let allowedHosts: Set<String>
    /// Cookies are `Secure` and HSTS is sent.
    package let secure: Bool
    package let verifier: TokenVerifier?
    package let sessions: SessionStore?
    let provider: ProviderClient?
    let http: HTTPClient
    let logger: Logger
    let audit: @Sendable (AccessEvent) -> Void
    /// Renders a page for a refusal or a sign-in message (the node's own page layout).
    let pageWithCaller:
        @Sendable (_ status: HTTPResponse.Status, _ title: String, _ message: String, _ caller: Caller?) -> Response

    /// A page with one message, for no one in particular.
    package func page(_ status: HTTPResponse.Status, _ title: String, _ message: String) -> Response {
        pageWithCaller(status, title, message, nil)
    }

    package static let cookieName = "trustmesh_session"

    /// - Parameters:
    ///   - localAddress: `host:port` the local listener binds (also an allowed Host).
    ///   - sessionsPath: the SQLite file for sessions (`access.sqlite` in the data folder).
    package init(
        settings: AccessSettings?, trust: TrustID, publicURL: String, localAddress: String, sessionsPath: String,
        logger: Logger, audit: @escaping @Sendable (AccessEvent) -> Void,
        page: @escaping @Sendable (HTTPResponse.Status, String, String, Caller?) -> Response
    ) throws {
        self.settings = settings
        self.trust = trust
        self.publicURL = publicURL
        audience = settings?.audience ?? publicURL
        // Each configured name with its port, and bare (some clients, dicomweb-client among them, send
        // no port): a rebinding attack's Host is the attacker's own name, which is never here.
        var hosts: Set<String> = [localAddress.lowercased()]
        if let url = URL(string: publicURL), let host = url.host?.lowercased() {
            hosts.insert(url.port.map { "\(host):\($0)" } ?? host)
            hosts.insert(host)
            if url.port == nil { hosts.insert(host + (url.scheme == "https" ? ":443" : ":80")) }
        }
        if let colon = localAddress.lastIndex(of: ":") { hosts.insert(String(localAddress[..<colon]).lowercased()) }
        for name in settings?.hostNames ?? [] { hosts.insert(name.lowercased()) }
        allowedHosts = hosts
        secure = publicURL.hasPrefix("https://")
        self.logger = logger
        self.audit = audit
        pageWithCaller = page
        // The session store first: once the HTTP client exists, nothing here may throw (it must be shut down).
        let sessions = try settings.map {
            try SessionStore(path: sessionsPath, idle: $0.sessionIdle, absolute: $0.sessionAbsolute)
        }
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(5)
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        if let settings {
            verifier = TokenVerifier(issuer: settings.issuer, clockSkew: settings.clockSkew, http: http, logger: logger)
            self.sessions = sessions
            provider = ProviderClient(settings: settings, http: http)
        } else {
            verifier = nil
            self.sessions = nil
            provider = nil
        }
    }

    package func shutdown() async throws { try await http.shutdown() }

    /// The guard for one door's routes (each door puts it first in its middleware).
    package var guardMiddleware: AccessGuard { AccessGuard(access: self) }

    /// The local listener's outermost middleware: the Host allow-list, and HSTS under TLS.
    package var listenerMiddleware: ListenerMiddleware { ListenerMiddleware(access: self) }

    // MARK: Refusals

    /// Answers and audits a refusal. `program`: JSON; otherwise a page.
    func refuse(
        _ request: Request, _ status: HTTPResponse.Status, _ reason: String, caller: Caller?, program: Bool,
        headers: HTTPFields = [:]
    ) -> Response {
        let what = "\(request.method.rawValue) \(request.uri.path)"
        audit(
            AccessEvent(
                kind: "accessRefused", actor: caller?.actor ?? .system("unauthenticated request"),
                details: ["request": what, "reason": reason, "status": "\(status.code)"]))
        logger.notice("access refused", metadata: ["request": "\(what)", "reason": "\(reason)"])
        var response: Response
        if program {
            let body = (try? JSONEncoder().encode(["error": reason])) ?? Data()
            response = Response(status: status, body: .init(byteBuffer: ByteBuffer(bytes: body)))
            response.headers[.contentType] = "application/json"
        } else {
            // The signed-in caller still sees who they are and can sign out (a person with no role here).
            response = pageWithCaller(status, Self.title(status), reason, caller)
        }
        for field in headers { response.headers.append(field) }
        return response
    }

    static func title(_ status: HTTPResponse.Status) -> String {
        switch status.code {
        case 401: "Sign in needed"
        case 403: "Not allowed"
        default: "Refused"
        }
    }

    /// The session cookie's attributes.
    func cookie(_ value: String, clear: Bool = false) -> String {
        var cookie = "\(Self.cookieName)=\(value); Path=/; HttpOnly; SameSite=Lax"
        if secure { cookie += "; Secure" }
        if clear { cookie += "; Max-Age=0" }
        return cookie
    }

    /// The session id the browser sent, if any.
    static func sessionID(_ request: Request) -> String? {
        guard let value = request.cookies[cookieName]?.value, !value.isEmpty, value.count <= 128 else { return nil }
        return value
    }

    /// Why a role-less or under-privileged caller is refused: which role they lack.
    func lacking(_ permission: Permission, caller: Caller) -> String {
        let needed = permission.roles.map(\.label).joined(separator: " or ")
        let held = caller.roles.isEmpty ? "no role here" : caller.roles.sorted().map(\.label).joined(separator: ", ")
        return "\(caller.displayName) is signed in, but this needs the \(needed) role at \(trust.code) "
            + "(held: \(held))."
    }
}

/// The local listener's outermost middleware: refuses a `Host` that is not one of the node's
/// names (DNS rebinding), and adds HSTS under TLS.
package struct ListenerMiddleware: RouterMiddleware {
    package typealias Context = AccessContext
    let access: Access

    package func handle(
        _ request: Request, context: AccessContext,
        next: (Request, AccessContext) async throws -> Response
    ) async throws -> Response {
        let host = (request.head.authority ?? "").lowercased()
        guard access.allowedHosts.contains(host) else {
            return access.refuse(
                request, .misdirectedRequest, "this node does not answer to Host '\(host.prefix(100))'", caller: nil,
                program: true)
        }
        var response = try await next(request, context)
        if access.secure {
            response.headers[HTTPField.Name("Strict-Transport-Security")!] = "max-age=31536000"
        }
        return response
    }
}
