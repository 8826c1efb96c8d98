"""The OpenID Connect provider behind `Scripts/idp serve` (see `Scripts/idp --help`).

A TEST stand-in for NHS CIS2 on loopback, built on authlib's Flask AuthorizationServer and its
grants, with joserfc (authlib's JOSE library) for every key, JWT and JWK. Everything is in
memory and lost at exit: signing keys, codes, refresh tokens, device authorizations.

USERS below is the fixture the Swift tests are written against: read it there.
"""
import copy, hashlib, hmac, html, ipaddress, json, threading, time, uuid
from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey
from joserfc.util import urlsafe_b64encode

from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import (ClientMixin, InvalidGrantError, InvalidRequestError,
                                    UnauthorizedClientError, grants, list_to_scope, scope_to_list)
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc8628 import DeviceAuthorizationEndpoint, DeviceCodeGrant, DeviceCredentialDict
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import UserInfoEndpoint
from authlib.oidc.core.grants import OpenIDCode, OpenIDToken
from authlib.oidc.discovery import OpenIDProviderMetadata
from authlib.oidc.rpinitiated import EndSessionEndpoint

PASSWORD = "password"  # every test user's password

_CLINICAL = '"Clinical":"Clinical Provision":"Clinical Practitioner Access Role"'


def _role(orgid, roleid, org, code, name):
    return {"person_orgid": orgid, "person_roleid": roleid, "org_code": org, "role_name": name, "role_code": code}


# username -> person. `roles` becomes the nhsid_nrbac_roles claim; `selected_roleid` is the
# person_roleid of the role the person chose at sign-in (CIS2's role selection), if any.
USERS = {
    "priya": {  # consultant radiologist at RKB, also holds a role at RRK (not selected)
        "sub": "6f1c2a9e-3b7d-4e0a-9c51-2d8f0b7a1e01", "nhsid_useruid": "555000000101",
        "name": "Dr Priya Shah", "given_name": "Priya", "family_name": "Shah",
        "roles": [_role("555000101001", "555000101011", "RKB", "S8000:G8000:R8000", _CLINICAL),
                  _role("555000101002", "555000101012", "RRK", "S8000:G8000:R8000", _CLINICAL)],
        "selected_roleid": "555000101011",
        "professional_registration": {"body": "GMC", "number": "7654321"},
    },
    "sam": {  # staff nurse at RKB
        "sub": "6f1c2a9e-3b7d-4e0a-9c51-2d8f0b7a1e02", "nhsid_useruid": "555000000102",
        "name": "Sam Okafor", "given_name": "Sam", "family_name": "Okafor",
        "roles": [_role("555000102001", "555000102011", "RKB", "S8000:G8000:R8001",
                        '"Clinical":"Clinical Provision":"Nurse Access Role"')],
        "selected_roleid": "555000102011",
        "professional_registration": {"body": "NMC", "number": "12A3456B"},
    },
    "olu": {  # PACS operator at RKB
        "sub": "6f1c2a9e-3b7d-4e0a-9c51-2d8f0b7a1e03", "nhsid_useruid": "555000000103",
        "name": "Olu Adeyemi", "given_name": "Olu", "family_name": "Adeyemi",
        "roles": [_role("555000103001", "555000103011", "RKB", "S8000:G8001:R8008",
                        '"Clinical":"Clinical Support":"Admin/Clinical Support Access Role"')],
        "selected_roleid": "555000103011",
    },
    "ines": {  # information governance officer at RKB
        "sub": "6f1c2a9e-3b7d-4e0a-9c51-2d8f0b7a1e04", "nhsid_useruid": "555000000104",
        "name": "Ines Marsh", "given_name": "Ines", "family_name": "Marsh",
        "roles": [_role("555000104001", "555000104011", "RKB", "S8002:G8005:R8013",
                        '"Admin":"Information Governance":"Information Governance Access Role"')],
        "selected_roleid": "555000104011",
    },
    "ravi": {  # clinician at another trust only
        "sub": "6f1c2a9e-3b7d-4e0a-9c51-2d8f0b7a1e05", "nhsid_useruid": "555000000105",
        "name": "Dr Ravi Menon", "given_name": "Ravi", "family_name": "Menon",
        "roles": [_role("555000105001", "555000105011", "RRK", "S8000:G8000:R8000", _CLINICAL)],
        "selected_roleid": "555000105011",
    },
    "nora": {  # signed in, but holds no role at all
        "sub": "6f1c2a9e-3b7d-4e0a-9c51-2d8f0b7a1e06", "nhsid_useruid": "555000000106",
        "name": "Nora Quinn", "given_name": "Nora", "family_name": "Quinn",
        "roles": [],
    },
}

