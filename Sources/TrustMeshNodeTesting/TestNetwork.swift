import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOFoundationCompat
public import NIOHTTP1
public import TrustMeshModel
public import TrustMeshNode
import TrustMeshNodeCore
public import TrustMeshTesting

/// A network of real node processes on loopback, made from a generated topology, with a real
/// OpenID Connect provider (`Scripts/idp`) every node signs people in with.
///
/// Each node gets a client at the provider (`node-CODE`, a secret, its callback), an access file
/// (`net/CODE-access.json`) and, once started, a test token (``api(_:)``) for a person holding the
/// clinician, operator and information-governance roles at its trust, so tests about other things
/// pass through the doors as a real caller would. Tests about access itself use ``token(_:user:)``
/// and ``signIn(_:user:)`` with the provider's named users (Scripts/idp_provider.py, `USERS`).
public final class TestNetwork: @unchecked Sendable {
    public let directory: TemporaryDirectory
    public let topology: Topology
    public let topologyPath: String
    private var processes: [TrustID: BackgroundProcess] = [:]
    private let lock = NSLock()
    private let intervalMs: Int
    /// Each node's local listener port (page, API, DICOMweb, FHIR, metrics).
    private let localPorts: [String: Int]
    private let spareAddresses: [String: String]
    /// The identity provider this network started, or nil when the run shares one
    /// (`TRUSTMESH_TEST_IDP`, set by Scripts/test for the suites run again as an unprivileged user,
    /// who cannot import the Python packages pip put under root's home).
    private let provider: BackgroundProcess?
    /// The shared provider's issuer, and whether this network's clients are registered there yet.
    private let sharedIssuer: String?
    private var registered = false
    /// This network's clients at the provider (a JSON list), registered with a shared one on first use.
    private let clients: Data
    /// Makes this network's client ids unique at a shared provider.
    private let clientSuffix = String(UUID().uuidString.prefix(8)).lowercased()
    private var tokens: [String: String] = [:]

    /// The repository's root (for `Scripts/`).
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// Creates (but does not start) nodes for the given ODS codes, each with a free peer port and a
    /// free local port, and starts the identity provider.
    /// - Parameter names: trust names by ODS code, for the topology (default "Test trust RRK").
    /// - Parameter spare: codes of trusts that are not members yet (a test joins them later):
    ///   each gets ports (``spareAddress(_:)``) and sign-in clients, no node.
    public init(trusts: [String], spare: [String] = [], names: [String: String] = [:], intervalMs: Int = 200) throws {
        directory = try TemporaryDirectory(prefix: "trustmesh-net")
        self.intervalMs = intervalMs
        let everyone = trusts + spare
        let allPorts = try FreePorts.allocate(everyone.count * 2)
        let ports = Array(allPorts.prefix(everyone.count))
        localPorts = Dictionary(uniqueKeysWithValues: zip(everyone, allPorts.suffix(everyone.count)))
        spareAddresses = Dictionary(
            uniqueKeysWithValues: zip(spare, ports.suffix(spare.count)).map { ($0, "127.0.0.1:\($1)") })
        let template = Topology(
            name: "test network",
            trusts: try zip(trusts, ports).map { code, port in
                Topology.Trust(
                    ods: try TrustID(code), name: names[code] ?? "Test trust \(code)", address: "127.0.0.1:\(port)")
            })
        topology = try LocalNetwork.create(template: template, directory: directory.appending("net"))
        topologyPath = directory.appending("net/topology.json")
        // One client per node (the page's sign-in), the CLI's public client, and per node a PACS
        // (operator) and a care feed as client-credentials systems.
        var clients: [[String: Any]] = [
            [
                "client_id": "trustmesh-cli", "token_endpoint_auth_method": "none",
                "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
                "scope": Self.personScope,
            ]
        ]
        for code in everyone {
            let base = "http://127.0.0.1:\(localPorts[code]!)"
            clients.append([
                "client_id": "node-\(code)-\(clientSuffix)", "client_secret": "secret-\(code)",
                "token_endpoint_auth_method": "client_secret_basic", "redirect_uris": [base + "/auth/callback"],
                "post_logout_redirect_uris": [base + "/auth/signed-out"],
                "grant_types": ["authorization_code", "refresh_token"], "scope": "openid profile nationalrbacaccess",
            ])
            for (system, scope) in [
                ("pacs", "system/ImagingStudy.rs system/ImagingStudy.c"), ("feed", "system/EpisodeOfCare.c"),
            ] {
                clients.append([
                    "client_id": "\(system)-\(code)-\(clientSuffix)", "client_secret": "secret-\(system)-\(code)",
                    "token_endpoint_auth_method": "client_secret_basic", "grant_types": ["client_credentials"],
                    "scope": scope,
                ])
            }
        }
        self.clients = try JSONSerialization.data(withJSONObject: clients, options: [.sortedKeys])
        if let shared = ProcessInfo.processInfo.environment["TRUSTMESH_TEST_IDP"], !shared.isEmpty {
            sharedIssuer = shared
            provider = nil
        } else {
            let clientsPath = directory.appending("idp-clients.json")
            try self.clients.write(to: URL(fileURLWithPath: clientsPath))
            sharedIssuer = nil
            provider = try BackgroundProcess(
                ["python3", Self.root + "/Scripts/idp", "serve", "--port", "0", "--clients", clientsPath],
                logPath: directory.appending("idp.log"), executable: "/usr/bin/env", killHard: true)
        }
    }

