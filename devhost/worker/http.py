"""The host's side of an HTTP trigger, as an ASGI app: the request into an invocation, its answer into a response.

What the .NET host does (azure-functions-host, `GrpcMessageConversionExtensions.ToRpcHttp` and its HTTP
middleware; docs/devhost.md lists each behaviour with its source):
- the request: `url` is scheme://Host + path + raw query; header names lower-cased, a repeated header's
  values joined with ","; a repeated query key's values joined with ",", a key without a value
  dropped; route values of unmatched optional parameters left out; the caller's identities (ASP.NET
  Core's anonymous principal: one identity, no authentication type, no claims); the body as bytes
  (the worker declares RawHttpBodyBytes) and only when Content-Length is above 0 (a chunked body is
  not sent); a 100 MB body limit (413) and a 4 KB URL limit (414);
- the answer: RpcHttp's status, headers, cookies (as Set-Cookie) and body; a plain string return is
  JSON when it parses as JSON; no return value is a 204; a function that raised (the invocation's
  status Failure) is a 500 with an empty body, the exception going to the host's log.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from devhost.worker import protocol
from devhost.worker.host import WorkerHost
from devhost.worker.routes import HttpRoute, find_route

MAX_BODY_BYTES = 100 * 1024 * 1024
MAX_URL_BYTES = 4096


class FunctionsHttp:
    """ASGI app serving the worker's HTTP functions the way the Functions host does."""

    def __init__(self, host: WorkerHost, routes: list[HttpRoute], max_body: int = MAX_BODY_BYTES) -> None:
        self.host = host
        self.routes = routes
        self.max_body = max_body
        self.raw_bytes = host.capabilities.get("RawHttpBodyBytes", "").lower() == "true"
        # A client keeps calling the same few URLs: routing each (method, path) once is enough.
        self._found: dict[tuple[str, str], tuple[HttpRoute, dict[str, str]] | str | None] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        if len(raw_path) + len(query) + 1 > MAX_URL_BYTES:
            await respond(send, 414, [], b"")
            return
        key = (scope["method"], scope["path"])
        found = self._found.get(key, False)
        if found is False:
            if len(self._found) >= 1024:
                self._found.clear()
            found = self._found[key] = find_route(self.routes, *key)
        if found is None:
            await respond(send, 404, [], b"")
            return
        if isinstance(found, str):  # a HEAD to a route without GET: the host's 405 (ScriptRouteHandler)
            await respond(send, 405, [(b"allow", found.encode())], b"")
            return
        route, values = found
        headers = request_headers(scope["headers"])
        if int(headers.get("content-length", "0") or 0) > self.max_body:
            await respond(send, 413, [], b"")
            return
        body = await read_body(receive, self.max_body)
        if body is None:
            await respond(send, 413, [], b"")
            return
        http = to_rpc_http(scope, headers, dict(values), body, self.raw_bytes)
        inputs = [protocol.ParameterBinding(name=route.binding, data=protocol.TypedData(http=http))]
        answer = await self.host.invoke(route.function_id, inputs, headers.get("traceparent", ""))
        status, out_headers, out_body = from_invocation(answer, route.function_name)
        await respond(send, status, out_headers, out_body)


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None past `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def request_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]},{text}" if key in headers else text
    return headers


def request_query(query: bytes) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if value == "":
            continue
        values[key] = f"{values[key]},{value}" if key in values else value
    return values


def to_rpc_http(
    scope: Scope, headers: dict[str, str], route_values: dict[str, str], body: bytes, raw_bytes: bool
) -> protocol.RpcHttp:
    host = headers.get("host")
    if host is None:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    query = scope.get("query_string", b"")
    path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    url = f"{scope.get('scheme', 'http')}://{host}{path}{'?' + query.decode('latin-1') if query else ''}"
    http = protocol.RpcHttp(
        method=scope["method"],
        url=url,
        headers=headers,
        query=request_query(query) if query else {},
        params=route_values,
        identities=[ANONYMOUS],
    )
    if body and int(headers.get("content-length") or 0) > 0:
        # Without RawHttpBodyBytes the host sends text; the worker here always declares it.
        http.body = protocol.TypedData(bytes=body) if raw_bytes else protocol.TypedData(string=body.decode())
    return http


# What ASP.NET Core's HttpContext.User is when no authentication scheme succeeded (no function key, no
# Easy Auth): a principal with one empty ClaimsIdentity, whose claim types are .NET's defaults.
ANONYMOUS = protocol.RpcClaimsIdentity(
    name_claim_type=protocol.NullableString(value="http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"),
    role_claim_type=protocol.NullableString(value="http://schemas.microsoft.com/ws/2008/06/identity/claims/role"),
)


def from_invocation(answer: protocol.InvocationResponse, function: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    if answer.result.status != protocol.StatusResult.Success:
        error = answer.result.exception
        print(f"devhost: function {function} failed: {error.message}\n{error.stack_trace}", file=sys.stderr)
        return 500, [], b""
    value = answer.return_value
    kind = value.WhichOneof("data")
    if kind is None:
        return 204, [], b""
    if kind == "http":
        return from_rpc_http(value.http)
    text = value.string if kind == "string" else value.json if kind == "json" else None
    if text is None:
        body = value.bytes if kind == "bytes" else str(getattr(value, kind)).encode()
        return 200, [(b"content-type", b"application/octet-stream")], body
    return 200, [(b"content-type", _text_type(text))], text.encode()


def _text_type(text: str) -> bytes:
    try:
        json.loads(text)
    except ValueError:
        return b"text/plain; charset=utf-8"
    return b"application/json; charset=utf-8"


def from_rpc_http(http: protocol.RpcHttp) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    status = int(http.status_code or 200)
    # The host sets the length (and framing) of what it sends itself.
    headers = [
        (k.lower().encode("latin-1"), v.encode("latin-1"))
        for k, v in http.headers.items()
        if k.lower() not in ("content-length", "transfer-encoding")
    ]
    headers += [(b"set-cookie", set_cookie(c).encode("latin-1")) for c in http.cookies]
    kind = http.body.WhichOneof("data")
    body: bytes = b""
    if kind == "bytes":
        body = http.body.bytes
    elif kind in ("string", "json"):
        body = getattr(http.body, kind).encode()
    return status, headers, body


COOKIE_ATTRIBUTES: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("domain", "Domain", str),
    ("path", "Path", str),
    ("max_age", "Max-Age", lambda v: str(int(v))),
)


def set_cookie(cookie: protocol.RpcHttpCookie) -> str:
    import datetime as dt

    parts = [f"{cookie.name}={cookie.value}"]
    for field, label, show in COOKIE_ATTRIBUTES:
        nullable = getattr(cookie, field)
        # The worker sends "" for an attribute the cookie did not set (SimpleCookie's default).
        if nullable.HasField("value") and nullable.value != "":
            parts.append(f"{label}={show(nullable.value)}")
    if cookie.expires.HasField("value"):
        when = dt.datetime.fromtimestamp(cookie.expires.value.seconds, dt.UTC)
        parts.append(f"Expires={when:%a, %d %b %Y %H:%M:%S} GMT")
    if cookie.secure.value:
        parts.append("Secure")
    if cookie.http_only.value:
        parts.append("HttpOnly")
    same_site = {1: "Lax", 2: "Strict", 3: "None"}.get(cookie.same_site)
    if same_site:
        parts.append(f"SameSite={same_site}")
    return "; ".join(parts)


async def respond(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    if not (status < 200 or status in (204, 304)):
        headers = [*headers, (b"content-length", str(len(body)).encode())]
    else:
        body = b""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
