"""The local authority's HTTP glue for sign-in: parameters parsed strictly, CORS, and answers sent.

The protocol lives in devhost/signin.py and devhost/token_endpoint.py; this turns their `Answer`s into
HTTP and requests into their inputs, refusing what Entra refuses before they see it (a repeated
parameter, a body that is not a form, an unknown tenant).
"""

from __future__ import annotations

import contextlib
import json
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qsl, urlsplit

from devhost.oauth_errors import OAuthError, duplicated, malformed
from devhost.signin import Answer

if TYPE_CHECKING:
    from devhost.signin import SignIn
    from devhost.token_endpoint import TokenEndpoint

MAX_FORM_BYTES = 64 * 1024
JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store", "Pragma": "no-cache"}


def serve_sign_in(
    signin: SignIn,
    token_endpoint: TokenEndpoint,
    handler: BaseHTTPRequestHandler,
    tenant: str,
    endpoint: str,
    origin: str,
) -> None:
    """`{origin}/{tenant}/oauth2/v2.0/{endpoint}`: parse, hand to the sign-in or token code, send its answer."""
    directory = signin.directory
    action = f"{origin}/{tenant}/oauth2/v2.0/authorize"
    try:
        if tenant not in (directory.tenant, "organizations", "common"):
            raise OAuthError(
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing "
                "into the correct cloud.",
            )
        form = _form(handler) if handler.command == "POST" else {}
        query = _params(urlsplit(handler.path).query)
    except OAuthError as refused:
        if endpoint == "token":
            answer = Answer(refused.status, dict(JSON_HEADERS), json.dumps(refused.body()).encode())
        else:
            answer = signin.error_page(refused)
        send(handler, answer.status, answer.headers, answer.body)
        return
    except _TooLarge:
        handler.send_error(413)
        return
    if endpoint == "authorize" and handler.command == "GET":
        answer = signin.authorize(query, action)
    elif endpoint == "authorize" and handler.command == "POST":
        answer = signin.submit(form, action)
    elif endpoint == "token" and handler.command == "POST":
        answer = token_endpoint.answer(tenant, form, handler.headers.get("Authorization"))
        answer.headers.update(cors(handler, "loopback"))
    else:
        handler.send_error(405 if endpoint in ("authorize", "token") else 404)
        return
    send(handler, answer.status, answer.headers, answer.body)


class _TooLarge(Exception):
    pass


def cors(handler: BaseHTTPRequestHandler, allow: Literal["*", "loopback"]) -> dict[str, str]:
    """CORS headers: documents for any page; token answers only for pages served from loopback."""
    origin = handler.headers.get("Origin")
    if allow == "loopback":
        parts = urlsplit(origin or "")
        if parts.scheme != "http" or parts.hostname not in ("localhost", "127.0.0.1", "::1"):
            return {}
        return {"Access-Control-Allow-Origin": origin or "", "Vary": "Origin"}
    return {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type, Authorization, MCP-Protocol-Version",
    }


def _params(raw: str) -> dict[str, str]:
    """Query or form parameters; a repeated one is refused (RFC 6749 section 3.1)."""
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=False, max_num_fields=100)
    except ValueError:
        raise malformed("too many parameters.") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise duplicated(name)
        params[name] = value
    return params


def _form(handler: BaseHTTPRequestHandler) -> dict[str, str]:
    try:
        length = int(handler.headers.get("Content-Length") or 0)
    except ValueError:
        raise malformed("Content-Length is not a number.") from None
    if length > MAX_FORM_BYTES or length < 0:
        raise _TooLarge()
    kind = (handler.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    body = handler.rfile.read(length) if length else b""
    if kind != "application/x-www-form-urlencoded":
        raise malformed("the body must be application/x-www-form-urlencoded.")
    try:
        return _params(body.decode())
    except UnicodeDecodeError:
        raise malformed("the body is not UTF-8.") from None


def send(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    with contextlib.suppress(OSError):  # the client gave up (a timeout test)
        handler.wfile.write(body)
