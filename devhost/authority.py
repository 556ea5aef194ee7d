"""A loopback stand-in for Microsoft Entra ID: discovery documents, key sets, and token minting.

It serves the same shapes Entra serves (v2 and v1 OpenID configurations per tenant and for
`organizations`/`common`, key sets whose v2 keys carry an `issuer`), so the app validates its
tokens with exactly the code that validates Entra's. Tests can switch it down, slow or to
garbage, rotate its keys, and count what was fetched. It never ships to Azure.

Given a `Directory` (devhost gives it one) it also signs users in: the v2 authorize and token
endpoints (devhost/signin.py, devhost/token_endpoint.py), listed in its discovery documents and in
RFC 8414 metadata. Given TLS files it answers on an https alias too, for MSAL, which refuses http;
the alias's documents name its own endpoints but the same issuer, as Entra's host aliases do.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from devhost.authority_http import cors, send, serve_sign_in

if TYPE_CHECKING:
    from devhost.directory import Directory
    from devhost.signin import SignIn
    from devhost.tls import TlsFiles
    from devhost.token_endpoint import TokenEndpoint

Mode = Literal["up", "down", "slow", "garbage", "empty"]
TEMPLATE = "{tenantid}"
V1_ISSUER = "https://sts.windows.net/{tid}/"
OIDC_SCOPES = ["openid", "profile", "email", "offline_access"]
# The calling client application named in minted tokens (`azp`/`appid`).
LOCAL_CLIENT_APP_ID = "11111111-2222-3333-4444-555555555555"


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class SigningKey:
    def __init__(self, private_key: rsa.RSAPrivateKey, kid: str | None = None) -> None:
        self.private_key = private_key
        numbers = private_key.public_key().public_numbers()
        self.n, self.e = _b64(numbers.n), _b64(numbers.e)
        self.kid = kid or base64.urlsafe_b64encode(uuid.uuid5(uuid.NAMESPACE_URL, self.n).bytes).rstrip(b"=").decode()

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def load_or_create(cls, path: Path) -> SigningKey:
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
            return cls(key)
        made = cls.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = made.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.write_bytes(pem)
        path.chmod(0o600)
        return made

    def jwk(self, issuer: str | None) -> dict[str, Any]:
        entry: dict[str, Any] = {"kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid, "n": self.n, "e": self.e}
        if issuer is not None:
            entry["issuer"] = issuer
        return entry


class LocalAuthority:
    def __init__(
        self,
        key: SigningKey | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        directory: Directory | None = None,
        tls: TlsFiles | None = None,
        tls_port: int = 0,
    ) -> None:
        self.keys: list[SigningKey] = [key or SigningKey.generate()]
        self.mode: Mode = "up"
        self.delay = 0.0
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = self._listen(host, port, secure=False)
        self._servers = [self._server]
        self.tls_url: str | None = None
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls.cert, tls.key)
            try:
                secure = self._listen(host, tls_port, secure=True)
            except OSError:  # the usual port is taken (another devhost): any free one will do
                secure = self._listen(host, 0, secure=True)
            # The handshake runs in each request's thread, not in the accept loop a silent client would stall.
            secure.socket = context.wrap_socket(secure.socket, server_side=True, do_handshake_on_connect=False)
            self._servers.append(secure)
            tls_host, tls_bound = secure.server_address[:2]
            self.tls_url = f"https://{tls_host}:{tls_bound}"
        self.signin: SignIn | None = None
        self.token_endpoint: TokenEndpoint | None = None
        if directory is not None:
            from devhost.signin import SignIn
            from devhost.token_endpoint import TokenEndpoint

            self.signin = SignIn(directory, self.url, lambda: self.keys[0])
            self.signin.aliases = [self.tls_url] if self.tls_url else []
            self.token_endpoint = TokenEndpoint(self.signin)
        self._threads: list[threading.Thread] = []

    def _listen(self, host: str, port: int, *, secure: bool) -> ThreadingHTTPServer:
        authority = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                authority._serve(self, secure)

            def do_POST(self) -> None:
                authority._serve(self, secure)

            def do_OPTIONS(self) -> None:
                authority._serve(self, secure)

            def log_message(self, format: str, *args: Any) -> None:
                # Requests carry codes and tokens in their URLs and bodies: none of it is logged.
                pass

        server = ThreadingHTTPServer((host, port), Handler)
        server.daemon_threads = True
        return server

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def authority(self, tenant: str) -> str:
        return f"{self.url}/{tenant}"

    def issuer(self, tenant: str, version: str = "2.0") -> str:
        return f"{self.url}/{tenant}/v2.0" if version == "2.0" else V1_ISSUER.format(tid=tenant)

    def start(self) -> LocalAuthority:
        for server in self._servers:
            # A short poll interval keeps `stop()` quick (the default waits up to half a second).
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="local-authority", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> LocalAuthority:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def key_fetches(self) -> int:
        return sum(n for path, n in self.requests.items() if path.endswith("/keys"))

    def rotate(self, *, keep_old: bool = False) -> SigningKey:
        """Publish a new signing key; without `keep_old` the previous keys are withdrawn."""
        new = SigningKey.generate()
        with self._lock:
            self.keys = [new, *self.keys] if keep_old else [new]
        return new

    def mint(self, tenant: str, audience: str, **options: Any) -> str:
        """An access token from this authority; see `mint_token` for the options."""
        options.setdefault("key", self.keys[0])
        return mint_token(self.url, tenant, audience, **options)

    # Serving

    def _documents(self, path: str, origin: str) -> Any:
        parts = path.strip("/").split("/")
        if parts[:2] == [".well-known", "oauth-authorization-server"] and parts[3:] == ["v2.0"]:
            # RFC 8414: the well-known name goes before the issuer's path.
            parts = [parts[2], "v2.0", ".well-known", "oauth-authorization-server"]
        tenant, rest = parts[0], "/".join(parts[1:])
        issuer_tenant = TEMPLATE if tenant in ("organizations", "common") else tenant
        v2_issuer = f"{self.url}/{issuer_tenant}/v2.0"
        if rest == "v2.0/.well-known/openid-configuration" or (
            rest == "v2.0/.well-known/oauth-authorization-server" and self.signin is not None
        ):
            return self._configuration(tenant, v2_issuer, origin, v2=True)
        if rest == ".well-known/openid-configuration":
            return self._configuration(tenant, V1_ISSUER.format(tid=issuer_tenant), origin, v2=False)
        if rest in ("discovery/v2.0/keys", "discovery/keys"):
            with self._lock:
                keys = list(self.keys)
            if self.mode == "empty":
                return {"keys": []}
            issuer = v2_issuer if rest == "discovery/v2.0/keys" else None
            return {"keys": [k.jwk(issuer) for k in keys]}
        return None

    def _configuration(self, tenant: str, issuer: str, origin: str, *, v2: bool) -> dict[str, Any]:
        """What this authority serves, and only that: sign-in endpoints when it has a directory (v2 only)."""
        keys = f"{origin}/{tenant}/discovery/{'v2.0/' if v2 else ''}keys"
        document: dict[str, Any] = {
            "issuer": issuer,
            "jwks_uri": keys,
            "id_token_signing_alg_values_supported": ["RS256"],
            "subject_types_supported": ["pairwise"],
        }
        if v2 and self.signin is not None:
            document.update(
                authorization_endpoint=f"{origin}/{tenant}/oauth2/v2.0/authorize",
                token_endpoint=f"{origin}/{tenant}/oauth2/v2.0/token",
                response_types_supported=["code"],
                response_modes_supported=["query", "form_post"],
                grant_types_supported=["authorization_code", "refresh_token", "client_credentials"],
                scopes_supported=OIDC_SCOPES,
                token_endpoint_auth_methods_supported=["client_secret_post", "client_secret_basic", "private_key_jwt"],
                token_endpoint_auth_signing_alg_values_supported=["RS256", "PS256"],
                code_challenge_methods_supported=["S256"],
                claims_supported=["sub", "iss", "aud", "exp", "iat", "nbf", "oid", "tid", "name", "preferred_username"],
            )
        return document

    def _serve(self, handler: BaseHTTPRequestHandler, secure: bool) -> None:
        path = handler.path.split("?")[0]
        with self._lock:
            self.requests[path] += 1
        if self.mode == "slow" or self.delay:
            time.sleep(self.delay or 30)
        if self.mode == "down":
            handler.send_error(503, "authority down")
            return
        origin = (self.tls_url if secure else None) or self.url
        if handler.command == "OPTIONS":
            # A CORS preflight: browser-based clients (the MCP Inspector's page) read discovery and redeem
            # codes from another origin, as they may at Entra.
            send(handler, 204, {**cors(handler, "*"), "Access-Control-Max-Age": "600"}, b"")
            return
        parts = path.strip("/").split("/")
        if self.signin is not None and parts[1:3] == ["oauth2", "v2.0"] and len(parts) == 4:
            assert self.token_endpoint is not None
            serve_sign_in(self.signin, self.token_endpoint, handler, parts[0], parts[3], origin)
            return
        if handler.command != "GET":
            handler.send_error(405)
            return
        document = self._documents(path, origin)
        if document is None:
            handler.send_error(404)
            return
        body = b"<html>not json" if self.mode == "garbage" else json.dumps(document).encode()
        send(handler, 200, {"Content-Type": "application/json", **cors(handler, "*")}, body)


def mint_token(
    base_url: str,
    tenant: str,
    audience: str,
    *,
    key: SigningKey,
    version: str = "2.0",
    app: bool = False,
    scopes: tuple[str, ...] = ("user_impersonation",),
    roles: tuple[str, ...] = (),
    minutes: float = 60,
    claims: dict[str, Any] | None = None,
    headers: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
) -> str:
    """An access token shaped like Entra's, issued by the authority at `base_url`.

    `claims` and `headers` override what is minted, `drop` removes claims.
    """
    now = int(time.time())
    body: dict[str, Any] = {
        "aud": audience if version == "2.0" else f"api://{audience}",
        "iss": f"{base_url}/{tenant}/v2.0" if version == "2.0" else V1_ISSUER.format(tid=tenant),
        "iat": now,
        "nbf": now,
        "exp": now + int(minutes * 60),
        "tid": tenant,
        "oid": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{tenant}/{'app' if app else 'user'}")),
        "sub": "local-subject-" + ("app" if app else "user"),
        "ver": version,
        ("azp" if version == "2.0" else "appid"): LOCAL_CLIENT_APP_ID,
    }
    if app:
        body["idtyp"] = "app"
        body["roles"] = list(roles)
    else:
        body["scp"] = " ".join(scopes)
        body["name"] = "Local User"
        body["preferred_username" if version == "2.0" else "upn"] = "local.user@example.test"
        if roles:
            body["roles"] = list(roles)
    body.update(claims or {})
    for name in drop:
        body.pop(name, None)
    head = {"typ": "JWT", "kid": key.kid, **(headers or {})}
    return jwt.encode(body, key.private_key, algorithm="RS256", headers=head)