PERSON_CLAIMS = ["sub", "name", "given_name", "family_name", "nhsid_useruid", "nhsid_nrbac_roles",
                 "selected_roleid", "professional_registration"]
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_TYPES = ["authorization_code", "refresh_token", DEVICE_GRANT, "client_credentials"]
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
CODE_LIFETIME = 60
REFRESH_LIFETIME = 12 * 3600
DEVICE_LIFETIME = 600
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
DEFAULT_MINT_SCOPE = "openid user/ImagingStudy.rs user/DocumentReference.rs"


def person_claims(username):
    p = USERS[username]
    claims = {k: p[k] for k in ("sub", "name", "given_name", "family_name", "nhsid_useruid")}
    claims["nhsid_nrbac_roles"] = copy.deepcopy(p["roles"])
    for k in ("selected_roleid", "professional_registration"):
        if k in p:
            claims[k] = copy.deepcopy(p[k])
    return claims


def check_password(username, password):
    return username in USERS and hmac.compare_digest(password.encode(), PASSWORD.encode())


def is_loopback_address(addr):
    try:
        return ipaddress.ip_address(addr) in LOOPBACK
    except ValueError:
        return False


class InvalidTargetError(OAuth2Error):
    error = "invalid_target"  # RFC 8707 section 2


def requested_target():
    """The RFC 8707 `resource` (or `audience`) parameter of this request, checked, or None."""
    values = request.values.getlist("resource") or request.values.getlist("audience")
    if not values:
        return None
    if len(values) > 1:
        raise InvalidTargetError("Give one 'resource' (or 'audience') only.")
    parts = urlsplit(values[0])
    ok = parts.scheme in ("http", "https") and parts.hostname and not parts.fragment
    if ok and parts.hostname != "localhost":
        ok = is_loopback_address(parts.hostname)
    if not ok:
        raise InvalidTargetError("The resource must be an http(s) URL on 127.0.0.0/8 or localhost.")
    return values[0]


class Client(ClientMixin):
    FIELDS = {"client_id", "client_secret", "token_endpoint_auth_method", "jwks", "redirect_uris",
              "post_logout_redirect_uris", "grant_types", "scope", "system_role"}

    def __init__(self, d):
        unknown = set(d) - self.FIELDS
        if unknown:
            raise ValueError(f"unknown field(s) {sorted(unknown)}; allowed: {sorted(self.FIELDS)}")
        if not isinstance(d.get("client_id"), str) or not d["client_id"]:
            raise ValueError("client_id (a non-empty string) is required")
        self.client_id = d["client_id"]
        self.client_secret = d.get("client_secret")
        default_method = "client_secret_basic" if self.client_secret else "private_key_jwt" if "jwks" in d else "none"
        self.auth_method = d.get("token_endpoint_auth_method", default_method)
        if self.auth_method not in AUTH_METHODS:
            raise ValueError(f"{self.client_id}: token_endpoint_auth_method must be one of {AUTH_METHODS}")
        if self.auth_method.startswith("client_secret") and not self.client_secret:
            raise ValueError(f"{self.client_id}: {self.auth_method} needs a client_secret")
        self.jwks = KeySet.import_key_set(d["jwks"]) if "jwks" in d else None
        if self.auth_method == "private_key_jwt" and self.jwks is None:
            raise ValueError(f"{self.client_id}: private_key_jwt needs a jwks")
        self.redirect_uris = list(d.get("redirect_uris", []))
        self.grant_types = list(d.get("grant_types", ["authorization_code", "refresh_token"]))
        bad = set(self.grant_types) - set(GRANT_TYPES)
        if bad:
            raise ValueError(f"{self.client_id}: unknown grant_types {sorted(bad)}; known: {GRANT_TYPES}")
        self.scope = d.get("scope", "openid")
        self.system_role = d.get("system_role")
        self.client_metadata = {"post_logout_redirect_uris": list(d.get("post_logout_redirect_uris", []))}

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None  # redirect_uri is always required, and matched exactly

    def get_allowed_scope(self, scope):
        allowed = scope_to_list(self.scope)
        if scope is None:  # omitted: everything registered except openid (an ID token needs a nonce)
            return list_to_scope([s for s in allowed if s != "openid"])
        return list_to_scope([s for s in scope_to_list(scope) if s in allowed])

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        return bool(self.client_secret) and hmac.compare_digest(client_secret.encode(), self.client_secret.encode())

    def check_endpoint_auth_method(self, method, endpoint):
        return method == self.auth_method

    def check_response_type(self, response_type):
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type):
        return grant_type in self.grant_types


