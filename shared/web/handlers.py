"""What each route does, called by the thin functions of `function_app.py`."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import azure.functions as func

from shared import __version__
from shared.runtime import Runtime, current
from shared.telemetry.trace_context import request_span
from shared.web import responses
from shared.web.bearer import authenticate, bearer_token
from shared.web.metadata import protected_resource_metadata
from shared.web.step_up import step_up

MCP_METHODS = ("POST",)


Handler = TypeVar("Handler", bound=Callable[[func.HttpRequest], Any])


def _mark(response: func.HttpResponse) -> func.HttpResponse:
    if not current().settings.auth_enabled:
        response.headers[responses.DEVELOPMENT_HEADER] = "off: every caller is the local developer"
    return response


def _says_when_auth_is_off(handler: Handler) -> Handler:
    """Every response says when authentication is off, so nobody mistakes it for a secured server."""
    if inspect.iscoroutinefunction(handler):

        @functools.wraps(handler)
        async def marked_async(req: func.HttpRequest) -> func.HttpResponse:
            return _mark(await handler(req))

        return marked_async  # type: ignore[return-value]

    @functools.wraps(handler)
    def marked(req: func.HttpRequest) -> func.HttpResponse:
        return _mark(handler(req))

    return marked  # type: ignore[return-value]


@_says_when_auth_is_off
def health(req: func.HttpRequest) -> func.HttpResponse:
    runtime = current()
    settings, problems = runtime.settings, runtime.problems
    body = {
        "status": "misconfigured" if problems else "ok",
        "version": __version__,
        "auth": "misconfigured" if problems else settings.mode,
        "environment": settings.environment,
        "problems": list(problems),
    }
    return responses.json_response(body)


@_says_when_auth_is_off
async def me(req: func.HttpRequest) -> func.HttpResponse:
    runtime = current()
    caller = await authenticate(req, runtime)
    if isinstance(caller, func.HttpResponse):
        return caller
    if req.params.get("graph") == "true":
        # Imported here: Graph (requests, azure-identity) stays off the cold path of every other route.
        from shared.web.graph_route import me_with_graph

        return await me_with_graph(req, runtime.settings, caller)
    return responses.json_response(caller.to_dict())


@_says_when_auth_is_off
async def mcp(req: func.HttpRequest) -> func.HttpResponse:
    runtime = current()
    if req.method not in MCP_METHODS:
        # Stateless and buffered: there is no SSE stream to GET and no session to DELETE.
        return responses.method_not_allowed(", ".join(MCP_METHODS))
    with request_span(req.method, urlsplit(req.url).path, req.headers) as span:
        response = await _mcp_answer(req, runtime)
        span.answered(response.status_code)
        return response


async def _mcp_answer(req: func.HttpRequest, runtime: Runtime) -> func.HttpResponse:
    caller = await authenticate(req, runtime)
    if isinstance(caller, func.HttpResponse):
        return caller
    policy = runtime.policy
    if policy.problems:
        return responses.misconfigured(policy.problems)
    if (refused := step_up(req, runtime.settings, policy, caller)) is not None:
        return refused
    return await runtime.bridge.handle(req, caller, bearer_token(req) or None)


@_says_when_auth_is_off
def protected_resource(req: func.HttpRequest) -> func.HttpResponse:
    """RFC 9728 metadata, readable from any origin: a browser-based client discovers sign-in from script
    (and its `MCP-Protocol-Version` header makes the browser ask first, with OPTIONS)."""
    if req.method == "OPTIONS":
        return func.HttpResponse(status_code=204, headers=responses.CORS)
    response = _protected_resource(req)
    response.headers.update(responses.CORS)
    return response


def _protected_resource(req: func.HttpRequest) -> func.HttpResponse:
    settings = current().settings
    suffix = req.route_params.get("resource") or ""
    if f"/{suffix}" not in (*responses.MCP_PATHS, "/"):
        return responses.error_response(404, "not_found", "No protected resource has that name.")
    if settings.problems:
        return responses.misconfigured(settings.problems)
    if not settings.auth_enabled:
        return responses.error_response(404, "not_found", "Authentication is off.")
    resource = responses.base_url(req) + (f"/{suffix}" if suffix else "")
    # Every scope any tool needs is listed, so clients can ask for it up front.
    from shared.mcp.permissions import advertised_scopes

    scopes = (*settings.qualified_scopes, *(f"{settings.identifier_uri}/{s}" for s in advertised_scopes(settings)))
    document = protected_resource_metadata(settings, resource, scopes, issuer=responses.base_url(req))
    return responses.json_response(document, cache="public, max-age=3600")


@_says_when_auth_is_off
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    from shared.web.openapi import openapi_document

    settings = current().settings
    document = openapi_document(
        base_url=responses.base_url(req),
        version=__version__,
        authority=settings.authority,
        scopes=settings.qualified_scopes,
    )
    return responses.json_response(document, cache="no-cache")


@_says_when_auth_is_off
def docs(req: func.HttpRequest) -> func.HttpResponse:
    from shared.web import docs_page

    settings = current().settings
    name = req.route_params.get("name")
    headers = {
        "Content-Security-Policy": docs_page.docs_csp(settings.authority),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-cache" if name is None else "public, max-age=86400",
    }
    if name is None:
        page = docs_page.docs_page(client_id=settings.client_id)
        return func.HttpResponse(page, headers=headers, mimetype="text/html", charset="utf-8")
    asset = docs_page.docs_asset(name)
    if asset is None:
        return responses.error_response(404, "not_found", "No such file.")
    body, content_type = asset
    headers["Content-Type"] = content_type
    return func.HttpResponse(body, headers=headers, mimetype=content_type.split(";")[0])
