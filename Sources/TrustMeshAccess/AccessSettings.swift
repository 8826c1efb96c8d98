import Foundation
import TrustMeshModel

/// How a node signs people in and checks programs' tokens: read from the access file
/// (`node run --access FILE`, JSON; docs/ARCHITECTURE.md, "Sign-in").
///
/// ```json
/// {
///   "issuer": "https://am.nhsidentity.spineservices.nhs.uk:443/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare",
///   "clientID": "trustmesh-rkb",
///   "clientPrivateKeyFile": "client-key.jwk",
///   "scopes": "openid profile nationalrbacaccess professionalmemberships",
///   "roleMapFile": "roles.json",
///   "cliClientID": "trustmesh-cli"
/// }
/// ```
/// Relative file names are relative to the access file's folder.
public struct AccessSettings: Sendable, Hashable {
    /// The provider's issuer URL; its discovery document is `ISSUER/.well-known/openid-configuration`.
    public var issuer: String
    /// This node's client id at the provider (the page's sign-in).
    public var clientID: String
    /// How the node authenticates to the provider's token endpoint.
    public var clientAuthentication: ClientAuthentication
    /// Scopes asked for at sign-in (`openid` always included).
    public var scopes: String
    /// The public client the CLI's device flow uses (`trustmesh login`).
    public var cliClientID: String
    /// Maps the provider's claims to roles here.
    public var roleMap: RoleMap
    /// The audience bearer tokens must name: by default the node's public URL.
    public var audience: String?
    /// Other names this node answers to (`Host`), beyond its public URL and local address.
    public var hostNames: [String]
    /// A session ends after this long without a request.
    public var sessionIdle: Duration
    /// A session ends this long after sign-in, whatever happens.
    public var sessionAbsolute: Duration
    /// Tolerance for `exp`, `nbf` and `iat`.
    public var clockSkew: Duration

    public enum ClientAuthentication: Sendable, Hashable {
        /// `client_secret_basic`, the secret read from a file.
        case secret(String)
        /// `private_key_jwt` (as CIS2 requires): a private JWK (JSON) signs a client assertion.
        case privateKey(jwk: String)
        /// A public client (no secret): only for providers that allow it.
        case none
    }

    public init(
        issuer: String, clientID: String, clientAuthentication: ClientAuthentication, roleMap: RoleMap,
        scopes: String = "openid profile nationalrbacaccess", cliClientID: String = "trustmesh-cli",
        audience: String? = nil, hostNames: [String] = [], sessionIdle: Duration = .seconds(30 * 60),
        sessionAbsolute: Duration = .seconds(12 * 3600), clockSkew: Duration = .seconds(60)
    ) {
        self.issuer = issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer
        self.clientID = clientID
        self.clientAuthentication = clientAuthentication
        self.roleMap = roleMap
        self.scopes = scopes
        self.cliClientID = cliClientID
        self.audience = audience
        self.hostNames = hostNames
        self.sessionIdle = sessionIdle
        self.sessionAbsolute = sessionAbsolute
        self.clockSkew = clockSkew
    }

