"""What went wrong, said in one line the user can act on, and the exit code that goes with it.

The server answers 401 (no token, or a bad one), 403 (a good token without the scope or app
role), 503 (it cannot check tokens right now, or is misconfigured) with a JSON body
`{error, error_description}` and, for 401/403, a `WWW-Authenticate: Bearer ...` challenge.
Everything here turns those answers, and network failures, into a `Failure`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

# Exit codes. Scripts can tell "fix your sign-in" from "the server is not there" without parsing text.
EXIT_FAILURE = 1  # a tool error, or an answer we did not expect
EXIT_USAGE = 2  # bad command line (argparse uses 2 as well)
EXIT_AUTH = 3  # 401/403, or no token could be acquired
EXIT_UNAVAILABLE = 4  # the server is not reachable, or cannot serve (503)

AUTH_OPTIONS = "--auth client-secret|interactive|device-code|azure-cli|managed-identity|default, or --token TOKEN"
LOCAL_HINT = "against a local devhost, `python -m devhost token` prints one"
CHALLENGE_PARAM = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
# The server's 403 description ends with the names it requires: "... required app roles: MCP.Invoke."
REQUIRED_NAMES = re.compile(r"required (scopes|app roles): (.+?)\.?$")


class Failure(Exception):
    """A failure with a message for stderr (one line) and the process exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def parse_challenge(header: str) -> dict[str, str]:
    """The parameters of a `WWW-Authenticate: Bearer k="v", ...` header (quoted values unescaped)."""
    if not header.lower().startswith("bearer"):
        return {}
    return {name: re.sub(r"\\(.)", r"\1", value) for name, value in CHALLENGE_PARAM.findall(header)}


def error_description(body: bytes) -> str:
    """The server's `error_description`, or a short excerpt of a body that is not ours (a proxy's page)."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error_description"), str):
        return data["error_description"]
    text = body.decode("utf-8", "replace").strip()
    return text.splitlines()[0][:200] if text else ""


def is_jsonrpc(body: bytes) -> bool:
    """Whether an error body is a JSON-RPC message, which the MCP SDK reports better than we can."""
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and "jsonrpc" in data


def token_kind(token: str | None) -> str | None:
    """'app' or 'user' from the token's own claims (unverified: only to choose advice), None if unreadable."""
    if not token or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None
    if not isinstance(claims, dict):
        return None
    return "app" if claims.get("idtyp") == "app" or ("roles" in claims and "scp" not in claims) else "user"


def from_response(status: int, headers: Mapping[str, str], body: bytes, url: str, token: str | None) -> Failure | None:
    """The failure an HTTP answer means, or None for a success."""
    if status < 400:
        return None
    description = error_description(body)
    if status == 401:
        return _unauthorized(parse_challenge(headers.get("www-authenticate", "")), description, url, token)
    if status == 403:
        return _forbidden(parse_challenge(headers.get("www-authenticate", "")), description, token)
    if status == 503:
        return _unavailable(headers, body, description)
    return Failure(_status_message(status, url, description), EXIT_UNAVAILABLE if status >= 500 else EXIT_FAILURE)


def _unauthorized(challenge: Mapping[str, str], description: str, url: str, token: str | None) -> Failure:
    scope = challenge.get("scope")
    wanted = f" for scope {scope}" if scope else ""
    if token is None:
        lead = f"{url} needs an access token (401)"
    else:
        lead = f"the server refused the access token (401): {(description or 'invalid token').rstrip('.')}"
    return Failure(f"{lead}. Get a token{wanted} with {AUTH_OPTIONS} (env MCP_TOKEN); {LOCAL_HINT}", EXIT_AUTH)


def _forbidden(challenge: Mapping[str, str], description: str, token: str | None) -> Failure:
    description = description or challenge.get("error_description", "")
    match = REQUIRED_NAMES.search(description)
    app = token_kind(token) == "app" or (match is not None and match.group(1) == "app roles")
    if app:
        roles = match.group(2) if match and match.group(1) == "app roles" else "MCP.Invoke"
        advice = (
            f"give the calling app the API's app role {roles}: App registrations > the calling app > API "
            "permissions > Add a permission > My APIs > the API > Application permissions, then Grant admin "
            "consent (or `az ad app permission add --id <caller-app-id> --api <api-app-id> --api-permissions "
            "<role-id>=Role` and `az ad app permission admin-consent --id <caller-app-id>`), then get a new token"
        )
    else:
        scope = challenge.get("scope") or (match.group(2) if match else "the API's scope")
        name = scope.rsplit("/", 1)[-1]
        advice = (
            f"request scope {scope} and consent to it for the calling app: App registrations > the calling app > "
            "API permissions > Add a permission > My APIs > the API > Delegated permissions, then Grant admin "
            f"consent (or `az ad app permission grant --id <caller-app-id> --api <api-app-id> --scope {name}`); "
            "pre-authorized clients (VS Code) need no consent; then get a new token"
        )
    reason = description or "insufficient scope."
    return Failure(f"the token is valid but not allowed (403): {reason} To fix: {advice}", EXIT_AUTH)


def _unavailable(headers: Mapping[str, str], body: bytes, description: str) -> Failure:
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        error = None
    if error == "server_misconfigured":
        return Failure(
            f"the server is misconfigured (503): {description} Fix its app settings; GET /health lists the problems",
            EXIT_UNAVAILABLE,
        )
    retry = headers.get("retry-after")
    later = f" (retry after {retry} s)" if retry else ""
    if error == "temporarily_unavailable":  # the app's own answer when Entra's keys cannot be fetched
        return Failure(f"the server cannot check tokens right now (503): {description}{later}", EXIT_UNAVAILABLE)
    # Someone else's 503: the Functions host starting or stopped, a gateway.
    return Failure(f"the server is unavailable (503): {description or 'no details'}{later}", EXIT_UNAVAILABLE)


def _status_message(status: int, url: str, description: str) -> str:
    detail = f": {description}" if description else ""
    if status == 404:
        return f"nothing answers at {url} (404){detail}; is --url the MCP endpoint (it ends in /mcp)?"
    if status == 421:
        return f"the server refused the host name of {url} (421){detail}; add it to the server's ALLOWED_HOSTS"
    return f"the server answered HTTP {status} at {url}{detail}"


def from_transport_error(exc: Exception, url: str) -> Failure:
    """A failure to talk to the server at all: nothing listening, a timeout, DNS, TLS."""
    import httpx2

    if isinstance(exc, httpx2.ConnectError):
        return Failure(
            f"cannot connect to {url}: the server isn't running or isn't reachable ({exc}). "
            "Start it with `func start` or `python -m devhost`, or check --url",
            EXIT_UNAVAILABLE,
        )
    if isinstance(exc, httpx2.TimeoutException):
        return Failure(f"{url} did not answer in time ({type(exc).__name__})", EXIT_UNAVAILABLE)
    return Failure(f"cannot talk to {url}: {exc or type(exc).__name__}", EXIT_UNAVAILABLE)


def first_line(value: Any) -> str:
    """The first line of an exception message: azure-identity's run to many lines of troubleshooting links."""
    text = str(value).strip()
    return text.splitlines()[0] if text else type(value).__name__