def load_clients(path):
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data, list):
        raise ValueError("the clients file must hold a JSON list of clients")
    clients = {}
    for d in data:
        c = Client(d)
        if c.client_id in clients:
            raise ValueError(f"client_id {c.client_id} appears twice")
        clients[c.client_id] = c
    return clients


class Subject:
    """A person's sign-in, carried from the login (or device approval) to every token of that grant."""

    def __init__(self, username, audience=None):
        self.username = username
        self.auth_time = int(time.time())
        self.audience = audience
        self.grant_id = uuid.uuid4().hex  # codes, refresh tokens and device codes of one sign-in

    def get_user_id(self):
        return USERS[self.username]["sub"]


class Code:  # an authorization code (authlib's AuthorizationCodeMixin, duck-typed)
    def __init__(self, client_id, subject, request):
        data = request.payload.data
        self.client_id, self.subject = client_id, subject
        self.redirect_uri, self.scope = data.get("redirect_uri"), request.scope
        self.nonce = data.get("nonce")
        self.code_challenge = data.get("code_challenge")
        self.code_challenge_method = data.get("code_challenge_method")
        self.expires_at = time.time() + CODE_LIFETIME
        self.used = False

    def get_redirect_uri(self): return self.redirect_uri
    def get_scope(self): return self.scope
    def get_nonce(self): return self.nonce
    def get_auth_time(self): return self.subject.auth_time
    def get_acr(self): return None
    def get_amr(self): return ["pwd"]


class RefreshToken:  # authlib's TokenMixin, the parts the refresh grant uses
    def __init__(self, client_id, scope, subject):
        self.client_id, self.scope, self.subject = client_id, scope, subject
        self.expires_at = time.time() + REFRESH_LIFETIME
        self.revoked = False

    def check_client(self, client): return client.get_client_id() == self.client_id
    def get_scope(self): return self.scope