    /// Reads an access file.
    /// - Throws: ``AccessSettingsError`` naming the file and the field.
    public static func read(_ path: String) throws -> AccessSettings {
        struct File: Decodable {
            var issuer: String
            var clientID: String
            var clientSecretFile: String?
            var clientPrivateKeyFile: String?
            var scopes: String?
            var cliClientID: String?
            var roleMapFile: String?
            var audience: String?
            var hostNames: [String]?
            var sessionIdleMinutes: Int?
            var sessionAbsoluteHours: Int?
            var clockSkewSeconds: Int?
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        func resolve(_ name: String) -> String { name.hasPrefix("/") ? name : folder + "/" + name }
        func text(_ name: String, _ field: String) throws -> String {
            guard let data = FileManager.default.contents(atPath: resolve(name)),
                let text = String(data: data, encoding: .utf8)
            else { throw AccessSettingsError("\(path): \(field): cannot read \(resolve(name))") }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AccessSettingsError("cannot read the access file \(path)")
        }
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch {
            throw AccessSettingsError("\(path): \(AccessSettingsError.describe(error))")
        }
        guard let url = URL(string: file.issuer), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            throw AccessSettingsError("\(path): issuer: '\(file.issuer)' is not an http(s) URL")
        }
        guard !file.clientID.isEmpty else { throw AccessSettingsError("\(path): clientID: empty") }
        let authentication: ClientAuthentication
        switch (file.clientSecretFile, file.clientPrivateKeyFile) {
        case (let secret?, nil): authentication = .secret(try text(secret, "clientSecretFile"))
        case (nil, let key?): authentication = .privateKey(jwk: try text(key, "clientPrivateKeyFile"))
        case (nil, nil): authentication = .none
        case (_?, _?):
            throw AccessSettingsError("\(path): give clientSecretFile or clientPrivateKeyFile, not both")
        }
        let roleMap = try file.roleMapFile.map { try RoleMap.read(resolve($0)) } ?? RoleMap()
        for (field, value) in [
            ("sessionIdleMinutes", file.sessionIdleMinutes), ("sessionAbsoluteHours", file.sessionAbsoluteHours),
        ] {
            if let value, value < 1 { throw AccessSettingsError("\(path): \(field): must be at least 1") }
        }
        return AccessSettings(
            issuer: file.issuer, clientID: file.clientID, clientAuthentication: authentication, roleMap: roleMap,
            scopes: file.scopes ?? "openid profile nationalrbacaccess",
            cliClientID: file.cliClientID ?? "trustmesh-cli",
            audience: file.audience, hostNames: file.hostNames ?? [],
            sessionIdle: .seconds(60 * (file.sessionIdleMinutes ?? 30)),
            sessionAbsolute: .seconds(3600 * (file.sessionAbsoluteHours ?? 12)),
            clockSkew: .seconds(max(0, file.clockSkewSeconds ?? 60)))
    }
}

/// An access or role-map file that cannot be used, and why.
public struct AccessSettingsError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            "'\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type"
        case DecodingError.dataCorrupted(let context):
            "not valid JSON (\(context.debugDescription))"
        default: "\(error)"
        }
    }
}

/// Maps an identity provider's claims to roles at this trust.
///
/// People: by default CIS2's `nhsid_nrbac_roles[]`: each entry's `role_code` (its last `:`
/// segment, e.g. `R8000`) looked up in ``roles``, counting only entries whose `org_code` is this
/// node's ODS code, and only the entry named by `selected_roleid` when that claim is present.
/// Systems (client-credentials tokens, no person claims): the client id looked up in ``systems``.
///
/// ```json
/// { "roles": { "R8000": "clinician", "R8001": "clinician", "R8003": "clinician",
///              "R8008": "operator", "R8013": "informationGovernance" },
///   "systems": { "rkb-pacs": ["operator"], "rkb-pas": ["careFeed"] } }
/// ```
public struct RoleMap: Sendable, Hashable, Codable {
    /// Role code (last segment) → role.
    public var roles: [String: String]
    /// Client id → roles.
    public var systems: [String: [String]]

    /// CIS2's clinical codes (R8000 clinical practitioner, R8001 nurse, R8003 health professional)
    /// → clinician; R8008 (admin/clinical support) → operator; R8013 → information governance
    /// (a code the trust chooses).
    public init(
        roles: [String: String] = [
            "R8000": "clinician", "R8001": "clinician", "R8003": "clinician", "R8008": "operator",
            "R8013": "informationGovernance",
        ], systems: [String: [String]] = [:]
    ) {
        self.roles = roles
        self.systems = systems
    }

    /// Reads a role map file.
    /// - Throws: ``AccessSettingsError`` naming the field.
    public static func read(_ path: String) throws -> RoleMap {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AccessSettingsError("cannot read the role map \(path)")
        }
        let map: RoleMap
        do { map = try JSONDecoder().decode(RoleMap.self, from: data) } catch {
            throw AccessSettingsError("\(path): \(AccessSettingsError.describe(error))")
        }
        for (code, role) in map.roles where Role(rawValue: role) == nil {
            throw AccessSettingsError("\(path): roles.\(code): '\(role)' is not one of \(Role.allRoleNames)")
        }
        for (client, roles) in map.systems {
            for role in roles where Role(rawValue: role) == nil {
                throw AccessSettingsError("\(path): systems.\(client): '\(role)' is not one of \(Role.allRoleNames)")
            }
        }
        return map
    }
}

extension Role {
    static var allRoleNames: String { allCases.map(\.rawValue).joined(separator: ", ") }
}
