import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOHTTP1
import Testing
import TrustMeshAccess
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshStore
import TrustMeshTesting

/// Who may use the local listener: every route × every kind of caller against the permission
/// table, token and ID-token refusals, CSRF, sessions, the Host allow-list and `trustmesh login`.
/// Real node processes, the real identity provider (`Scripts/idp`), real HTTP on loopback.
@Suite(.serialized) struct AccessTests {
    static let patient = "9434765919"

    /// A concrete path for a route pattern (`:id` and the like get sample values).
    static func concrete(_ pattern: String) -> String {
        pattern.split(separator: "/", omittingEmptySubsequences: false).map { part -> String in
            guard part.hasPrefix("{") else { return String(part) }
            return ["{id}": "nosuchfetch", "{sop}": "1.2.3.4.5"][String(part)] ?? "1.2.826.0.1.3680043.10.99"
        }.joined(separator: "/")
    }

    /// Every route the local listener serves has a rule in ``AccessTable`` and every rule a route:
    /// a new route without an entry fails here (and is refused to everyone at run time).
    @Test func everyRouteOfTheLocalListenerHasExactlyOneAccessRule() async throws {
        let network = try TestNetwork(trusts: ["RKB"])
        let runtime = try NodeRuntime(
            node: try LocalNode(directory: network.dataDirectory("RKB")), topology: network.topology,
            local: try LocalListener(address: network.localAddress("RKB")))
        let routes = runtime.localRouter().routes.map { "\($0.method.rawValue) \($0.path)" }
        try await runtime.close()
        #expect(!routes.isEmpty)
        let unlisted = routes.filter { AccessTable.rules[$0] == nil }
        #expect(unlisted.isEmpty, "routes with no access rule: \(unlisted)")
        let stale = Set(AccessTable.rules.keys).subtracting(routes)
        #expect(stale.isEmpty, "rules for routes that do not exist: \(stale.sorted())")
    }