    /// The peer address kept for a spare trust (not a member until it joins).
    public func spareAddress(_ code: String) -> String { spareAddresses[code]! }

    /// The folder of the network's files: `topology.json`, `network.json`, `roots/<ODS>/`.
    public var networkDirectory: String { directory.appending("net") }

    /// Node `code`'s client id at the provider (the page's sign-in).
    public func clientID(_ code: String) -> String { "node-\(code)-\(clientSuffix)" }

    /// A system's client id: `pacs` (the role map makes it an operator) or `feed` (unmapped).
    public func systemClient(_ kind: String, _ code: String) -> String { "\(kind)-\(code)-\(clientSuffix)" }

    /// The scopes a person's token carries for every clinical door.
    static let personScope =
        "openid profile nationalrbacaccess offline_access user/ImagingStudy.rs user/ImagingStudy.c user/EpisodeOfCare.c"

    public func dataDirectory(_ code: String) -> String { directory.appending("net/" + code) }

    /// The node's local listener: the page, the JSON API, DICOMweb, FHIR, metrics.
    public func url(_ code: String) -> String { "http://" + localAddress(code) }

    /// `127.0.0.1:PORT` of the node's local listener.
    public func localAddress(_ code: String) -> String { "127.0.0.1:\(localPorts[code]!)" }

    /// The node's peer listener (the topology address): the peer protocol only.
    public func peerURL(_ code: String) -> String {
        "http://" + topology.trusts.first { $0.ods.code == code }!.address
    }

    /// The node's local listener with its test token (a person holding every role at its trust).
    public func api(_ code: String) -> NodeEndpoint {
        NodeEndpoint(url: url(code), token: lock.withLock { tokens[code] })
    }

    /// The node's test token (see ``api(_:)``).
    public func testToken(_ code: String) -> String { lock.withLock { tokens[code] } ?? "" }

    /// Runs `trustmesh` as a signed-in user of node `code` (its test token in `TRUSTMESH_TOKEN`).
    public func cli(_ code: String, _ arguments: [String]) async throws -> ProcessResult {
        try await CommandRunner.trustmesh(arguments, environment: ["TRUSTMESH_TOKEN": testToken(code)])
    }

    /// Makes a synthetic study (`trustmesh synthesize`) and ingests it at `code` (`trustmesh
    /// ingest`, the node running or not).
    /// - Returns: the study's files, sorted.
    /// - Throws: ``CommandRunnerError`` with the command's output if either fails.
    @discardableResult
    public func ingestSyntheticStudy(
        at code: String, patient: String, studyUID: String, instances: Int = 4, size: Int = 64
    ) async throws -> [String] {
        let input = directory.appending("in-\(studyUID)")
        let made = try await CommandRunner.trustmesh([
            "synthesize", "--out", input, "--patient-id", patient, "--instances", "\(instances)", "--size", "\(size)",
            "--study-uid", studyUID,
        ])
        guard made.status == 0 else { throw CommandRunnerError(message: "synthesize: \(made.stderr)") }
        let ingested = try await CommandRunner.trustmesh(["ingest", "--data", dataDirectory(code), input])
        guard ingested.status == 0 else {
            throw CommandRunnerError(message: "ingest at \(code): \(ingested.stdout)\(ingested.stderr)")
        }
        return try FileManager.default.contentsOfDirectory(atPath: input).sorted().map { input + "/" + $0 }
    }