class Provider:
    """All state of one running provider. Every store is guarded by one lock."""

    def __init__(self, issuer, clients, token_lifetime):
        self.issuer, self.clients, self.lifetime = issuer, clients, token_lifetime
        self.lock = threading.RLock()
        self.k1 = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
        self.k2 = ECKey.generate_key("P-256", parameters={"kid": "k2", "use": "sig", "alg": "ES256"})
        self.rotated = False
        self.codes, self.nonces, self.refresh_tokens = {}, set(), {}
        self.devices, self.user_codes, self.approvals = {}, {}, {}
        self.assertion_jtis, self.revoked_grants = set(), set()

    @property
    def signing_key(self):
        return self.k2 if self.rotated else self.k1

    def published_keys(self):
        keys = [self.k1, self.k2] if self.rotated else [self.k1]
        return KeySet([k.__class__.import_key(k.as_dict(private=False)) for k in keys])

    def sign(self, claims, header, key=None):
        key = key or self.signing_key
        header = {"alg": key.alg, "kid": key.kid, **header}
        return jwt.encode(header, claims, key, algorithms=[header["alg"]], default_type=None)

    def base_claims(self, aud, expires_in=None):
        now = int(time.time())
        return {"iss": self.issuer, "aud": aud, "exp": now + (self.lifetime if expires_in is None else expires_in),
                "iat": now, "nbf": now, "jti": str(uuid.uuid4())}

    def access_claims(self, client_id, subject_name, audience, scope, expires_in=None, auth_time=None):
        claims = self.base_claims(audience, expires_in)
        if subject_name.startswith("system:"):
            client = self.clients.get(subject_name[len("system:"):])
            claims.update(sub=client.client_id, client_id=client.client_id, scope=scope)
            if client.system_role:
                claims["system_role"] = client.system_role
            return claims
        claims.update(person_claims(subject_name))
        claims.update(auth_time=auth_time or claims["iat"], client_id=client_id, scope=scope)
        return claims

    # --- authlib callbacks ---
    def generate_access_token(self, client, grant_type, user, scope):
        audience = requested_target() or (user.audience if user else None) or client.client_id
        if user is None:
            claims = self.access_claims(client.client_id, "system:" + client.client_id, audience, scope)
        else:
            claims = self.access_claims(client.client_id, user.username, audience, scope, auth_time=user.auth_time)
        return self.sign(claims, {"typ": "at+jwt"})

    def save_token(self, token, req):
        if "refresh_token" in token:
            with self.lock:
                self.refresh_tokens[token["refresh_token"]] = RefreshToken(
                    req.client.client_id, token.get("scope", ""), req.user)

    def revoke_grant(self, grant_id):
        self.revoked_grants.add(grant_id)

    def approve_device(self, user_code, username):
        code = "".join(ch for ch in (user_code or "").upper() if ch.isalpha())
        code = code[:4] + "-" + code[4:]
        with self.lock:
            device_code = self.user_codes.get(code)
            cred = self.devices.get(device_code)
            if cred is None:
                raise ValueError(f"no device authorization with user code {user_code!r}")
            if cred.is_expired():
                raise ValueError(f"user code {code} has expired")
            if code in self.approvals:
                raise ValueError(f"user code {code} is already approved")
            self.approvals[code] = (Subject(username, cred.get("audience")), True)
            return cred

    def pending_user_codes(self):
        with self.lock:
            return [c for c, d in self.user_codes.items()
                    if c not in self.approvals and not self.devices[d].is_expired()]


