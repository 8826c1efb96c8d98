import AsyncHTTPClient
import Foundation
import Glibc
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// `trustmesh login`: a person's access token for a node, by the OAuth 2.0 device authorization
/// grant (RFC 8628) at the node's identity provider, kept 0600 in the user's config folder
/// (`$XDG_CONFIG_HOME/trustmesh/tokens.json`, else `~/.config/trustmesh/tokens.json`) and
/// refreshed when it expires. `--node` commands present it; `TRUSTMESH_TOKEN` overrides it.
public enum NodeLogin {
    /// A kept token for one node.
    struct Kept: Codable {
        var accessToken: String
        var refreshToken: String?
        var expiresAt: Double
        var tokenEndpoint: String
        var clientID: String
        var audience: String
    }

    /// The file tokens are kept in.
    public static var storePath: String {
        let environment = ProcessInfo.processInfo.environment
        let base =
            environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.config"
        return base + "/trustmesh/tokens.json"
    }

    /// The node's address as the store keys it: no trailing slash.
    static func key(_ node: String) -> String {
        let url = node.contains("://") ? node : "http://" + node
        return url.hasSuffix("/") ? String(url.dropLast()) : url
    }

    /// The endpoint `--node` commands use: `TRUSTMESH_TOKEN`, else the kept token (refreshed if it
    /// has expired), else none (the node then says to sign in).
    public static func endpoint(_ node: String) async -> NodeEndpoint {
        if let token = ProcessInfo.processInfo.environment["TRUSTMESH_TOKEN"], !token.isEmpty {
            return NodeEndpoint(url: node, token: token)
        }
        var store = read()
        guard var kept = store[key(node)] else { return NodeEndpoint(url: node, token: nil) }
        if kept.expiresAt < Date().timeIntervalSince1970 + 30, let refresh = kept.refreshToken,
            let answer = try? await tokenRequest(
                kept.tokenEndpoint,
                [("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", kept.clientID)]),
            let access = answer["access_token"] as? String
        {
            kept.accessToken = access
            kept.refreshToken = (answer["refresh_token"] as? String) ?? refresh
            kept.expiresAt = Date().timeIntervalSince1970 + ((answer["expires_in"] as? Double) ?? 600)
            store[key(node)] = kept
            try? write(store)
        }
        return NodeEndpoint(url: node, token: kept.accessToken)
    }

    /// Signs in at `node`'s identity provider with the device grant; `show` is told the URL and code
    /// to give the person. Returns the person's name as the provider gives it.
    public static func login(node: String, show: @Sendable (String) -> Void) async throws -> String {
        let base = key(node)
        let config = try await getJSON(base + "/auth/config")
        guard let issuer = config["issuer"] as? String, let clientID = config["clientID"] as? String,
            let audience = config["audience"] as? String
        else {
            throw LocalAPIError(description: "\(base) has no sign-in configured (its operator gives node run --access)")
        }
        let discovery = try await getJSON(issuer + "/.well-known/openid-configuration")
        guard let deviceEndpoint = discovery["device_authorization_endpoint"] as? String,
            let tokenEndpoint = discovery["token_endpoint"] as? String
        else { throw LocalAPIError(description: "the identity provider \(issuer) offers no device sign-in") }
        let device = try await tokenRequest(
            deviceEndpoint,
            [
                ("client_id", clientID), ("scope", (config["scope"] as? String) ?? "openid"),
                ("audience", audience), ("resource", audience),
            ])
        guard let deviceCode = device["device_code"] as? String, let userCode = device["user_code"] as? String,
            let verification = device["verification_uri"] as? String
        else { throw LocalAPIError(description: "the identity provider's device answer lacks a code") }
        show(
            "To sign in, open \(verification) and enter the code \(userCode)"
                + ((device["verification_uri_complete"] as? String).map { "\n(or open \($0))" } ?? ""))
        var interval = max(1, (device["interval"] as? Double) ?? 5)
        let deadline = Date().addingTimeInterval(min((device["expires_in"] as? Double) ?? 600, 1800))
        while Date() < deadline {
            try await Task.sleep(for: .seconds(interval))
            let answer = try await tokenRequest(
                tokenEndpoint,
                [
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("device_code", deviceCode),
                    ("client_id", clientID),
                ], acceptErrors: true)
            if let access = answer["access_token"] as? String {
                var store = read()
                store[base] = Kept(
                    accessToken: access, refreshToken: answer["refresh_token"] as? String,
                    expiresAt: Date().timeIntervalSince1970 + ((answer["expires_in"] as? Double) ?? 600),
                    tokenEndpoint: tokenEndpoint, clientID: clientID, audience: audience)
                try write(store)
                return Self.name(inJWT: access) ?? "you"
            }
            switch answer["error"] as? String {
            case "authorization_pending": continue
            case "slow_down": interval += 5
            case "access_denied": throw LocalAPIError(description: "the sign-in was refused at the identity provider")
            case "expired_token":
                throw LocalAPIError(description: "the sign-in code expired: run trustmesh login again")
            default:
                throw LocalAPIError(description: "the identity provider refused: \(answer["error"] ?? "no answer")")
            }
        }
        throw LocalAPIError(description: "the sign-in code expired: run trustmesh login again")
    }

    /// Forgets the token kept for `node`; true if there was one.
    public static func logout(node: String) throws -> Bool {
        var store = read()
        guard store.removeValue(forKey: key(node)) != nil else { return false }
        try write(store)
        return true
    }

    /// The `name` claim of a JWT, for a greeting only (the node verifies the token, not this).
    static func name(inJWT token: String) -> String? {
        let parts = token.split(separator: ".")
        guard parts.count >= 2 else { return nil }
        var text = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        guard let data = Data(base64Encoded: text),
            let claims = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        return claims["name"] as? String
    }

    static func read() -> [String: Kept] {
        guard let data = FileManager.default.contents(atPath: storePath) else { return [:] }
        return (try? JSONDecoder().decode([String: Kept].self, from: data)) ?? [:]
    }

    /// Writes the store 0600 (its folder 0700), replacing it atomically.
    static func write(_ store: [String: Kept]) throws {
        let folder = URL(fileURLWithPath: storePath).deletingLastPathComponent().path
        try FileManager.default.createDirectory(
            atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let temporary = storePath + ".tmp"
        let data = try JSONEncoder().encode(store)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw LocalAPIError(description: "cannot write \(temporary)") }
        let written = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == data.count, rename(temporary, storePath) == 0 else {
            throw LocalAPIError(description: "cannot write \(storePath)")
        }
    }

    static func getJSON(_ url: String) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(15))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok,
            let object = try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]
        else { throw LocalAPIError(description: "\(url) answered HTTP \(response.status.code)") }
        return object
    }

    static func tokenRequest(_ url: String, _ pairs: [(String, String)], acceptErrors: Bool = false) async throws
        -> [String: Any]
    {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let form = pairs.map {
            "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")"
        }.joined(separator: "&")
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(ByteBuffer(string: form))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(15))
        let body = try await response.body.collect(upTo: 1 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]) ?? [:]
        guard response.status == .ok || acceptErrors else {
            throw LocalAPIError(
                description:
                    "\(url) answered HTTP \(response.status.code): \(object["error_description"] ?? object["error"] ?? "")"
            )
        }
        return object
    }
}
