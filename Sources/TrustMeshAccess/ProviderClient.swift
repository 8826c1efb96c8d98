import AsyncHTTPClient
import Crypto
import Foundation
import JWTKit
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// The node as an OpenID Connect relying party: the authorization request and the token exchange.
struct ProviderClient: Sendable {
    let settings: AccessSettings
    let http: HTTPClient

    /// PKCE (RFC 7636): the S256 challenge of a verifier.
    static func challenge(_ verifier: String) -> String {
        base64URL(Data(SHA256.hash(data: Data(verifier.utf8))))
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The provider's authorization URL for a sign-in.
    func authorizationURL(
        _ provider: ProviderMetadata, redirect: String, state: String, nonce: String, verifier: String
    ) -> String {
        var scopes = settings.scopes.split(separator: " ").map(String.init)
        if !scopes.contains("openid") { scopes.insert("openid", at: 0) }
        let query = [
            ("response_type", "code"), ("client_id", settings.clientID), ("redirect_uri", redirect),
            ("scope", scopes.joined(separator: " ")), ("state", state), ("nonce", nonce),
            ("code_challenge", Self.challenge(verifier)), ("code_challenge_method", "S256"),
        ]
        let separator = provider.authorization_endpoint.contains("?") ? "&" : "?"
        return provider.authorization_endpoint + separator + Self.form(query)
    }

    /// `application/x-www-form-urlencoded`.
    static func form(_ pairs: [(String, String)]) -> String {
        pairs.map { formEncoded($0.0) + "=" + formEncoded($0.1) }.joined(separator: "&")
    }

    struct TokenResponse: Decodable {
        var id_token: String?
        var access_token: String?
    }

    /// Redeems an authorization code (with the PKCE verifier) for the ID token.
    func exchange(_ provider: ProviderMetadata, code: String, redirect: String, verifier: String)
        async throws(AccessFailure) -> String
    {
        var pairs = [
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ]
        var request = HTTPClientRequest(url: provider.token_endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        switch settings.clientAuthentication {
        case .secret(let secret):
            let credentials = Data("\(Self.formEncoded(settings.clientID)):\(Self.formEncoded(secret))".utf8)
            request.headers.add(name: "Authorization", value: "Basic " + credentials.base64EncodedString())
        case .privateKey(let jwk):
            pairs.append(("client_id", settings.clientID))
            pairs.append(("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"))
            pairs.append(("client_assertion", try await assertion(jwk: jwk, audience: provider.token_endpoint)))
        case .none:
            pairs.append(("client_id", settings.clientID))
        }
        request.body = .bytes(ByteBuffer(string: Self.form(pairs)))
        do {
            let response = try await http.execute(request, timeout: .seconds(15))
            let body = try await response.body.collect(upTo: 1 << 20)
            guard response.status == .ok else {
                let text = String(buffer: body).prefix(300)
                throw AccessFailure(
                    "the identity provider refused the sign-in code (HTTP \(response.status.code): \(text))")
            }
            guard let token = try JSONDecoder().decode(TokenResponse.self, from: Data(buffer: body)).id_token else {
                throw AccessFailure("the identity provider sent no ID token")
            }
            return token
        } catch let failure as AccessFailure {
            throw failure
        } catch {
            throw AccessFailure("the identity provider's token endpoint could not be reached: \(error)")
        }
    }

    /// RFC 6749 §2.3.1: client id and secret are form-encoded before Basic.
    static func formEncoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// `private_key_jwt` (RFC 7523): a short-lived assertion signed with the node's client key.
    private func assertion(jwk text: String, audience: String) async throws(AccessFailure) -> String {
        struct Assertion: JWTPayload {
            var iss: String
            var sub: String
            var aud: String
            var jti: String
            var iat: Int
            var exp: Int
            func verify(using algorithm: some JWTAlgorithm) async throws {}
        }
        do {
            let jwk = try JSONDecoder().decode(JWK.self, from: Data(text.utf8))
            let keys = JWTKeyCollection()
            try await keys.add(jwk: jwk)
            let now = Int(Date().timeIntervalSince1970)
            return try await keys.sign(
                Assertion(
                    iss: settings.clientID, sub: settings.clientID, aud: audience,
                    jti: SessionStore.randomToken(), iat: now, exp: now + 60),
                kid: jwk.keyIdentifier)
        } catch {
            throw AccessFailure("the node's client key (clientPrivateKeyFile) cannot sign: \(error)")
        }
    }
}
