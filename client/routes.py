"""Plain HTTP beside the MCP endpoint: GET /health, GET /me, and the protected-resource metadata."""

from __future__ import annotations

import sys
from typing import Any

import httpx2

from client.config import Target
from client.errors import EXIT_FAILURE, Failure, from_response, from_transport_error

TIMEOUT = httpx2.Timeout(30.0)
AUTH_MODE_HEADER = "x-auth-mode"
_warned = False


def warn_if_auth_off(headers: httpx2.Headers) -> None:
    """Say once, on stderr, that the server runs without authentication (it marks every answer)."""
    global _warned
    if not _warned and AUTH_MODE_HEADER in headers:
        _warned = True
        print(f"warning: authentication is OFF on this server ({headers[AUTH_MODE_HEADER]})", file=sys.stderr)


def get_json(url: str, token: str | None = None) -> Any:
    """GET a JSON document; any failure becomes a `Failure` that explains it."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with httpx2.Client(timeout=TIMEOUT) as client:
            response = client.get(url, headers=headers)
    except httpx2.HTTPError as exc:
        raise from_transport_error(exc, url) from None
    warn_if_auth_off(response.headers)
    failure = from_response(response.status_code, response.headers, response.content, url, token)
    if failure is not None:
        raise failure
    try:
        return response.json()
    except ValueError:
        raise Failure(f"{url} did not answer with JSON (HTTP {response.status_code})", EXIT_FAILURE) from None


def discover_scopes(target: Target) -> list[str]:
    """`scopes_supported` of the server's RFC 9728 metadata: the fully qualified scopes it accepts."""
    url = target.metadata_url
    try:
        document = get_json(url)
    except Failure as failure:
        raise Failure(
            f"cannot discover the scope to request from {url} ({failure.message}); pass --scope or --api-client-id",
            failure.exit_code,
        ) from None
    scopes = document.get("scopes_supported") if isinstance(document, dict) else None
    return [s for s in scopes if isinstance(s, str)] if isinstance(scopes, list) else []
