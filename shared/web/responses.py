"""HTTP answers: JSON bodies and the bearer challenges MCP clients follow to sign in.

401 means the credentials are wrong, 403 that they are right but not enough, 503 that they
cannot be checked right now. Error descriptions are our own words: a token, a secret or a
signature never reaches a response.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func

from shared.settings import Settings
from shared.telemetry import auth as telemetry

PRM_PATH = "/.well-known/oauth-protected-resource"
# Resources with their own, path-suffixed metadata document; every other route points at the root one.
MCP_PATHS = ("/mcp", "/echo")
DEVELOPMENT_HEADER = "X-Auth-Mode"
NO_STORE = {"Cache-Control": "no-store"}
# Public discovery and the facade's endpoints, for browser-based clients (the Inspector, web apps) that call
# them from script: no cookies are involved, so any origin may read them.
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Authorization, MCP-Protocol-Version",
    "Access-Control-Max-Age": "600",
}


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None, *, cache: str | None = None
) -> func.HttpResponse:
    merged = {"Cache-Control": cache} if cache else dict(NO_STORE)
    merged.update(headers or {})
    return func.HttpResponse(
        json.dumps(body, separators=(",", ":")), status_code=status, mimetype="application/json", headers=merged
    )


def error_response(
    status: int, error: str, description: str, headers: Mapping[str, str] | None = None
) -> func.HttpResponse:
    return json_response({"error": error, "error_description": description}, status, headers)


def base_url(req: func.HttpRequest) -> str:
    parts = urlsplit(req.url)
    return f"{parts.scheme}://{parts.netloc}"


def metadata_url(req: func.HttpRequest) -> str:
    """The RFC 9728 metadata URL of the resource this request is addressed to."""
    path = urlsplit(req.url).path.rstrip("/")
    return f"{base_url(req)}{PRM_PATH}{path if path in MCP_PATHS else ''}"


def bearer_challenge(params: Iterable[tuple[str, str]]) -> str:
    """A `WWW-Authenticate: Bearer` value, every parameter a quoted string (RFC 6750, section 3)."""

    # Values are our own (URLs, scope names, fixed descriptions); quotes and backslashes are escaped anyway.
    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return "Bearer " + ", ".join(f"{name}={quoted(value)}" for name, value in params)


def unauthorized(req: func.HttpRequest, settings: Settings, description: str | None) -> func.HttpResponse:
    """No token (description None) or a bad one."""
    params = [("resource_metadata", metadata_url(req)), ("scope", " ".join(settings.qualified_scopes))]
    if description is not None:
        params[:0] = [("error", "invalid_token"), ("error_description", description)]
    header = {"WWW-Authenticate": bearer_challenge(params)}
    return error_response(401, "invalid_token" if description else "unauthorized", description or _NO_TOKEN, header)


def forbidden(
    req: func.HttpRequest,
    settings: Settings,
    description: str,
    *,
    app: bool = False,
    scopes: Sequence[str] | None = None,
) -> func.HttpResponse:
    """403 `insufficient_scope`, naming every scope the operation needs (`scopes`, fully qualified; by default
    the server-wide ones)."""
    # An app asks for `<resource>/.default` and gets the roles assigned to it; a user asks for the scopes.
    if app:
        scopes = (f"{settings.identifier_uri}/.default",)
    elif scopes is None:
        scopes = settings.qualified_scopes
    params = [
        ("error", "insufficient_scope"),
        ("error_description", description),
        ("scope", " ".join(scopes)),
        ("resource_metadata", metadata_url(req)),
    ]
    return error_response(403, "insufficient_scope", description, {"WWW-Authenticate": bearer_challenge(params)})


def unavailable(
    description: str, retry_after: int, error: str = "temporarily_unavailable", *, reason: str = "unavailable"
) -> func.HttpResponse:
    telemetry.unavailable(reason)
    return error_response(503, error, description, {"Retry-After": str(retry_after)})


def misconfigured(problems: Sequence[str]) -> func.HttpResponse:
    telemetry.unavailable("misconfigured")
    description = "The server is misconfigured: " + "; ".join(problems)
    return error_response(503, "server_misconfigured", description, {"Retry-After": "300"})


def method_not_allowed(allow: str) -> func.HttpResponse:
    return error_response(405, "method_not_allowed", f"Use {allow}.", {"Allow": allow})


_NO_TOKEN = "Send an Entra ID access token as `Authorization: Bearer <token>`."  # noqa: S105 - advice, not a secret