    /// The identity provider's issuer URL, once it listens (and, if shared, knows this network's clients).
    public func issuer() async throws -> String {
        if let sharedIssuer {
            if !lock.withLock({ registered }) {
                let answer = try await Self.post(sharedIssuer + "/test/clients", json: clients)
                guard answer.status == 200 else {
                    throw CommandRunnerError(
                        message: "the shared identity provider refused the clients: \(answer.body)")
                }
                lock.withLock { registered = true }
            }
            return sharedIssuer
        }
        guard let provider else { throw CommandRunnerError(message: "no identity provider") }
        var found = ""
        try await poll("the identity provider to listen", deadline: .seconds(60)) {
            guard provider.isRunning else {
                throw CommandRunnerError(message: "the identity provider exited:\n\(provider.log)")
            }
            guard
                let line = provider.log.split(separator: "\n").first(where: { $0.hasPrefix("idp listening on ") })
            else { return false }
            found = String(line.dropFirst("idp listening on ".count))
            return true
        }
        return found
    }

    /// The access file a node is started with: the provider, its client, the default role map.
    public func accessFile(_ code: String) async throws -> String {
        let path = directory.appending("net/\(code)-access.json")
        try "secret-\(code)".write(toFile: directory.appending("net/\(code)-secret"), atomically: true, encoding: .utf8)
        let roles: [String: Any] = [
            "roles": [
                "R8000": "clinician", "R8001": "clinician", "R8003": "clinician", "R8008": "operator",
                "R8013": "informationGovernance",
            ],
            "systems": [systemClient("pacs", code): ["operator"]],
        ]
        try JSONSerialization.data(withJSONObject: roles).write(
            to: URL(fileURLWithPath: directory.appending("net/\(code)-roles.json")))
        let access: [String: Any] = [
            "issuer": try await issuer(), "clientID": clientID(code), "clientSecretFile": "\(code)-secret",
            "roleMapFile": "\(code)-roles.json",
        ]
        try JSONSerialization.data(withJSONObject: access, options: [.sortedKeys]).write(
            to: URL(fileURLWithPath: path))
        return path
    }

    /// Starts a node with sign-in configured and waits (bounded) until it answers; then mints its
    /// test token.
    /// - Parameter diskKB: run the node on a tmpfs of this size (a copy of its folder, in its own user
    ///   and mount namespace: `unshare -Urm`, see ``CommandRunner/canMountTmpfs``), for full-disk
    ///   tests. What it writes there is gone when it stops; check through its API.
    /// - Parameter signIn: false: no access file (every guarded door refuses).
    public func start(
        _ code: String, arguments: [String] = [], environment: [String: String] = [:],
        deadline: Duration = .seconds(30), diskKB: Int? = nil, signIn: Bool = true, health: String? = nil
    ) async throws {
        var run =
            [
                "node", "run", "--topology", topologyPath, "--interval-ms", "\(intervalMs)", "--local-address",
                localAddress(code),
            ] + arguments
        if signIn, !arguments.contains("--access") { run += ["--access", try await accessFile(code)] }
        let process: BackgroundProcess
        if let diskKB {
            let disk = dataDirectory(code) + "-disk"
            try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
            let script = """
                mount -t tmpfs -o size=\(diskKB)k tmpfs "$1" && cp -a "$2/." "$1/" || exit 90
                disk="$1"; bin="$3"; shift 3
                exec "$bin" "$@" --data "$disk"
                """
            process = try BackgroundProcess(
                ["-Urm", "sh", "-c", script, "sh", disk, dataDirectory(code), CommandRunner.trustmeshPath] + run,
                logPath: directory.appending("\(code).log"), environment: environment, executable: "/usr/bin/unshare")
        } else {
            process = try BackgroundProcess(
                run + ["--data", dataDirectory(code)], logPath: directory.appending("\(code).log"),
                environment: environment)
        }
        lock.withLock { processes[try! TrustID(code)] = process }
        let healthURL = (health ?? url(code)) + "/health"
        let tls = health?.hasPrefix("https://") == true
        try await poll("\(code) to listen", deadline: deadline) {
            guard process.isRunning else {
                throw CommandRunnerError(message: "\(code) exited during start:\n\(process.log)")
            }
            // Under TLS (a self-signed certificate), that the listener answers is enough here.
            if tls { return process.log.contains("local listener on") }
            return (try? await Self.status(of: healthURL)) == 200
        }
        if signIn { try await mintTestToken(code) }
    }

