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

import azure.functions as func
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

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


async def to_functions_request(request: Request) -> func.HttpRequest:
    return func.HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=dict(request.headers),
        params=dict(request.query_params),
        route_params={k: str(v) for k, v in request.path_params.items()},
        body=await request.body(),
    )


def to_starlette_response(response: func.HttpResponse) -> Response:
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(
        response.get_body(), status_code=response.status_code, headers=headers, media_type=response.mimetype
    )


def endpoint(function: HttpFunction) -> Callable[[Request], Any]:
    is_async = inspect.iscoroutinefunction(function.handler)

    async def call(request: Request) -> Response:
        req = await to_functions_request(request)
        if is_async:
            result = await function.handler(req)
        else:
            result = await run_in_threadpool(function.handler, req)
        return to_starlette_response(result)

    return call


def build_app(app: func.FunctionApp, host_json: Path) -> tuple[Starlette, list[tuple[str, HttpFunction]]]:
    prefix = route_prefix(host_json)
    table = [(path, fn) for fn in http_functions(app) for path in starlette_paths(prefix, fn.route)]
    routes = [Route(path, endpoint(fn), methods=list(fn.methods), name=f"{fn.name}:{path}") for path, fn in table]
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
