"""A loopback HTTPS stand-in for Microsoft Entra ID and Microsoft Graph, for the on-behalf-of tests.

azure-identity refuses an authority that is not https, and the app reads discovery documents and
keys from the same AZURE_AUTHORITY it exchanges tokens with, so one HTTPS server plays all of it:
- discovery (v2 and v1) and signing keys, for the app's own validation of the caller's token;
- the v2 token endpoint: the on-behalf-of grant (and refresh tokens), answering what Entra answers,
  with an ID token and `client_info` so MSAL records the account and serves later calls from its cache;
- Graph's `GET /v1.0/me`, which accepts only the tokens this token endpoint issued.

A throwaway CA made here signs its certificate; tests trust it through REQUESTS_CA_BUNDLE.
Every request is recorded; failures can be queued for the next token or Graph request.
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

from devhost.authority import SigningKey, mint_token
from devhost.tls import TlsFiles, load_or_create

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access"})


def make_tls(directory: Path) -> TlsFiles:
    """A CA, and a server certificate it signed for 127.0.0.1 and localhost: devhost's own (devhost/tls.py)."""
    return load_or_create(directory)


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]


def entra_error(status: int, error: str, codes: tuple[int, ...], description: str, **extra: Any) -> Reply:
    """An error answer shaped like Entra's token endpoint's."""
    text = " ".join(f"AADSTS{c}:" for c in codes[:1]) + f" {description}\r\nTrace ID: t\r\nCorrelation ID: c"
    body = {
        "error": error,
        "error_description": text.strip(),
        "error_codes": list(codes),
        "timestamp": "2026-01-01 00:00:00Z",
        "trace_id": "00000000-0000-0000-0000-00000000aaaa",
        "correlation_id": "00000000-0000-0000-0000-00000000bbbb",
        **extra,
    }
    return Reply(status, body)