    /// Node `code`'s test token (see ``api(_:)``), minted if it has none yet: ``start`` mints it; a
    /// test that runs the node itself (with ``accessFile(_:)``) calls this for it.
    @discardableResult
    public func mintTestToken(_ code: String) async throws -> String {
        if let token = lock.withLock({ tokens[code] }) { return token }
        let token = try await mint(
            user: "priya", audience: url(code),
            claims: [
                "name": "Test user at \(code)", "selected_roleid": NSNull(), "professional_registration": NSNull(),
                "nhsid_nrbac_roles": ["R8000", "R8008", "R8013"].enumerated().map { index, role in
                    [
                        "person_orgid": "9\(index)", "person_roleid": "99\(index)", "org_code": code,
                        "role_name": "test", "role_code": "S0000:G0000:\(role)",
                    ]
                },
            ])
        lock.withLock { tokens[code] = token }
        return token
    }

    /// An access token for node `code` for a named test user (Scripts/idp_provider.py's `USERS`,
    /// or `system:CLIENT_ID`), minted by the provider with its own key.
    /// - Parameters:
    ///   - claims: claims to override (`NSNull()` removes one).
    ///   - header: JOSE header fields to override.
    ///   - sign: `current`, `k1`, `k2`, `none`, `hs256-public` or `foreign` (Scripts/idp token --help).
    public func token(
        _ code: String, user: String, scope: String? = nil, claims: [String: Any] = [:], header: [String: Any] = [:],
        sign: String? = nil, audience: String? = nil, expiresIn: Int? = nil
    ) async throws -> String {
        try await mint(
            user: user, audience: audience ?? url(code), scope: scope, claims: claims, header: header, sign: sign,
            expiresIn: expiresIn)
    }

