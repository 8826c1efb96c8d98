import Foundation
import HTTPTypes
package import Hummingbird
import Logging
import NIOCore
import TrustMeshModel

/// The sign-in door: OpenID Connect authorization code flow with PKCE (S256), `state` and `nonce`.
///
/// | route | what |
/// |---|---|
/// | `GET /auth/login?return=PATH` | starts a sign-in; `return` must be a path on this node |
/// | `GET /auth/callback` | the provider's redirect: the code redeemed, the ID token verified, a new session |
/// | `POST /auth/logout` | ends the session here (CSRF-checked) and at the provider when it supports it |
/// | `GET /auth/signed-out` | "you are signed out" |
/// | `GET /auth/config` | what `trustmesh login` needs: issuer, the CLI's client id, the audience |
package struct SignInRoutes: Sendable {
    let access: Access

    package init(_ access: Access) { self.access = access }

    var redirect: String { access.publicURL + "/auth/callback" }

    package func routes() -> RouteCollection<AccessContext> {
        let router = RouteCollection(context: AccessContext.self)
        router.add(middleware: access.guardMiddleware)
        router.get("/auth/login") { request, _ in await login(request) }
        router.get("/auth/callback") { request, _ in await callback(request) }
        router.post("/auth/logout") { request, _ in await logout(request) }
        router.get("/auth/signed-out") { _, _ in
            access.page(.ok, "Signed out", "You are signed out of this node. Close the browser on a shared computer.")
        }
        router.get("/auth/config") { _, _ in config() }
        return router
    }

    /// A path on this node: one leading `/`, not `//` or `/\` (which browsers treat as another
    /// host), no scheme, no control characters.
    static func isLocalPath(_ path: String) -> Bool {
        guard path.hasPrefix("/"), !path.hasPrefix("//"), !path.hasPrefix("/\\"), path.count <= 2000 else {
            return false
        }
        return !path.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F || $0 == "\\" }
    }

    private func login(_ request: Request) async -> Response {
        guard let settings = access.settings, let verifier = access.verifier, let sessions = access.sessions,
            let provider = access.provider
        else {
            return access.page(
                .serviceUnavailable, "Sign-in not configured", "The operator has not configured sign-in on this node.")
        }
        let target = request.uri.queryParameters["return"].map(String.init) ?? "/"
        guard Self.isLocalPath(target) else {
            return access.refuse(
                request, .badRequest, "the sign-in return address must be a page on this node", caller: nil,
                program: false)
        }
        let metadata: ProviderMetadata
        do { metadata = try await verifier.provider() } catch {
            access.logger.error("sign-in unavailable", metadata: ["error": "\(error)"])
            return access.page(
                .serviceUnavailable, "Sign-in unavailable",
                "The identity provider (\(settings.issuer)) cannot be reached. Try again shortly; the node's log has the detail."
            )
        }
        let state = SessionStore.randomToken()
        let pending = PendingSignIn(
            nonce: SessionStore.randomToken(), verifier: SessionStore.randomToken(), returnTo: target, created: Date())
        do { try sessions.beginSignIn(state: state, pending) } catch {
            access.logger.error("sign-in could not be recorded", metadata: ["error": "\(error)"])
            return access.page(
                .internalServerError, "Sign-in failed", "The node could not start a sign-in; see its log.")
        }
        var response = Response(status: .seeOther)
        response.headers[.location] = provider.authorizationURL(
            metadata, redirect: redirect, state: state, nonce: pending.nonce, verifier: pending.verifier)
        response.headers[.cacheControl] = "no-store"
        return response
    }

    private func callback(_ request: Request) async -> Response {
        guard let settings = access.settings, let verifier = access.verifier, let sessions = access.sessions,
            let provider = access.provider
        else { return access.page(.serviceUnavailable, "Sign-in not configured", "Sign-in is not configured.") }
        let query = request.uri.queryParameters
        if let error = query["error"] {
            return access.refuse(
                request, .forbidden, "the identity provider did not sign you in (\(String(error).prefix(100)))",
                caller: nil, program: false)
        }
        guard let state = query["state"].map(String.init), let code = query["code"].map(String.init),
            let pending = try? sessions.takeSignIn(state: state)
        else {
            return access.refuse(
                request, .badRequest, "this sign-in is unknown, already used or too old: start again", caller: nil,
                program: false)
        }
        if let iss = query["iss"], iss != settings.issuer {
            return access.refuse(
                request, .badRequest, "the sign-in answer came from another issuer", caller: nil, program: false)
        }
        let claims: TokenClaims
        let idToken: String
        do {
            let metadata = try await verifier.provider()
            idToken = try await provider.exchange(metadata, code: code, redirect: redirect, verifier: pending.verifier)
            claims = try await verifier.verify(
                idToken, audience: settings.clientID, nonce: pending.nonce, authorizedParty: settings.clientID)
        } catch {
            return access.refuse(
                request, .forbidden, "sign-in failed: \(error.description)", caller: nil, program: false)
        }
        let resolved = settings.roleMap.resolve(claims, issuer: settings.issuer, trust: access.trust)
        guard let person = resolved.person else {
            return access.refuse(request, .forbidden, "the ID token names no person", caller: nil, program: false)
        }
        let started: (id: String, session: Session)
        do {
            started = try sessions.start(
                person: person, roles: resolved.roles, idToken: idToken, replacing: Access.sessionID(request))
        } catch {
            access.logger.error("session could not be recorded", metadata: ["error": "\(error)"])
            return access.page(
                .internalServerError, "Sign-in failed", "The node could not record your session; see its log.")
        }
        access.audit(
            AccessEvent(
                kind: "signedIn", actor: .person(person, session: started.session.handle),
                details: ["roles": resolved.roles.map(\.rawValue).sorted().joined(separator: ",")]))
        var response = Response(status: .seeOther)
        response.headers[.location] = pending.returnTo
        response.headers[.setCookie] = access.cookie(started.id)
        response.headers[.cacheControl] = "no-store"
        return response
    }

    private func logout(_ request: Request) async -> Response {
        guard let sessions = access.sessions, let verifier = access.verifier else {
            return access.page(.serviceUnavailable, "Sign-in not configured", "Sign-in is not configured.")
        }
        guard let id = Access.sessionID(request),
            case .active(let session) = (try? sessions.session(id: id)) ?? .unknown
        else {
            var response = Response(status: .seeOther)
            response.headers[.location] = "/auth/signed-out"
            response.headers[.setCookie] = access.cookie("", clear: true)
            return response
        }
        let caller = Caller(person: session.person, system: nil, roles: session.roles, scopes: [], session: session)
        if let problem = AccessGuard(access: access).originProblem(request) {
            return access.refuse(request, .forbidden, problem, caller: caller, program: false)
        }
        let body = (try? await request.body.collect(upTo: 16 * 1024)).map { String(buffer: $0) } ?? ""
        guard let token = AccessGuard.formValue(body, "csrf"), AccessGuard.constantTimeEqual(token, session.csrf) else {
            return access.refuse(
                request, .forbidden, "the sign-out form's security token is missing or out of date", caller: caller,
                program: false)
        }
        _ = try? sessions.end(id: id)
        access.audit(AccessEvent(kind: "signedOut", actor: caller.actor, details: [:]))
        // Signed out here. The provider's end-session endpoint is on another origin, where the page's
        // Content-Security-Policy (form-action 'self') stops a form's redirect from going: this answer
        // is a page of our own whose Refresh header takes the browser there.
        guard let endSession = try? await verifier.provider().end_session_endpoint else {
            var response = Response(status: .seeOther)
            response.headers[.setCookie] = access.cookie("", clear: true)
            response.headers[.location] = "/auth/signed-out"
            return response
        }
        let separator = endSession.contains("?") ? "&" : "?"
        let target =
            endSession + separator
            + ProviderClient.form([
                ("id_token_hint", session.idToken), ("post_logout_redirect_uri", access.publicURL + "/auth/signed-out"),
            ])
        var response = access.page(
            .ok, "Signed out", "You are signed out of this node; now signing you out at your identity provider.")
        response.headers[.setCookie] = access.cookie("", clear: true)
        response.headers[HTTPField.Name("Refresh")!] = "0; url=" + target
        return response
    }

    private func config() -> Response {
        var body: [String: String] = ["trust": access.trust.code, "audience": access.audience]
        if let settings = access.settings {
            body["issuer"] = settings.issuer
            body["clientID"] = settings.cliClientID
            body["scope"] =
                "openid profile nationalrbacaccess offline_access user/ImagingStudy.rs user/ImagingStudy.c user/EpisodeOfCare.c"
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var response = Response(
            status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: (try? encoder.encode(body)) ?? Data())))
        response.headers[.contentType] = "application/json"
        return response
    }
}
