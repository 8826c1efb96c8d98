package import AsyncHTTPClient
package import Foundation
package import JWTKit
package import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// Why a token, a sign-in or a request was not accepted: said to the caller and written to the
/// audit log (never the token itself).
package struct AccessFailure: Error, CustomStringConvertible, Sendable {
    package var description: String
    package init(_ description: String) { self.description = description }
}

/// The claims the node reads from ID tokens and access tokens (CIS2-shaped).
package struct TokenClaims: JWTPayload, Sendable {
    package struct NRBACRole: Codable, Sendable, Hashable {
        package var person_orgid: String?
        package var person_roleid: String?
        package var org_code: String?
        package var role_name: String?
        package var role_code: String?
    }
    package struct Registration: Codable, Sendable, Hashable {
        package var body: String?
        package var number: String?
    }
    package var iss: String?
    package var sub: String?
    package var aud: AudienceClaim?
    package var exp: Double?
    package var nbf: Double?
    package var iat: Double?
    package var nonce: String?
    package var azp: String?
    package var name: String?
    package var client_id: String?
    package var scope: String?
    package var nhsid_nrbac_roles: [NRBACRole]?
    package var selected_roleid: String?
    package var professional_registration: Registration?

    /// The time claims and the rest are checked by ``TokenVerifier``, with its clock skew.
    package func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// What the provider's discovery document says (OpenID Connect Discovery 1.0).
package struct ProviderMetadata: Codable, Sendable {
    package var issuer: String
    package var authorization_endpoint: String
    package var token_endpoint: String
    package var jwks_uri: String
    package var userinfo_endpoint: String?
    package var end_session_endpoint: String?
    package var device_authorization_endpoint: String?
    package var code_challenge_methods_supported: [String]?
}

/// Verifies the provider's JWTs: ID tokens at sign-in and bearer access tokens at every program door.
///
/// The signature is jwt-kit's, by the JWKS key named in `kid`, with asymmetric algorithms only
/// (`none` and HMAC are refused before any key is looked at, so a token "signed" with the provider's
/// public key as an HMAC secret never reaches a verifier); the header's `alg` must be the key's. An
/// unknown `kid` triggers one JWKS refresh (key rollover works without a restart), at most once a
/// minute for the same `kid`. Then `iss`, `aud`, `exp`, `nbf`, `iat` (with ``clockSkew``) and, for
/// ID tokens, `nonce` and `azp`.
package actor TokenVerifier {
    package let issuer: String
    package let clockSkew: Duration
    private let http: HTTPClient
    private let logger: Logger
    private var keys = JWTKeyCollection()
    /// kid → the algorithm its key is for.
    private var algorithms: [String: String] = [:]
    private var metadata: ProviderMetadata?
    private var lastRefresh: [String: ContinuousClock.Instant] = [:]
    /// JWKS fetches, for tests and metrics.
    package private(set) var refreshes = 0
    /// Access tokens whose signature and issuer already verified, by token and audience: a
    /// program's repeated requests cost a lookup, not a signature check. The time claims are checked
    /// on every use. Bounded: emptied when full.
    private var verified: [String: TokenClaims] = [:]

    /// The algorithms a token may use: RSA, RSA-PSS, ECDSA, EdDSA.
    static let asymmetric: Set<String> = [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
    ]

    package init(issuer: String, clockSkew: Duration, http: HTTPClient, logger: Logger) {
        self.issuer = issuer
        self.clockSkew = clockSkew
        self.http = http
        self.logger = logger
    }

    /// The provider's endpoints, fetched once (and again after a failure).
    package func provider() async throws(AccessFailure) -> ProviderMetadata {
        if let metadata { return metadata }
        let url = issuer + "/.well-known/openid-configuration"
        let document: ProviderMetadata
        do { document = try await get(url, as: ProviderMetadata.self) } catch {
            throw AccessFailure("the identity provider's discovery document (\(url)) could not be read: \(error)")
        }
        guard document.issuer == issuer else {
            throw AccessFailure("the discovery document names issuer \(document.issuer), not \(issuer)")
        }
        metadata = document
        return document
    }

    /// Checks a token and returns its claims.
    /// - Parameters:
    ///   - audience: a value `aud` must contain.
    ///   - nonce: for an ID token, the nonce sent at sign-in (required in the token); nil for an access token.
    ///   - authorizedParty: for an ID token, the client id `azp` must name when present.
    package func verify(
        _ token: String, audience: String, nonce: String? = nil, authorizedParty: String? = nil, now: Date = Date()
    ) async throws(AccessFailure) -> TokenClaims {
        let cacheKey = nonce == nil && authorizedParty == nil ? audience + " " + token : nil
        if let cacheKey, let claims = verified[cacheKey] {
            try checkTimes(claims, now: now)
            return claims
        }
        let bytes = Array(token.utf8)
        let header: JWTHeader
        let claims: TokenClaims
        do { (header, claims, _) = try DefaultJWTParser().parse(bytes, as: TokenClaims.self) } catch {
            throw AccessFailure("the token is not a well-formed JWT")
        }
        guard let alg = header.alg, Self.asymmetric.contains(alg) else {
            throw AccessFailure("the token's algorithm '\(header.alg ?? "")' is not accepted (asymmetric only)")
        }
        guard let kid = header.kid, !kid.isEmpty else { throw AccessFailure("the token names no key (kid)") }
        if algorithms[kid] == nil { try await refresh(for: kid) }
        guard let keyAlgorithm = algorithms[kid] else {
            throw AccessFailure("the token names a key (kid \(kid)) the identity provider does not publish")
        }
        guard keyAlgorithm == alg else {
            throw AccessFailure("the token's algorithm \(alg) is not its key's (\(keyAlgorithm))")
        }
        do { _ = try await keys.verify(bytes, as: TokenClaims.self) } catch {
            throw AccessFailure("the token's signature does not verify")
        }
        guard claims.iss == issuer else { throw AccessFailure("the token's issuer is not \(issuer)") }
        guard let aud = claims.aud?.value, aud.contains(audience) else {
            throw AccessFailure("the token is not for this node (audience \(audience))")
        }
        try checkTimes(claims, now: now)
        guard let sub = claims.sub, !sub.isEmpty else { throw AccessFailure("the token names no subject") }
        if let nonce {
            guard let sent = claims.nonce, sent == nonce else {
                throw AccessFailure("the ID token's nonce is missing or not the one sent")
            }
        }
        if let authorizedParty {
            if let azp = claims.azp, azp != authorizedParty {
                throw AccessFailure("the ID token's authorized party is not this node")
            }
            if aud.count > 1, claims.azp == nil {
                throw AccessFailure("the ID token has several audiences and no authorized party")
            }
        }
        if let cacheKey {
            if verified.count >= 10_000 { verified.removeAll() }
            verified[cacheKey] = claims
        }
        return claims
    }

    /// `exp`, `nbf` and `iat` against now, with the clock skew.
    private func checkTimes(_ claims: TokenClaims, now: Date) throws(AccessFailure) {
        let skew = Double(clockSkew.components.seconds)
        let time = now.timeIntervalSince1970
        guard let exp = claims.exp else { throw AccessFailure("the token has no expiry") }
        guard time < exp + skew else { throw AccessFailure("the token has expired") }
        if let nbf = claims.nbf, nbf > time + skew { throw AccessFailure("the token is not valid yet") }
        guard let iat = claims.iat, iat <= time + skew else {
            throw AccessFailure("the token's issue time is missing or in the future")
        }
    }

    /// Fetches the JWKS, unless it was fetched for this kid in the last minute.
    private func refresh(for kid: String) async throws(AccessFailure) {
        let now = ContinuousClock.now
        if let last = lastRefresh[kid], now - last < .seconds(60) { return }
        if lastRefresh.count > 1000 { lastRefresh.removeAll() }
        lastRefresh[kid] = now
        let provider = try await provider()
        let jwks: JWKS
        do { jwks = try await get(provider.jwks_uri, as: JWKS.self) } catch {
            throw AccessFailure("the identity provider's keys (\(provider.jwks_uri)) could not be read: \(error)")
        }
        refreshes += 1
        let collection = JWTKeyCollection()
        var found: [String: String] = [:]
        for key in jwks.keys {
            guard let id = key.keyIdentifier?.string, let alg = Self.algorithm(of: key) else { continue }
            do {
                try await collection.add(jwk: key)
                found[id] = alg
            } catch {
                logger.warning("identity provider key not usable", metadata: ["kid": "\(id)", "error": "\(error)"])
            }
        }
        keys = collection
        algorithms = found
        logger.info("identity provider keys loaded", metadata: ["kids": "\(found.keys.sorted())"])
    }

    /// The algorithm a published key is for: its `alg`, else what its type implies; nil for
    /// anything not asymmetric (an `oct` key is never used).
    static func algorithm(of key: JWK) -> String? {
        if let declared = key.algorithm?.rawValue { return asymmetric.contains(declared) ? declared : nil }
        switch key.keyType {
        case .rsa: return "RS256"
        case .ecdsa:
            switch key.curve?.rawValue {
            case "P-256": return "ES256"
            case "P-384": return "ES384"
            case "P-521": return "ES512"
            default: return nil
            }
        case .octetKeyPair: return "EdDSA"
        default: return nil
        }
    }

    private func get<T: Decodable>(_ url: String, as type: T.Type) async throws -> T {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        let response = try await http.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else { throw AccessFailure("HTTP \(response.status.code)") }
        return try JSONDecoder().decode(T.self, from: Data(buffer: body))
    }
}
