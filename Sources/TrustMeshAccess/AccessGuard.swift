import Foundation
import HTTPTypes
package import Hummingbird
import HummingbirdAuth
import Logging
import NIOCore
import TrustMeshCrypto

/// The guard in front of every door's routes: finds the route's rule in ``AccessTable``
/// (none: refused), establishes the caller the way the door takes it (a page session, or a bearer
/// token), checks CSRF and Origin on the page's state-changing requests and the content type on
/// the API's, then the permission and scope. The handler runs only for a caller allowed there,
/// with the caller in the context.
package struct AccessGuard: RouterMiddleware {
    package typealias Context = AccessContext
    let access: Access

    package func handle(
        _ request: Request, context: AccessContext,
        next: (Request, AccessContext) async throws -> Response
    ) async throws -> Response {
        let path = context.endpointPath ?? ""
        guard let rule = AccessTable.rule(request.method, path) else {
            return access.refuse(request, .forbidden, "no access rule for this route", caller: nil, program: true)
        }
        guard let permission = rule.permission else { return try await next(request, context) }
        guard access.settings != nil else {
            return access.refuse(
                request, .forbidden,
                "sign-in is not configured on this node (the operator starts it with node run --access FILE)",
                caller: nil, program: rule.door == .program)
        }
        var context = context
        switch rule.door {
        case .program:
            switch await bearer(request, rule: rule, permission: permission) {
            case .failure(let refusal): return refusal.response
            case .success(let caller): context.identity = caller
            }
            return try await next(request, context)
        case .page:
            switch await pageCaller(request, rule: rule, permission: permission) {
            case .failure(let refusal): return refusal.response
            case .success(let (caller, request)):
                context.identity = caller
                return try await next(request, context)
            }
        case .open:
            return try await next(request, context)
        }
    }

    /// A program's caller: a bearer access token for this node, with the role and scope.
    private func bearer(_ request: Request, rule: AccessRule, permission: Permission) async -> Result<Caller, Refusal> {
        let challenge: HTTPFields = [.wwwAuthenticate: "Bearer realm=\"trustmesh\""]
        guard let token = request.headers.bearer?.token, !token.isEmpty else {
            let reason =
                Access.sessionID(request) != nil
                ? "this door takes a bearer access token (Authorization: Bearer), not a session cookie"
                : "sign in: send Authorization: Bearer with an access token for this node (trustmesh login)"
            return .failure(
                Refusal(access.refuse(request, .unauthorized, reason, caller: nil, program: true, headers: challenge)))
        }
        if request.method != .get, request.method != .head, request.uri.path.hasPrefix("/api/") {
            let type = request.headers[.contentType]?.lowercased() ?? ""
            guard type == "application/json" || type.hasPrefix("application/json;") else {
                return .failure(
                    Refusal(
                        access.refuse(
                            request, .unsupportedMediaType, "the API takes Content-Type: application/json",
                            caller: nil, program: true)))
            }
        }
        guard let verifier = access.verifier, let settings = access.settings else {
            return .failure(
                Refusal(access.refuse(request, .forbidden, "sign-in is not configured", caller: nil, program: true)))
        }
        let claims: TokenClaims
        do { claims = try await verifier.verify(token, audience: access.audience) } catch {
            var fields = challenge
            fields[.wwwAuthenticate] = "Bearer realm=\"trustmesh\", error=\"invalid_token\""
            return .failure(
                Refusal(
                    access.refuse(
                        request, .unauthorized, error.description, caller: nil, program: true, headers: fields)))
        }
        let resolved = settings.roleMap.resolve(claims, issuer: settings.issuer, trust: access.trust)
        let scopes = Set((claims.scope ?? "").split(separator: " ").map(String.init))
        let caller = Caller(
            person: resolved.person, system: resolved.system, roles: resolved.roles, scopes: scopes, session: nil)
        if rule.systemsOnly, caller.person != nil {
            return .failure(
                Refusal(
                    access.refuse(
                        request, .forbidden,
                        "\(caller.displayName) is a person: this door takes a hospital system's token (client "
                            + "credentials), never a person's", caller: caller, program: true)))
        }
        guard rule.admits(caller.roles) else {
            return .failure(
                Refusal(
                    access.refuse(
                        request, .forbidden, access.lacking(permission, caller: caller), caller: caller, program: true))
            )
        }
        let granted = caller.may(permission) ? permission : (rule.alternative ?? permission)
        if let scope = rule.scope ?? granted.scope {
            let prefix = caller.person != nil ? "user/" : "system/"
            guard scopes.contains(prefix + scope) || scopes.contains(prefix + "*.*") else {
                return .failure(
                    Refusal(
                        access.refuse(
                            request, .forbidden, "the token lacks the scope \(prefix + scope)", caller: caller,
                            program: true)))
            }
        }
        return .success(caller)
    }

    /// A page's caller: a live session; for a state-changing request, our Origin and the CSRF token.
    private func pageCaller(_ request: Request, rule: AccessRule, permission: Permission) async -> Result<
        (Caller, Request), Refusal
    > {
        let safe = request.method == .get || request.method == .head
        guard let sessions = access.sessions else {
            return .failure(
                Refusal(access.refuse(request, .forbidden, "sign-in is not configured", caller: nil, program: false)))
        }
        var lookup = SessionStore.Lookup.unknown
        if let id = Access.sessionID(request) {
            do { lookup = try sessions.session(id: id) } catch {
                access.logger.error("session lookup failed", metadata: ["error": "\(error)"])
            }
        }
        guard case .active(let session) = lookup else {
            let ended: String
            switch lookup {
            case .idle: ended = "Your session ended after a time without use. "
            case .expired: ended = "Your session reached its time limit. "
            default: ended = ""
            }
            if safe {
                // Not a refusal of a person yet: send them to sign in, and back here after.
                var response = Response(status: .seeOther)
                let target = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
                response.headers[.location] = "/auth/login?return=" + ProviderClient.formEncoded(target)
                if !ended.isEmpty {
                    response.headers.append(HTTPField(name: .setCookie, value: access.cookie("", clear: true)))
                }
                return .failure(Refusal(response))
            }
            return .failure(
                Refusal(
                    access.refuse(
                        request, .forbidden, ended + "Sign in again, then repeat what you did.", caller: nil,
                        program: false)))
        }
        let caller = Caller(person: session.person, system: nil, roles: session.roles, scopes: [], session: session)
        var request = request
        if !safe {
            if let refusal = originProblem(request) {
                return .failure(Refusal(access.refuse(request, .forbidden, refusal, caller: caller, program: false)))
            }
            // The form is small; read it (bounded) to find the token, and hand the handler the same bytes.
            let body: ByteBuffer
            do { body = try await request.body.collect(upTo: 64 * 1024) } catch {
                return .failure(
                    Refusal(
                        access.refuse(
                            request, .contentTooLarge, "the form is too large", caller: caller, program: false)))
            }
            let token = Self.formValue(String(buffer: body), "csrf") ?? request.headers[HTTPField.Name("X-CSRF-Token")!]
            guard let token, Self.constantTimeEqual(token, session.csrf) else {
                return .failure(
                    Refusal(
                        access.refuse(
                            request, .forbidden, "the form's security token is missing or out of date: reload the page",
                            caller: caller, program: false)))
            }
            request.body = .init(buffer: body)
        }
        guard rule.admits(caller.roles) else {
            return .failure(
                Refusal(
                    access.refuse(
                        request, .forbidden, access.lacking(permission, caller: caller), caller: caller, program: false)
                ))
        }
        return .success((caller, request))
    }

    /// `Origin` must be the node's own; without it, `Referer` must be on the node.
    func originProblem(_ request: Request) -> String? {
        let origin = Self.origin(of: access.publicURL)
        if let sent = request.headers[.origin] {
            return sent.lowercased() == origin ? nil : "a request from another site (\(sent.prefix(100))) was refused"
        }
        if let referer = request.headers[.referer] {
            return referer.lowercased().hasPrefix(origin + "/") ? nil : "a request from another site was refused"
        }
        return "a state-changing request without Origin or Referer was refused"
    }

    /// `scheme://host[:port]` of a URL, lowercased.
    static func origin(of url: String) -> String {
        guard let parsed = URL(string: url), let scheme = parsed.scheme, let host = parsed.host else {
            return url.lowercased()
        }
        return "\(scheme)://\(host)\(parsed.port.map { ":\($0)" } ?? "")".lowercased()
    }

    /// One field of an `application/x-www-form-urlencoded` body.
    static func formValue(_ body: String, _ name: String) -> String? {
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0] == name else { continue }
            return String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
        }
        return nil
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }

    /// A response that ends the request here.
    struct Refusal: Error {
        var response: Response
        init(_ response: Response) { self.response = response }
    }
}