def make_grants(p):
    """authlib's grants, bound to provider `p` (authlib instantiates a grant class per request)."""
    methods = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]

    class CodeGrant(grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = methods

        def validate_authorization_request(self):
            redirect_uri = super().validate_authorization_request()
            try:
                requested_target()
            except OAuth2Error as error:
                error.redirect_uri = redirect_uri
                raise
            return redirect_uri

        def save_authorization_code(self, code, req):
            with p.lock:
                p.codes[code] = Code(req.client.client_id, req.user, req)
                if req.payload.data.get("nonce"):
                    p.nonces.add((req.client.client_id, req.payload.data["nonce"]))

        def query_authorization_code(self, code, client):
            with p.lock:  # a code is consumed by its first redemption, whatever happens next
                rec = p.codes.get(code)
                if rec is None or rec.client_id != client.client_id:
                    return None
                if rec.used:  # replayed: RFC 6749 4.1.2, revoke what the code gave
                    p.revoke_grant(rec.subject.grant_id)
                    return None
                rec.used = True
                return rec if rec.expires_at > time.time() else None

        def delete_authorization_code(self, authorization_code):
            pass  # kept, marked used, so that a replay is recognised

        def authenticate_user(self, authorization_code):
            return authorization_code.subject

    class S256Challenge(CodeChallenge):
        SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

        def validate_code_challenge(self, grant, redirect_uri):
            data = grant.request.payload.data
            if not data.get("code_challenge"):
                raise InvalidRequestError("PKCE is required: missing 'code_challenge'.")
            if data.get("code_challenge_method") != "S256":
                raise InvalidRequestError("PKCE: 'code_challenge_method' must be S256.")
            super().validate_code_challenge(grant, redirect_uri)

    class IDTokenMixin:
        def resolve_client_private_key(self, client): return p.signing_key
        def get_client_algorithm(self, client): return p.signing_key.alg
        def get_encode_header(self, client): return {"alg": p.signing_key.alg, "kid": p.signing_key.kid}

        def get_client_claims(self, client):
            claims = p.base_claims(client.client_id)
            claims["azp"] = client.client_id
            return claims

        def generate_user_info(self, user, scope):
            return {**person_claims(user.username), "auth_time": user.auth_time}

    class CodeOpenID(IDTokenMixin, OpenIDCode):
        def exists_nonce(self, nonce, req):
            with p.lock:
                return (req.payload.client_id, nonce) in p.nonces

    class DeviceOpenID(IDTokenMixin, OpenIDToken):
        pass

    class RefreshGrant(grants.RefreshTokenGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = methods
        INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: each refresh token works once

        def authenticate_refresh_token(self, refresh_token):
            with p.lock:
                rec = p.refresh_tokens.get(refresh_token)
                if rec is None or rec.subject.grant_id in p.revoked_grants or rec.expires_at < time.time():
                    return None
                if rec.revoked:  # a replayed refresh token: revoke the whole family (RFC 9700 4.14)
                    p.revoke_grant(rec.subject.grant_id)
                    return None
                return rec

        def authenticate_user(self, refresh_token):
            return refresh_token.subject

        def revoke_old_credential(self, refresh_token):
            with p.lock:
                if refresh_token.revoked:
                    raise InvalidGrantError("The refresh token was used concurrently.")
                refresh_token.revoked = True

    class ClientCredentials(grants.ClientCredentialsGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    class DeviceGrant(DeviceCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = methods

        def query_device_credential(self, device_code):
            with p.lock:
                return p.devices.get(device_code)

        def query_user_grant(self, user_code):
            with p.lock:
                return p.approvals.get(user_code)

        def should_slow_down(self, credential):
            return False

        def validate_token_request(self):
            super().validate_token_request()
            with p.lock:
                cred = self.request.credential
                if cred.get("consumed"):
                    raise InvalidGrantError("The device code has already been exchanged.")
                cred["consumed"] = True

    class DeviceEndpoint(DeviceAuthorizationEndpoint):
        CLIENT_AUTH_METHODS = methods
        EXPIRES_IN, INTERVAL = DEVICE_LIFETIME, 1

        def authenticate_client(self, req):
            client = super().authenticate_client(req)
            if not client.check_grant_type(DEVICE_GRANT):
                raise UnauthorizedClientError("The client may not use the device flow.")
            return client

        def create_endpoint_response(self, req):
            requested_target()  # refuse a bad resource before issuing anything
            return super().create_endpoint_response(req)

        def get_verification_uri(self):
            return p.issuer + "/device/verify"

        def save_device_credential(self, client_id, scope, data):
            with p.lock:
                p.devices[data["device_code"]] = DeviceCredentialDict(
                    client_id=client_id, scope=scope, audience=requested_target(),
                    expires_at=time.time() + self.EXPIRES_IN, **data)
                p.user_codes[data["user_code"]] = data["device_code"]

    class PrivateKeyJWT(JWTBearerClientAssertion):
        CLIENT_AUTH_METHOD = "private_key_jwt"

        def get_audiences(self):
            return [p.issuer + "/token", p.issuer]

        def resolve_client_public_key(self, client):
            return client.jwks or KeySet([])

        def validate_jti(self, claims, jti):
            with p.lock:
                key = (claims["sub"], jti)
                if key in p.assertion_jtis:
                    return False
                p.assertion_jtis.add(key)
                return True

    class AccessToken:
        def __init__(self, claims): self.claims = claims
        def is_expired(self): return False  # exp was checked when decoding
        def is_revoked(self): return False
        def get_scope(self): return self.claims.get("scope", "")
        @property
        def scope(self): return self.get_scope()
        def get_user(self): return next(n for n, u in USERS.items() if u["sub"] == self.claims["sub"])

        def get_client(self):
            return p.clients.get(self.claims.get("client_id")) or type("Unregistered", (), {"client_metadata": {}})()

    class AccessTokenValidator(BearerTokenValidator):
        def authenticate_token(self, token_string):
            try:
                tok = jwt.decode(token_string, p.published_keys(), algorithms=["RS256", "ES256"])
                jwt.JWTClaimsRegistry(iss={"essential": True, "value": p.issuer}, exp={"essential": True},
                                      sub={"essential": True}).validate(tok.claims)
            except (JoseError, ValueError):
                return None
            known = any(u["sub"] == tok.claims["sub"] for u in USERS.values())
            return AccessToken(tok.claims) if tok.header.get("typ") == "at+jwt" and known else None

    class UserInfo(UserInfoEndpoint):
        def get_issuer(self): return p.issuer
        def generate_user_info(self, user, scope): return person_claims(user)

    class EndSession(EndSessionEndpoint):
        def get_server_jwks(self): return p.published_keys()
        def end_session(self, end_session_request): pass  # no provider-side session to end

        def is_post_logout_redirect_uri_legitimate(self, req, uri, client, logout_hint):
            return bool(req.payload.data.get("client_id"))  # named client; its URI matched exactly

    class Iss(IssuerParameter):
        def get_issuer(self): return p.issuer

    protector = ResourceProtector()
    protector.register_token_validator(AccessTokenValidator())
    return dict(code=CodeGrant, pkce=S256Challenge, code_openid=CodeOpenID, device_openid=DeviceOpenID,
                refresh=RefreshGrant, client_credentials=ClientCredentials, device=DeviceGrant,
                device_endpoint=DeviceEndpoint, private_key_jwt=PrivateKeyJWT, iss=Iss,
                userinfo=UserInfo(resource_protector=protector), end_session=EndSession)


def metadata(p):
    i = p.issuer
    scopes = sorted({s for c in p.clients.values() for s in scope_to_list(c.scope)} | {"openid"})
    return OpenIDProviderMetadata({
        "issuer": i, "authorization_endpoint": i + "/authorize", "token_endpoint": i + "/token",
        "jwks_uri": i + "/jwks", "userinfo_endpoint": i + "/userinfo",
        "device_authorization_endpoint": i + "/device", "end_session_endpoint": i + "/logout",
        "response_types_supported": ["code"], "response_modes_supported": ["query"],
        "grant_types_supported": GRANT_TYPES, "code_challenge_methods_supported": ["S256"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
        "scopes_supported": scopes, "subject_types_supported": ["public"],
        "claims_supported": ["iss", "aud", "exp", "iat", "nbf", "jti", "auth_time", "nonce", "azp", "at_hash",
                             "client_id", "scope", "system_role"] + PERSON_CLAIMS,
        "authorization_response_iss_parameter_supported": True,
    })


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - TEST identity provider</title>
<style>body{{font-family:sans-serif;max-width:34em;margin:2em auto}} label{{display:block;margin-top:.8em}}
.test{{background:#fde68a;padding:.5em}} #error{{color:#b91c1c}}</style></head>
<body><p class="test">This is a TEST identity provider standing in for NHS CIS2. Never use real credentials.</p>
<h1>{title}</h1>{body}</body></html>"""


def page(title, body, status=200):
    return Response(PAGE.format(title=html.escape(title), body=body), status=status,
                    headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"})


def login_form(intro, error=None, user_code=None, button="Sign in"):
    users = ", ".join(USERS)
    code_field = "" if user_code is None else (
        '<label for="user_code">Code shown on your device</label>'
        f'<input id="user_code" name="user_code" value="{html.escape(user_code)}" autocomplete="off">')
    err = f'<p id="error" role="alert">{html.escape(error)}</p>' if error else ""
    return (f"<p>{intro}</p>{err}<form method=\"post\">{code_field}"
            '<label for="username">Username</label><input id="username" name="username" autocomplete="username">'
            '<label for="password">Password</label>'
            '<input id="password" name="password" type="password" autocomplete="current-password">'
            f'<p><button id="sign-in" type="submit">{button}</button></p></form>'
            f"<p><small>Test users: {users}. Password: <code>password</code>.</small></p>")


def create_app(issuer, clients, token_lifetime=600):
    p = Provider(issuer, clients, token_lifetime)
    meta = metadata(p)
    meta.validate()
    app = Flask("idp")
    app.config["OAUTH2_SCOPES_SUPPORTED"] = meta["scopes_supported"]
    server = AuthorizationServer(app, query_client=clients.get, save_token=p.save_token)
    server.register_token_generator("default", BearerTokenGenerator(
        p.generate_access_token, lambda **kw: generate_token(48), lambda client, grant_type: p.lifetime))
    g = make_grants(p)
    server.register_client_auth_method("private_key_jwt", g["private_key_jwt"]())
    server.register_extension(g["iss"]())
    server.register_grant(g["code"], [g["pkce"](required=True), g["code_openid"](require_nonce=True)])
    server.register_grant(g["refresh"])
    server.register_grant(g["client_credentials"])
    server.register_grant(g["device"], [g["device_openid"]()])
    server.register_endpoint(g["device_endpoint"])
    server.register_endpoint(g["userinfo"])
    server.register_endpoint(g["end_session"])
    app.extensions["idp"] = p

    def error_redirect(error):
        response = server.handle_error_response(None, error)
        response.location = add_params_to_uri(response.location, [("iss", issuer)])  # RFC 9207: errors too
        return response

    @app.get("/.well-known/openid-configuration")
    def discovery():
        return jsonify(dict(meta))

    @app.get("/jwks")
    def jwks():
        return jsonify(p.published_keys().as_dict())

    @app.route("/authorize", methods=["GET", "POST"])
    def authorize():
        try:
            grant = server.get_consent_grant(end_user=None)
        except OAuth2Error as error:
            if error.redirect_uri:  # the client and its redirect_uri are valid: tell the client
                return error_redirect(error)
            return page("Sign-in request refused", f"<p id=\"error\">{html.escape(error.error)}: "
                        f"{html.escape(error.description or '')}</p>", status=400)
        client = html.escape(grant.client.client_id)
        if request.method == "GET":
            return page("Sign in", login_form(f"<b>{client}</b> asks you to sign in."))
        username, password = request.form.get("username", ""), request.form.get("password", "")
        if not check_password(username, password):
            return page("Sign in", login_form(f"<b>{client}</b> asks you to sign in.",
                                              error="Unknown user or wrong password."))
        subject = Subject(username, requested_target())
        return server.create_authorization_response(grant_user=subject, grant=grant)

    @app.post("/token")
    def token():
        return server.create_token_response()

    @app.post("/device")
    def device():
        return server.create_endpoint_response("device_authorization")

    @app.route("/device/verify", methods=["GET", "POST"])
    def device_verify():
        intro = "A device asks to act for you. Enter the code it shows, then sign in."
        user_code = request.values.get("user_code", "")
        if request.method == "GET":
            return page("Approve a device", login_form(intro, user_code=user_code, button="Approve"))
        username, password = request.form.get("username", ""), request.form.get("password", "")
        if not check_password(username, password):
            return page("Approve a device", login_form(intro, "Unknown user or wrong password.", user_code, "Approve"))
        try:
            cred = p.approve_device(user_code, username)
        except ValueError as e:
            return page("Approve a device", login_form(intro, str(e), user_code, "Approve"))
        return page("Device approved", f"<p id=\"approved\">Signed in as {html.escape(username)}; "
                    f"{html.escape(cred['client_id'])} may now continue. You can close this page.</p>")

    @app.route("/userinfo", methods=["GET", "POST"])
    def userinfo():
        return server.create_endpoint_response("userinfo")

    @app.route("/logout", methods=["GET", "POST"])
    def logout():
        try:
            req = server.validate_endpoint_request("end_session")
        except OAuth2Error as error:
            return page("Sign-out refused", f"<p id=\"error\">{html.escape(error.description or error.error)}</p>", 400)
        return server.create_endpoint_response("end_session", req) or page(
            "Signed out", '<p id="signed-out">You are signed out.</p>')

    # --- /test/*: for `Scripts/idp token|approve|rotate` only ---
    @app.before_request
    def loopback_only_for_tests():
        if request.path.startswith("/test/") and not is_loopback_address(request.remote_addr or ""):
            return jsonify(error="forbidden", error_description="test endpoints answer loopback only"), 403

    def fail(message):
        return jsonify(error="invalid_request", error_description=message), 400

    @app.post("/test/mint")
    def mint():
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return fail("send a JSON object")
        return mint_token(p, body, fail)

    @app.post("/test/approve-device")
    def approve_device():
        body = request.get_json(silent=True) or {}
        username, user_code = body.get("user"), body.get("user_code")
        if username not in USERS:
            return fail(f"unknown user {username!r}; known: {', '.join(USERS)}")
        if not user_code:
            pending = p.pending_user_codes()
            if len(pending) != 1:
                return fail(f"{len(pending)} device authorizations are pending"
                            + (f" ({', '.join(pending)}): give --user-code" if pending else ""))
            user_code = pending[0]
        try:
            cred = p.approve_device(user_code, username)
        except ValueError as e:
            return fail(str(e))
        return jsonify(user_code=cred["user_code"], user=username, client_id=cred["client_id"],
                       scope=cred.get("scope"), audience=cred.get("audience"))

    @app.post("/test/clients")
    def add_clients():
        """Registers more clients (a JSON list, as in the clients file) in a running provider: a test
        run shares one provider started by Scripts/test (TRUSTMESH_TEST_IDP), each network its own clients."""
        body = request.get_json(silent=True)
        if not isinstance(body, list):
            return fail("send a JSON list of clients")
        try:
            added = [Client(d) for d in body]
        except (ValueError, TypeError, KeyError) as e:
            return fail(f"bad client: {e}")
        with p.lock:
            for c in added:
                p.clients[c.client_id] = c
            # The scopes the server accepts grow with its clients' (the same list authlib checks).
            supported = app.config["OAUTH2_SCOPES_SUPPORTED"]
            for scope in sorted({s for c in added for s in scope_to_list(c.scope)} - set(supported)):
                supported.append(scope)
            server.scopes_supported = supported
        return jsonify(added=[c.client_id for c in added])

    @app.post("/test/rotate")
    def rotate():
        with p.lock:
            p.rotated = True
        return jsonify(signing_kid=p.signing_key.kid, jwks_kids=[k.kid for k in p.published_keys()])

    return app


def mint_token(p, body, fail):
    """POST /test/mint: an access token (or, with "id_token": true, an ID token) without a browser."""
    user = body.get("user")
    id_token = bool(body.get("id_token"))
    client_id = body.get("client_id") or "trustmesh-cli"
    if not isinstance(user, str):
        return fail("'user' is required")
    system = user.startswith("system:")
    if system and (id_token or user[len("system:"):] not in p.clients):
        return fail(f"{user}: a system token needs a registered client and no --id-token")
    if not system and user not in USERS:
        return fail(f"unknown user {user!r}; known: {', '.join(USERS)} or system:CLIENT_ID")
    expires_in = body.get("expires_in")
    if id_token:
        claims = p.base_claims(client_id, expires_in)
        claims.update(person_claims(user), auth_time=claims["iat"], azp=client_id)
        if body.get("nonce") is not None:
            claims["nonce"] = body["nonce"]
        header = {"typ": "JWT"}
    else:
        if not body.get("audience"):
            return fail("'audience' is required for an access token")
        scope = body.get("scope") or (p.clients[user[7:]].get_allowed_scope(None) if system else DEFAULT_MINT_SCOPE)
        claims = p.access_claims(client_id, user, body["audience"], scope, expires_in)
        header = {"typ": "at+jwt"}
    for target, overrides in ((claims, body.get("claims") or {}), (header, body.get("header") or {})):
        for k, v in overrides.items():
            if v is None:
                target.pop(k, None)
            else:
                target[k] = v
    sign = body.get("sign") or "current"
    keys = {"k1": p.k1, "k2": p.k2, "current": p.signing_key,
            "foreign": RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256"})}
    try:
        if sign in keys:
            key = keys[sign]
            full = {"alg": key.alg, "kid": key.kid, **header}
            token = jwt.encode(full, claims, key, algorithms=[full["alg"]], default_type=None)
        elif sign in ("none", "hs256-public"):
            full = {"alg": "none" if sign == "none" else "HS256", "kid": "k1", **header}
            if sign == "none":
                full.pop("kid")
            b64 = lambda d: urlsafe_b64encode(json.dumps(d, separators=(",", ":")).encode()).decode()
            signing_input = b64(full) + "." + b64(claims)
            signature = b""
            if sign == "hs256-public":
                # joserfc rightly refuses a public key as an HMAC secret, so this attack token is
                # MACed with the standard library: the secret is k1's public key PEM, byte for byte.
                signature = hmac.new(p.k1.as_pem(private=False), signing_input.encode(), hashlib.sha256).digest()
            token = signing_input + "." + urlsafe_b64encode(signature).decode()
        else:
            return fail(f"unknown sign mode {sign!r}: k1, k2, current, none, hs256-public or foreign")
    except (JoseError, ValueError, TypeError) as e:
        return fail(f"cannot sign: {e}")
    return jsonify(token=token, header=full, claims=claims)