    /// Every guarded route × every kind of caller: allowed exactly when the caller's roles at this
    /// trust hold the route's permission (`Permission.grants`), refused (401, 403, or the page's
    /// redirect to sign-in) otherwise.
    @Test func everyRouteAnswersEveryKindOfCallerAsThePermissionTableSays() async throws {
        let network = try TestNetwork(trusts: ["RKB"])
        try await network.start("RKB")
        let base = network.url("RKB")
        // Who asks, and the roles that person holds at RKB.
        let people: [(String, Set<Role>)] = [
            ("priya", [.clinician]), ("sam", [.clinician]), ("olu", [.operator]), ("ines", [.informationGovernance]),
            ("ravi", []), ("nora", []),
        ]
        var bearers: [String: String] = [:]
        var sessions: [String: TestNetwork.PageSession] = [:]
        for (user, _) in people {
            bearers[user] = try await network.token("RKB", user: user)
            sessions[user] = try await network.signIn("RKB", user: user)
        }
        let expired = try await network.token(
            "RKB", user: "priya",
            claims: [
                "exp": Int(Date().timeIntervalSince1970) - 3600, "iat": Int(Date().timeIntervalSince1970) - 7200,
                "nbf": Int(Date().timeIntervalSince1970) - 7200,
            ])

        func ask(_ method: HTTPMethod, _ path: String, door: Door, bearer: String?, session: TestNetwork.PageSession?)
            async throws -> TestNetwork.Answer
        {
            var headers: [String: String] = [:]
            var body: Data?
            if let bearer { headers["Authorization"] = "Bearer " + bearer }
            if let session { headers.merge(session.headers) { $1 } }
            if method == .POST {
                switch door {
                case .page:
                    headers["Content-Type"] = "application/x-www-form-urlencoded"
                    body = Data("csrf=\(session?.csrf ?? "")".utf8)
                default:
                    headers["Content-Type"] = path.hasPrefix("/dicom-web") ? "text/plain" : "application/json"
                    body = Data("{}".utf8)
                }
            }
            // A study search names a patient (a listing without one is the operator's: tested below).
            let query = method == .GET && path == "/dicom-web/studies" ? "?PatientID=\(Self.patient)" : ""
            return try await TestNetwork.request(
                method, base + Self.concrete(path) + query, body: body, headers: headers)
        }
        func refused(_ answer: TestNetwork.Answer) -> Bool {
            answer.status == 401 || answer.status == 403
                || (answer.status == 303 && answer.headers["Location"]?.hasPrefix("/auth/login") == true)
        }

        var checked = 0
        for (key, rule) in AccessTable.rules.sorted(by: { $0.key < $1.key }) {
            guard rule.permission != nil else { continue }
            let parts = key.split(separator: " ", maxSplits: 1)
            let method = HTTPMethod(rawValue: String(parts[0]))
            let path = String(parts[1])
            // Nobody, and an expired token or no session: refused.
            let anonymous = try await ask(method, path, door: rule.door, bearer: nil, session: nil)
            #expect(refused(anonymous), "\(key) answered \(anonymous.status) to nobody")
            if rule.door == .program {
                let stale = try await ask(method, path, door: rule.door, bearer: expired, session: nil)
                #expect(stale.status == 401, "\(key) answered \(stale.status) to an expired token")
                // A browser's session cookie is not a credential for a program's door.
                let cookie = try await ask(method, path, door: rule.door, bearer: nil, session: sessions["priya"])
                #expect(cookie.status == 401, "\(key) answered \(cookie.status) to a cookie")
            }
            for (user, roles) in people {
                let answer =
                    rule.door == .page
                    ? try await ask(method, path, door: .page, bearer: nil, session: sessions[user])
                    : try await ask(method, path, door: .program, bearer: bearers[user], session: nil)
                let allowed = rule.admits(roles)
                #expect(
                    refused(answer) != allowed,
                    "\(key) as \(user): \(answer.status) \(answer.body.prefix(200)), expected \(allowed ? "allowed" : "refused")"
                )
                checked += 1
            }
        }
        #expect(checked >= 30 * people.count)
        // A person with no role here is told which role they lack.
        let nora = try await ask(
            .GET, "/patient?nhs=\(Self.patient)", door: .page, bearer: nil, session: sessions["nora"])
        #expect(nora.status == 403)
        #expect(nora.body.contains("needs the clinician role at RKB"), "\(nora.body.prefix(2000))")
        // Listing every study without naming a patient: the operator only.
        for (user, allowed) in [("priya", false), ("olu", true)] {
            let listing = try await TestNetwork.request(
                .GET, base + "/dicom-web/studies?limit=1000", headers: ["Authorization": "Bearer " + bearers[user]!])
            #expect((listing.status == 200) == allowed, "\(user): \(listing.status) \(listing.body.prefix(200))")
        }
        // Refusals are audited, naming the person.
        let refusals = try LocalNode(directory: network.dataDirectory("RKB")).store.audit.entries(kinds: [
            "accessRefused"
        ])
        #expect(refusals.contains { $0.actor == "Nora Quinn" && $0[.actorKind] == "person" })
        #expect(refusals.contains { $0.actor == "unauthenticated request" && $0[.actorKind] == "system" })
    }

    /// Bearer access tokens: each way a token can be wrong is refused with 401 and its reason; a
    /// key rollover at the provider works without restarting the node.
    @Test func badAccessTokensAreRefusedAndAKeyRolloverIsFollowed() async throws {
        let network = try TestNetwork(trusts: ["RKB"])
        // Refusals with no verified caller are audited once per window, then as a count with their
        // reasons: a short window, so the count is written while the test waits.
        try await network.start("RKB", arguments: ["--refusal-audit-window", "1"])
        let url = network.url("RKB") + "/api/v1/query?nhs=\(Self.patient)"
        func status(_ token: String) async throws -> (Int, String) {
            let answer = try await TestNetwork.request(.GET, url, headers: ["Authorization": "Bearer " + token])
            return (answer.status, answer.body)
        }
        let now = Int(Date().timeIntervalSince1970)
        #expect(try await status(try await network.token("RKB", user: "priya")).0 == 200)
        let cases: [(String, String, Int)] = [
            ("wrong issuer", try await network.token("RKB", user: "priya", claims: ["iss": "http://127.0.0.1:1"]), 401),
            ("wrong audience", try await network.token("RKB", user: "priya", audience: "http://127.0.0.1:1"), 401),
            (
                "expired",
                try await network.token("RKB", user: "priya", claims: ["exp": now - 600, "iat": now - 1200]), 401
            ),
            ("not yet valid", try await network.token("RKB", user: "priya", claims: ["nbf": now + 3600]), 401),
            ("bad signature", try await network.token("RKB", user: "priya", sign: "foreign"), 401),
            ("alg none", try await network.token("RKB", user: "priya", sign: "none"), 401),
            ("HS256 with the public key", try await network.token("RKB", user: "priya", sign: "hs256-public"), 401),
            ("unknown kid", try await network.token("RKB", user: "priya", header: ["kid": "k9"]), 401),
            ("no scope", try await network.token("RKB", user: "priya", scope: "openid"), 403),
            ("a clinician of another trust", try await network.token("RKB", user: "ravi"), 403),
            ("a person with no role", try await network.token("RKB", user: "nora"), 403),
            ("tampered payload", Self.tamper(try await network.token("RKB", user: "nora")), 401),
        ]
        for (name, token, expected) in cases {
            let (code, body) = try await status(token)
            #expect(code == expected, "\(name): \(code) \(body)")
            #expect(body.contains("\"error\""), "\(name): \(body)")
        }
        // Rollover: the provider starts signing with k2, which the node has not seen; one JWKS
        // refresh later the token is accepted.
        try await network.rotateProviderKey()
        let rolled = try await network.token("RKB", user: "priya")
        #expect(try await status(rolled).0 == 200)
        // The refusals are in the audit log with their reasons (the first as its own entry, the
        // rest in the window's count).
        try await poll("the refusals' reasons in the audit log", deadline: .seconds(20), every: .milliseconds(500)) {
            let log = try await String(contentsOfFile: try export(network, "RKB"), encoding: .utf8)
            return log.contains("accessRefused") && log.contains("the token has expired")
                && log.contains("is not accepted (asymmetric only)")
        }
    }

    /// Swaps a token's payload for one naming priya, keeping nora's signature.
    static func tamper(_ token: String) -> String {
        let parts = token.split(separator: ".").map(String.init)
        guard parts.count == 3, var payload = Data(base64URL: parts[1]),
            var claims = try? JSONSerialization.jsonObject(with: payload) as? [String: Any]
        else { return token }
        claims["name"] = "Dr Priya Shah"
        claims["nhsid_nrbac_roles"] = [
            ["org_code": "RKB", "role_code": "S8000:G8000:R8000", "person_roleid": "1", "person_orgid": "1"]
        ]
        claims["selected_roleid"] = "1"
        payload = (try? JSONSerialization.data(withJSONObject: claims)) ?? payload
        return parts[0] + "." + payload.base64URLEncoded + "." + parts[2]
    }

    /// ID tokens at sign-in, checked in-process by the node's own verifier against the real
    /// provider: missing or wrong nonce, another audience, a foreign key are refused.
    @Test func idTokensWithoutTheRightNonceOrAudienceAreRefused() async throws {
        let network = try TestNetwork(trusts: ["RKB"])
        let issuer = try await network.issuer()
        let verifier = TokenVerifier(
            issuer: issuer, clockSkew: .seconds(60), http: .shared, logger: Logger(label: "test"))
        func idToken(nonce: String?, client: String? = nil, sign: String? = nil) async throws -> String {
            let client = client ?? network.clientID("RKB")
            var body: [String: Any] = ["user": "priya", "id_token": true, "client_id": client]
            if let nonce { body["nonce"] = nonce }
            if let sign { body["sign"] = sign }
            let answer = try await TestNetwork.request(
                .POST, issuer + "/test/mint", body: try JSONSerialization.data(withJSONObject: body),
                headers: ["Content-Type": "application/json"])
            let object = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]
            return try #require(object?["token"] as? String)
        }
        let good = try await idToken(nonce: "n-1")
        let me = network.clientID("RKB")
        let claims = try await verifier.verify(good, audience: me, nonce: "n-1", authorizedParty: me)
        #expect(claims.name == "Dr Priya Shah")
        for (name, token, nonce) in [
            ("missing nonce", try await idToken(nonce: nil), "n-1"),
            ("wrong nonce", try await idToken(nonce: "n-2"), "n-1"),
            ("another client's token", try await idToken(nonce: "n-1", client: "trustmesh-cli"), "n-1"),
            ("a foreign key", try await idToken(nonce: "n-1", sign: "foreign"), "n-1"),
        ] {
            await #expect(throws: AccessFailure.self, "\(name)") {
                _ = try await verifier.verify(token, audience: me, nonce: nonce, authorizedParty: me)
            }
        }
    }

    /// The page's forms: refused from another site or without the session's token (audited); the
    /// JSON API takes no cookie and no `text/plain`; a foreign Host is refused.
    @Test func crossSiteRequestsAndForeignHostsAreRefused() async throws {
        let network = try TestNetwork(trusts: ["RKB"])
        // Refusals with no verified caller are aggregated per window (the 401 and the 421 below):
        // a short window, so the count entry with their reasons is written while the test waits.
        try await network.start("RKB", arguments: ["--refusal-audit-window", "1"])
        let base = network.url("RKB")
        let session = try await network.signIn("RKB", user: "priya")
        let form = "nhs=\(Self.patient)&kind=referral&reason=Clinic&csrf="
        func post(_ body: String, origin: String?) async throws -> TestNetwork.Answer {
            var headers = ["Cookie": session.cookie, "Content-Type": "application/x-www-form-urlencoded"]
            if let origin { headers["Origin"] = origin }
            return try await TestNetwork.request(.POST, base + "/care", body: Data(body.utf8), headers: headers)
        }
        // A cross-site form post (another site's Origin, even with a valid token), and one without the token.
        #expect(try await post(form + session.csrf, origin: "http://evil.example").status == 403)
        #expect(try await post(form, origin: base).status == 403)
        #expect(try await post(form + "forged", origin: base).status == 403)
        #expect(try await post(form + session.csrf, origin: nil).status == 403)
        #expect(try await LocalAPIClient.care(node: network.api("RKB")).isEmpty)
        // The page's own form, with the token and our Origin, records it.
        let recorded = try await post(form + session.csrf, origin: base)
        #expect(recorded.status == 303, "\(recorded.body)")
        #expect(try await LocalAPIClient.care(node: network.api("RKB")).first?.clinician == "Dr Priya Shah")

        // The JSON API: a cookie is no credential; text/plain is refused even with a token.
        let care = Data(#"{"nhs":"9434765919","kind":"referral","reason":"x","expires":"9999-12-31"}"#.utf8)
        let withCookie = try await TestNetwork.request(
            .POST, base + "/api/v1/care", body: care,
            headers: ["Cookie": session.cookie, "Content-Type": "application/json", "Origin": base])
        #expect(withCookie.status == 401)
        let plain = try await TestNetwork.request(
            .POST, base + "/api/v1/care", body: care,
            headers: ["Authorization": "Bearer " + network.testToken("RKB"), "Content-Type": "text/plain"])
        #expect(plain.status == 415)

        // DNS rebinding: another Host is refused before any door.
        let rebound = try await TestNetwork.request(.GET, base + "/health", headers: ["Host": "evil.example"])
        #expect(rebound.status == 421)
        try await poll("every refusal's reason in the audit log", deadline: .seconds(20), every: .milliseconds(500)) {
            let log = try await String(contentsOfFile: try export(network, "RKB"), encoding: .utf8)
            return log.contains("a request from another site") && log.contains("security token is missing")
                && log.contains("does not answer to Host")
        }
    }

    /// Sessions: a new id at sign-in (a planted one is worthless), idle and absolute timeouts,
    /// sign-out here and at the provider, and no open redirect through the return address.
    @Test func sessionsRotateExpireAndEndAndTheReturnAddressStaysOnTheNode() async throws {
        let network = try TestNetwork(trusts: ["RKB"])
        try await network.start("RKB")
        let base = network.url("RKB")
        func page(_ cookie: String) async throws -> TestNetwork.Answer {
            try await TestNetwork.request(.GET, base + "/patient?nhs=\(Self.patient)", headers: ["Cookie": cookie])
        }
        // Fixation: a cookie planted before sign-in is not the one given after.
        let planted = "trustmesh_session=planted-by-an-attacker"
        #expect(try await page(planted).status == 303)
        let first = try await network.signIn("RKB", user: "priya")
        #expect(first.cookie != planted)
        #expect(try await page(first.cookie).status == 200)
        let second = try await network.signIn("RKB", user: "priya")
        #expect(second.cookie != first.cookie)

        // Idle: 31 minutes without use ends it; absolute: 12 hours after sign-in, however busy.
        let sessions = try SessionStore(
            path: network.dataDirectory("RKB") + "/access.sqlite", idle: .seconds(1800), absolute: .seconds(43200))
        try sessions.age(started: .seconds(31 * 60), lastUsed: .seconds(31 * 60))
        let idle = try await page(first.cookie)
        #expect(idle.status == 303 && idle.headers["Location"]?.hasPrefix("/auth/login") == true)
        let third = try await network.signIn("RKB", user: "priya")
        try sessions.age(started: .seconds(12 * 3600 + 60), lastUsed: .seconds(0))
        #expect(try await page(third.cookie).status == 303)

        // Sign-out ends the session here and sends the browser to the provider's end-session endpoint.
        let fourth = try await network.signIn("RKB", user: "priya")
        let out = try await TestNetwork.request(
            .POST, base + "/auth/logout", body: Data("csrf=\(fourth.csrf)".utf8),
            headers: fourth.headers.merging(["Content-Type": "application/x-www-form-urlencoded"]) { $1 })
        #expect(out.status == 200)
        #expect(out.headers["Refresh"]?.hasPrefix("0; url=" + (try await network.issuer()) + "/logout") == true)
        #expect(out.headers["Set-Cookie"]?.contains("Max-Age=0") == true)
        #expect(try await page(fourth.cookie).status == 303)

        // Open redirect: only a path on this node is a return address.
        for target in ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"] {
            let encoded = target.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let answer = try await TestNetwork.request(.GET, base + "/auth/login?return=" + encoded)
            #expect(answer.status == 400, "\(target): \(answer.status) \(answer.headers)")
        }
        // A reused authorization code is refused (the provider's invalid_grant), and so is a used state.
        let started = try await TestNetwork.request(.GET, base + "/auth/login?return=/")
        let authorize = try #require(started.headers["Location"])
        let login2 = try await TestNetwork.request(
            .POST, authorize, body: Data("username=priya&password=password".utf8),
            headers: ["Content-Type": "application/x-www-form-urlencoded"])
        let callback = try #require(login2.headers["Location"])
        let signedIn = try await TestNetwork.request(.GET, callback)
        #expect(signedIn.status == 303)
        // The cookie: HttpOnly, SameSite=Lax, not Secure on plain HTTP.
        let cookie = try #require(signedIn.headers["Set-Cookie"])
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && !cookie.contains("Secure"))
        #expect(try await TestNetwork.request(.GET, callback).status == 400)
        let code = try #require(URLComponents(string: callback)?.queryItems?.first { $0.name == "code" }?.value)
        let restarted = try await TestNetwork.request(.GET, base + "/auth/login?return=/")
        let location = try #require(restarted.headers["Location"])
        let state = try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "state" }?.value)
        let reused = try await TestNetwork.request(.GET, base + "/auth/callback?code=\(code)&state=\(state)")
        #expect(reused.status == 403, "\(reused.body.prefix(500))")
        #expect(reused.body.contains("sign-in failed"))
    }

    /// A system (the client-credentials grant) gets its roles from the role map's `systems`: the
    /// trust's PACS (operator) may store and list, but may not search a patient or fetch.
    @Test func aSystemGetsTheRolesTheRoleMapGivesItsClient() async throws {
        let network = try TestNetwork(trusts: ["RKB"])
        try await network.start("RKB")
        let base = network.url("RKB")
        let pacs = try await network.token("RKB", user: "system:" + network.systemClient("pacs", "RKB"))
        func get(_ path: String) async throws -> Int {
            try await TestNetwork.request(.GET, base + path, headers: ["Authorization": "Bearer " + pacs]).status
        }
        #expect(try await get("/dicom-web/studies?limit=10") == 200)
        #expect(try await get("/dicom-web/studies?PatientID=\(Self.patient)") == 200)  // listAll admits it
        #expect(try await get("/api/v1/query?nhs=\(Self.patient)") == 403)
        #expect(try await get("/api/v1/status") == 200)
        let fetch = try await TestNetwork.request(
            .POST, base + "/api/v1/fetch", body: Data(#"{"study":"1.2.3"}"#.utf8),
            headers: ["Authorization": "Bearer " + pacs, "Content-Type": "application/json"])
        #expect(fetch.status == 403)
        // A client the role map does not name is nobody here.
        let feed = try await network.token(
            "RKB", user: "system:" + network.systemClient("feed", "RKB"), scope: "system/ImagingStudy.rs")
        let answer = try await TestNetwork.request(
            .GET, base + "/dicom-web/studies?limit=10", headers: ["Authorization": "Bearer " + feed])
        #expect(answer.status == 403)
        let entries = try LocalNode(directory: network.dataDirectory("RKB")).store.audit.entries(kinds: [
            "accessRefused"
        ])
        #expect(
            entries.contains {
                $0.actor == "system " + network.systemClient("pacs", "RKB") && $0[.actorKind] == "system"
            })
    }

    /// With a certificate the local listener speaks HTTPS only and sends HSTS (its cookies are then
    /// `Secure`: `Access.cookie`, from the https public URL).
    @Test func underTLSTheLocalListenerSpeaksHTTPSAndSendsHSTS() async throws {
        let network = try TestNetwork(trusts: ["RKB"])
        let key = network.directory.appending("tls.key")
        let certificate = network.directory.appending("tls.crt")
        let made = try await CommandRunner.run(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate, "-days", "1",
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            ])
        #expect(made.status == 0, "\(made.stderr)")
        try await network.start(
            "RKB",
            arguments: [
                "--tls-certificate", certificate, "--tls-key", key, "--public-url",
                "https://" + network.localAddress("RKB"),
            ], health: "https://" + network.localAddress("RKB"))
        let https = "https://" + network.localAddress("RKB")
        let health = try await CommandRunner.run(
            "/usr/bin/curl", ["-s", "-i", "--cacert", certificate, https + "/health"])
        #expect(health.stdout.contains("200"), "\(health.stdout)\(health.stderr)")
        #expect(health.stdout.lowercased().contains("strict-transport-security: max-age="), "\(health.stdout)")
        let login = try await CommandRunner.run(
            "/usr/bin/curl", ["-s", "-i", "--cacert", certificate, https + "/auth/login?return=/"])
        #expect(login.stdout.contains("303"), "\(login.stdout)")
        // Plain HTTP on the same port is not served.
        let plain = try await CommandRunner.run(
            "/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", network.url("RKB") + "/health"])
        #expect(plain.stdout != "200")
    }

    /// `trustmesh login` with the device grant, approved at the provider; the token is kept 0600,
    /// `--node` commands use it, `trustmesh logout` forgets it.
    @Test func theCommandLineSignsInWithTheDeviceGrantAndSignsOut() async throws {
        let network = try TestNetwork(trusts: ["RKB"])
        try await network.start("RKB")
        let config = try TemporaryDirectory()
        let environment = ["XDG_CONFIG_HOME": config.path]
        let login = try BackgroundProcess(
            ["login", "--node", network.url("RKB")], logPath: config.appending("login.log"), environment: environment)
        try await poll("the device code", deadline: .seconds(30)) { login.log.contains("enter the code") }
        let approve = try await CommandRunner.run(
            "/usr/bin/env",
            [
                "python3", TestNetwork.root + "/Scripts/idp", "approve", "--issuer", try await network.issuer(),
                "--user", "priya",
            ])
        #expect(approve.status == 0, "\(approve.stderr)")
        try await poll("login to finish", deadline: .seconds(30)) { !login.isRunning }
        #expect(login.stop() == 0, "\(login.log)")
        #expect(login.log.contains("Signed in to \(network.url("RKB")) as Dr Priya Shah"), "\(login.log)")
        let store = config.appending("trustmesh/tokens.json")
        let mode = try FileManager.default.attributesOfItem(atPath: store)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let query = try await CommandRunner.trustmesh(
            ["query", "--node", network.url("RKB"), "--nhs", Self.patient], environment: environment)
        #expect(query.status == 0, "\(query.stderr)")
        let out = try await CommandRunner.trustmesh(["logout", "--node", network.url("RKB")], environment: environment)
        #expect(out.stdout.contains("Signed out"))
        let after = try await CommandRunner.trustmesh(
            ["query", "--node", network.url("RKB"), "--nhs", Self.patient], environment: environment)
        #expect(after.status != 0)
        #expect(after.stderr.contains("trustmesh login"), "\(after.stderr)")
    }

    func export(_ network: TestNetwork, _ code: String) async throws -> String {
        let path = network.directory.appending("audit-\(code)-\(UUID().uuidString).jsonl")
        let result = try await CommandRunner.trustmesh([
            "audit", "export", "--data", network.dataDirectory(code), "--out", path,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        return path
    }
}

extension Data {
    init?(base64URL text: String) {
        var text = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        self.init(base64Encoded: text)
    }

    var base64URLEncoded: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
