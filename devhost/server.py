"""Serve a Functions app's HTTP functions on Starlette, the way `func start` does.

Routes and methods come from the functions the app registered, the route prefix from
`host.json`; sync functions run in a thread pool and async ones on the event loop. The app's
own objects are called: there is no second copy of the routes.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import azure.functions as func
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import URL
from starlette.requests import ClientDisconnect
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

# `{name}`, `{name?}`, `{name:constraint}`: Functions route parameters.
ROUTE_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(\?)?(?::[^}]*)?\}")


@dataclass(frozen=True)
class HttpFunction:
    name: str
    route: str
    methods: tuple[str, ...]
    handler: Callable[[func.HttpRequest], Any]


def route_prefix(host_json: Path) -> str:
    try:
        config = json.loads(host_json.read_text())
    except FileNotFoundError:
        return "api"
    prefix = config.get("extensions", {}).get("http", {}).get("routePrefix", "api")
    return str(prefix).strip("/")


@functools.cache
def http_functions(app: func.FunctionApp) -> tuple[HttpFunction, ...]:
    """The app's HTTP functions; cached, because `get_functions()` may be called once per app."""
    found = []
    for function in app.get_functions():
        trigger = next((b for b in function.get_bindings() if b.type == "httpTrigger"), None)
        if trigger is None:
            continue
        spec = trigger.get_dict_repr()
        methods = tuple(str(getattr(m, "value", m)).upper() for m in spec.get("methods") or ["GET", "POST"])
        route = spec.get("route") or function.get_function_name()
        found.append(HttpFunction(function.get_function_name(), route, methods, function.get_user_function()))
    return tuple(found)


def starlette_paths(prefix: str, route: str) -> list[str]:
    """A Functions route template as Starlette paths: an optional trailing parameter gives two."""
    base = "/" + "/".join(part for part in (prefix, route.strip("/")) if part)
    optional = ROUTE_PARAM.search(base)
    paths = [ROUTE_PARAM.sub(lambda m: "{" + m.group(1) + "}", base)]
    if optional and optional.group(2) and base.endswith(optional.group(0)):
        paths.append(base[: optional.start()].rstrip("/") or "/")
    return paths


class FunctionEndpoint:
    """One HTTP function as an ASGI app: a `func.HttpRequest` from the scope in, its `func.HttpResponse` sent.

    A plain ASGI app rather than a Starlette endpoint: a Starlette `Request` and `Response` per call
    were much of what devhost added to each request, only to be copied into and out of the
    Functions types. What a function sees and what the client gets are those of the Starlette
    conversion it replaces (tests/test_devhost_adapter.py): one value per header name (the first),
    one per query parameter (the last), and the response's headers with Content-Length set from
    the body and Content-Type from its MIME type unless it set its own.
    """

    def __init__(self, function: HttpFunction) -> None:
        self.function = function
        self._is_async = inspect.iscoroutinefunction(function.handler)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        req = to_functions_request(scope, await read_body(receive))
        if self._is_async:
            result = await self.function.handler(req)
        else:
            result = await run_in_threadpool(self.function.handler, req)
        await send({"type": "http.response.start", "status": result.status_code, "headers": response_headers(result)})
        await send({"type": "http.response.body", "body": result.get_body()})


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()


def to_functions_request(scope: Scope, body: bytes) -> func.HttpRequest:
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1")
        if key not in headers:
            headers[key] = value.decode("latin-1")
    query = scope.get("query_string", b"")
    server = scope.get("server")
    return func.HttpRequest(
        method=scope["method"],
        url=request_url(
            scope.get("scheme", "http"),
            None if server is None else tuple(server),
            scope["path"],
            query,
            headers.get("host"),
        ),
        headers=headers,
        params=dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True)) if query else {},
        route_params={k: str(v) for k, v in scope.get("path_params", {}).items()},
        body=body,
    )


@functools.lru_cache(maxsize=256)
def request_url(scheme: str, server: tuple[str, int] | None, path: str, query: bytes, host: str | None) -> str:
    """Starlette's URL of a request (the Host header when it is valid, else the server's address).

    Cached: building it costs about as much as the rest of a request's conversion, and a client
    keeps calling the same few URLs.
    """
    headers = [] if host is None else [(b"host", host.encode("latin-1"))]
    scope = {"scheme": scheme, "server": server, "path": path, "query_string": query, "headers": headers}
    return str(URL(scope=scope))


def response_headers(response: func.HttpResponse) -> list[tuple[bytes, bytes]]:
    """The headers to send: the function's, less its Content-Length (the body's is sent), plus the defaults."""
    # One value per name as the function spelled it (the last), as a dict of them keeps.
    named: dict[str, str] = {}
    for name, value in response.headers.items():
        if name.lower() != "content-length":
            named[name] = value
    raw: list[tuple[bytes, bytes]] = []
    typed = False
    for name, value in named.items():
        key = name.lower()
        if key == "content-type":
            typed = True
        raw.append((key.encode("latin-1"), value.encode("latin-1")))
    status = response.status_code
    if not (status < 200 or status in (204, 304)):
        raw.append((b"content-length", str(len(response.get_body())).encode("latin-1")))
    mimetype = response.mimetype
    if mimetype is not None and not typed:
        # The charset Starlette's Response adds to text types, whatever the function's was.
        if mimetype.startswith("text/") and "charset=" not in mimetype.lower():
            mimetype += "; charset=utf-8"
        raw.append((b"content-type", mimetype.encode("latin-1")))
    return raw


def build_app(app: func.FunctionApp, host_json: Path) -> tuple[Starlette, list[tuple[str, HttpFunction]]]:
    prefix = route_prefix(host_json)
    table = [(path, fn) for fn in http_functions(app) for path in starlette_paths(prefix, fn.route)]
    routes = [
        Route(path, FunctionEndpoint(fn), methods=list(fn.methods), name=f"{fn.name}:{path}") for path, fn in table
    ]
    return Starlette(routes=routes), table


def load_local_settings(path: Path, environ: dict[str, str]) -> list[str]:
    """Copy `Values` of local.settings.json into `environ` where not already set; environment variables win."""
    try:
        values = json.loads(path.read_text()).get("Values", {})
    except FileNotFoundError:
        return []
    applied = []
    for name, value in values.items():
        if name not in environ:
            environ[name] = str(value)
            applied.append(name)
    return applied