class FakeEntraGraph:
    def __init__(self, tls: TlsFiles, key: SigningKey) -> None:
        self.key = key
        self.seen: list[Seen] = []
        self.token_replies: list[Reply] = []
        self.graph_replies: list[Reply] = []
        # Access and refresh tokens issued, with the claims of the user they were issued for.
        self.issued: dict[str, dict[str, Any]] = {}
        self._refresh: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.cert, tls.key)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                fake._serve(self, "GET")

            def do_POST(self) -> None:
                fake._serve(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def finish_request(self, request: Any, client_address: Any) -> None:
                # The handshake runs in the request's own thread, not the accepting one.
                try:
                    request = context.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError):
                    return
                super().finish_request(request, client_address)

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread: threading.Thread | None = None

    # Lifecycle and views

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"https://{host}:{port}"

    def authority(self, tenant: str) -> str:
        return f"{self.url}/{tenant}"

    def start(self) -> FakeEntraGraph:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-entra-graph", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def mint(self, tenant: str, audience: str, **options: Any) -> str:
        return mint_token(self.url, tenant, audience, key=self.key, **options)

    @property
    def token_requests(self) -> list[dict[str, str]]:
        return [s.form for s in self.seen if s.method == "POST" and s.path.endswith("/oauth2/v2.0/token")]

    @property
    def graph_requests(self) -> list[dict[str, str]]:
        return [s.headers for s in self.seen if s.path.startswith("/v1.0/")]

    # Serving

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        path = urlsplit(handler.path).path
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()} if method == "POST" else {}
        with self._lock:
            self.seen.append(Seen(method, path, dict(handler.headers.items()), form))
        if method == "POST" and path.endswith("/oauth2/v2.0/token"):
            reply = self._token(form)
        elif method == "GET" and path.startswith("/v1.0/me"):
            reply = self._graph_me(handler.headers.get("Authorization", ""))
        elif method == "GET":
            reply = self._documents(path)
        else:
            reply = Reply(405, {"error": "method_not_allowed"})
        body = json.dumps(reply.body).encode() if reply.body is not None else b""
        handler.send_response(reply.status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    def _documents(self, path: str) -> Reply:
        parts = path.strip("/").split("/")
        tenant, rest = parts[0], "/".join(parts[1:])
        base = f"{self.url}/{tenant}"
        if rest in ("v2.0/.well-known/openid-configuration", ".well-known/openid-configuration"):
            v2 = rest.startswith("v2.0")
            return Reply(
                200,
                {
                    "issuer": f"{base}/v2.0" if v2 else f"https://sts.windows.net/{tenant}/",
                    "jwks_uri": f"{base}/discovery/v2.0/keys" if v2 else f"{base}/discovery/keys",
                    "authorization_endpoint": f"{base}/oauth2/{'v2.0/' if v2 else ''}authorize",
                    "token_endpoint": f"{base}/oauth2/{'v2.0/' if v2 else ''}token",
                    "response_types_supported": ["code"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                },
            )
        if rest in ("discovery/v2.0/keys", "discovery/keys"):
            issuer = f"{base}/v2.0" if rest == "discovery/v2.0/keys" else None
            return Reply(200, {"keys": [self.key.jwk(issuer)]})
        return Reply(404, {"error": "not_found"})

    def _token(self, form: dict[str, str]) -> Reply:
        with self._lock:
            queued = self.token_replies.pop(0) if self.token_replies else None
        if queued is not None:
            return queued
        if form.get("grant_type") == JWT_BEARER and form.get("requested_token_use") == "on_behalf_of":
            try:
                user = jwt.decode(form.get("assertion", ""), options={"verify_signature": False})
            except jwt.PyJWTError:
                return entra_error(400, "invalid_grant", (50013,), "Assertion failed signature validation.")
        elif form.get("grant_type") == "refresh_token" and form.get("refresh_token") in self._refresh:
            user = self._refresh[form["refresh_token"]]
        else:
            return entra_error(400, "invalid_grant", (9002313,), "Invalid request.")
        scopes = [s for s in form.get("scope", "").split() if s not in RESERVED_SCOPES]
        access, refresh = f"obo-access-{secrets.token_hex(8)}", f"obo-refresh-{secrets.token_hex(8)}"
        with self._lock:
            self.issued[access] = user
            self._refresh[refresh] = user
        tenant, oid = user.get("tid", ""), user.get("oid", "")
        id_token = jwt.encode(
            {
                "aud": form.get("client_id"),
                "iss": f"{self.url}/{tenant}/v2.0",
                "tid": tenant,
                "oid": oid,
                "sub": user.get("sub", ""),
                "name": user.get("name"),
                "preferred_username": user.get("preferred_username") or user.get("upn"),
                "iat": user.get("iat"),
                "exp": user.get("exp"),
                "ver": "2.0",
            },
            self.key.private_key,
            algorithm="RS256",
        )
        client_info = base64.urlsafe_b64encode(json.dumps({"uid": oid, "utid": tenant}).encode()).rstrip(b"=")
        return Reply(
            200,
            {
                "token_type": "Bearer",
                "scope": " ".join([*scopes, "openid", "profile", "email"]),
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": access,
                "refresh_token": refresh,
                "id_token": id_token,
                "client_info": client_info.decode(),
            },
        )

    def _graph_me(self, authorization: str) -> Reply:
        with self._lock:
            queued = self.graph_replies.pop(0) if self.graph_replies else None
        if queued is not None:
            return queued
        scheme, _, token = authorization.partition(" ")
        user = self.issued.get(token) if scheme == "Bearer" else None
        if user is None:
            return Reply(
                401,
                {"error": {"code": "InvalidAuthenticationToken", "message": "Access token validation failure."}},
            )
        username = user.get("preferred_username") or user.get("upn")
        return Reply(
            200,
            {
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
                "id": user.get("oid"),
                "displayName": user.get("name"),
                "givenName": "Local",
                "surname": "User",
                "userPrincipalName": username,
                "mail": username,
                "jobTitle": "Engineer",
                "officeLocation": None,
                "mobilePhone": None,
                "businessPhones": [],
                "preferredLanguage": "en-US",
            },
        )