    private func mint(
        user: String, audience: String, scope: String? = nil, claims: [String: Any] = [:],
        header: [String: Any] = [:], sign: String? = nil, expiresIn: Int? = nil
    ) async throws -> String {
        var body: [String: Any] = [
            "user": user, "audience": audience, "scope": scope ?? Self.personScope, "claims": claims,
            "header": header,
        ]
        if user.hasPrefix("system:") {
            body["client_id"] = String(user.dropFirst("system:".count))
            if scope == nil { body["scope"] = NSNull() }
        }
        if let sign { body["sign"] = sign }
        if let expiresIn { body["expires_in"] = expiresIn }
        let answer = try await Self.post(
            try await issuer() + "/test/mint", json: try JSONSerialization.data(withJSONObject: body))
        guard answer.status == 200 else {
            throw CommandRunnerError(message: "the identity provider refused to mint: \(answer.body)")
        }
        guard let object = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any],
            let token = object["token"] as? String
        else { throw CommandRunnerError(message: "the identity provider's mint answer has no token: \(answer.body)") }
        return token
    }

    /// Rotates the provider's signing key (`Scripts/idp rotate`): new tokens carry kid `k2`.
    public func rotateProviderKey() async throws {
        _ = try await Self.post(try await issuer() + "/test/rotate", json: Data("{}".utf8))
    }

    /// Signs `user` in to node `code`'s page through the provider's own login form, as a browser
    /// would (following each redirect by hand); returns the session cookie and the page's CSRF token.
    public func signIn(_ code: String, user: String, password: String = "password", returnTo: String = "/")
        async throws -> PageSession
    {
        let start = try await Self.request(
            .GET,
            url(code) + "/auth/login?return="
                + (returnTo.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "/"))
        guard start.status == 303, let authorize = start.headers["Location"] else {
            throw CommandRunnerError(message: "sign-in did not start: \(start.status) \(start.body)")
        }
        // The provider's login page posts back to the same URL.
        let form =
            "username=\(user)&password=\(password.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
        let login = try await Self.request(
            .POST, authorize, body: Data(form.utf8), headers: ["Content-Type": "application/x-www-form-urlencoded"])
        guard login.status == 302 || login.status == 303, let callback = login.headers["Location"] else {
            throw CommandRunnerError(
                message: "the provider did not sign \(user) in: \(login.status) \(login.body.prefix(500))")
        }
        let back = try await Self.request(.GET, callback)
        guard back.status == 303, let cookie = back.headers["Set-Cookie"]?.split(separator: ";").first else {
            let alert = back.body.range(of: "role=\"alert\">").map { String(back.body[$0.upperBound...].prefix(400)) }
            throw CommandRunnerError(
                message: "the node did not start a session: \(back.status) \(alert ?? String(back.body.prefix(500)))")
        }
        let session = PageSession(cookie: String(cookie), csrf: "", node: url(code))
        let page = try await Self.request(.GET, url(code) + "/", headers: ["Cookie": session.cookie])
        return PageSession(cookie: session.cookie, csrf: PageSession.csrf(in: page.body) ?? "", node: url(code))
    }

    /// A signed-in browser's session at a node's page.
    public struct PageSession: Sendable {
        /// `trustmesh_session=…`, for a `Cookie` header.
        public var cookie: String
        /// The CSRF token the page's forms carry.
        public var csrf: String
        /// The node's local URL (the page's origin).
        public var node: String

        /// The `csrf` hidden field's value in a page.
        public static func csrf(in html: String) -> String? {
            guard let range = html.range(of: "name=\"csrf\" value=\"") else { return nil }
            let rest = html[range.upperBound...]
            return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
        }

        /// Headers for a request from the page: the cookie, and for a form post our own Origin.
        public var headers: [String: String] { ["Cookie": cookie, "Origin": node] }
    }

    /// An answer: status, headers (first value of each), body text.
    public struct Answer: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: String
    }

    /// The tests' HTTP client: like a browser's developer tools, it shows each redirect rather
    /// than following it. Lives as long as the test process.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// One HTTP request (no redirects followed).
    public static func request(
        _ method: HTTPMethod, _ url: String, body: Data? = nil, headers: [String: String] = [:]
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        var fields: [String: String] = [:]
        for header in response.headers where fields[header.name] == nil { fields[header.name] = header.value }
        return Answer(status: Int(response.status.code), headers: fields, body: String(buffer: bytes))
    }

    /// A form posted from the page: with a session, its cookie, the page's Origin and the
    /// session's CSRF token (nil: an uninvited caller with none of them). The answer itself, not
    /// where a redirect leads.
    public static func postForm(_ url: String, _ fields: [String: String], as session: PageSession?) async throws
        -> Answer
    {
        var fields = fields
        if let session { fields["csrf"] = session.csrf }
        var headers = session?.headers ?? [:]
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return try await request(.POST, url, body: Data(formEncoded(fields).utf8), headers: headers)
    }

    /// `key=value&…`, percent-encoded as `application/x-www-form-urlencoded` and a query string take them.
    public static func formEncoded(_ fields: [String: String]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return fields.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed)!)" }
            .joined(separator: "&")
    }

    static func post(_ url: String, json: Data) async throws -> Answer {
        try await request(.POST, url, body: json, headers: ["Content-Type": "application/json"])
    }

    static func status(of url: String) async throws -> Int { try await request(.GET, url).status }

    /// Stops a node with SIGTERM; returns its exit status.
    @discardableResult
    public func stop(_ code: String) -> Int32 {
        let process = lock.withLock { processes.removeValue(forKey: try! TrustID(code)) }
        return process?.stop() ?? -1
    }

    /// Waits for a node that is expected to exit by itself (fault injection); returns its status.
    public func waitForExit(_ code: String, deadline: Duration = .seconds(60)) async throws -> Int32 {
        guard let process = lock.withLock({ processes[try! TrustID(code)] }) else { return -1 }
        try await poll("\(code) to exit", deadline: deadline) { !process.isRunning }
        return lock.withLock { processes.removeValue(forKey: try! TrustID(code)) }?.stop() ?? -1
    }

    public func log(_ code: String) -> String {
        (try? String(contentsOfFile: directory.appending("\(code).log"), encoding: .utf8)) ?? ""
    }

    deinit {
        for process in processes.values { process.stop() }
        provider?.stop()
    }
}
