"""What a failed on-behalf-of exchange or Graph call means for the client: `GraphError`.

Each failure becomes an HTTP status a client can act on, an OAuth-style error code and a
description in our own words: a token, a secret or Entra's raw text never reaches a response,
and logs carry only status, error codes, trace and correlation IDs. The same error answers the
route (`shared.web.graph_route`) and the tool (`tool_message`).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from collections.abc import Iterator, Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from shared.auth.identity import Principal
from shared.graph.obo import ManagedIdentityUnavailable, authority_host
from shared.settings import Settings

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

DEFAULT_RETRY_AFTER = 10
MAX_RETRY_AFTER = 3600
# A claims challenge for a valid token of ours: 403, as Microsoft.Identity.Web answers when an
# on-behalf-of exchange needs user interaction. (Entra's own claims-challenge page describes 401
# for a resource's *own* challenge; a 401 would make an MCP client drop a valid token.)
CLAIMS_CHALLENGE_STATUS = 403

# AADSTS codes, https://login.microsoftonline.com/error?code=<n>
CONSENT_CODES = frozenset({65001, 65004})
INTERACTION_CODES = frozenset({50076, 50079, 50097, 50158, 53000, 53001, 53003})
EXPIRED_ASSERTION_CODES = frozenset({500133})
APP_CREDENTIAL_CODES = frozenset({7000215, 7000222, 700016, 700024, 70021, 700211, 700212, 700213, 7000112})
AADSTS = re.compile(r"AADSTS(\d+)")
MSAL_HTTP_ERROR = re.compile(r"HTTP Error: (\d{3})")
SAFE_CODE = re.compile(r"[A-Za-z0-9_.]{1,64}")
BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")


class GraphError(Exception):
    """A failure a client can act on: an HTTP status, an OAuth-style error code and our own words.

    The description never carries a token, a secret or Entra's raw text.
    """

    def __init__(
        self,
        status: int,
        error: str,
        description: str,
        *,
        retry_after: int | None = None,
        claims: str | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.retry_after = retry_after
        # Base64 of the claims JSON, as Entra's claims-challenge convention has it.
        self.claims = claims

    def tool_message(self) -> str:
        message = self.description
        if self.retry_after is not None:
            message += f" Retry after {self.retry_after} seconds."
        if self.claims is not None:
            message += f" Claims challenge (base64, pass it as `claims` when signing in again): {self.claims}"
        return message


def _json_body(response: Any) -> dict[str, Any]:
    if response is None:
        return {}
    try:
        text = response.text() if callable(getattr(response, "text", None)) else response.text
        body = json.loads(text)
    except Exception:
        return {}
    return body if isinstance(body, dict) else {}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """An exception and its causes (azure-identity and MSAL wrap what failed underneath)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        yield current
        seen.add(id(current))
        current = current.__cause__ or current.__context__


def _caused_by(exc: BaseException, *kinds: type[BaseException]) -> bool:
    return any(isinstance(link, kinds) for link in _chain(exc))


def retry_after(headers: Mapping[str, str] | None, default: int = DEFAULT_RETRY_AFTER) -> int:
    """Seconds from a `Retry-After` header (seconds or an HTTP date), kept within [1, MAX_RETRY_AFTER]."""
    value = (headers or {}).get("Retry-After", "").strip()
    seconds: float = default
    if value.isdigit():
        seconds = int(value)
    elif value:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            seconds = default
    return max(1, min(MAX_RETRY_AFTER, int(seconds)))


# The exchange with Entra ID


def _admin_consent_url(settings: Settings, tenant: str) -> str:
    return f"{authority_host(settings)}/{tenant}/adminconsent?client_id={settings.client_id}"


def entra_failure(exc: Exception, settings: Settings, caller: Principal) -> GraphError:
    """What a failed on-behalf-of exchange means for the client (azure-identity's ClientAuthenticationError)."""
    response = getattr(exc, "response", None)
    body = _json_body(response)
    status = getattr(response, "status_code", None)
    if status is None and (found := MSAL_HTTP_ERROR.search(" ".join(map(str, _chain(exc))))):
        # MSAL raises on a 5xx token response before azure-identity can attach it.
        status = int(found.group(1))
    error = body.get("error") if isinstance(body.get("error"), str) else None
    codes = {c for c in body.get("error_codes") or () if isinstance(c, int)}
    description = body.get("error_description") if isinstance(body.get("error_description"), str) else ""
    codes |= {int(c) for c in AADSTS.findall(f"{description} {getattr(exc, 'message', '') or exc}")}
    claims = body.get("claims") if isinstance(body.get("claims"), str) and body.get("claims") else None
    code_text = ", ".join(f"AADSTS{c}" for c in sorted(codes)) or error or "no error code"
    log.warning(
        "On-behalf-of exchange for %s refused: HTTP %s, %s, %s (trace %s, correlation %s)",
        caller.key,
        status,
        error,
        code_text,
        body.get("trace_id"),
        body.get("correlation_id"),
    )
    headers = response.headers if response is not None else None

    if codes & CONSENT_CODES or body.get("suberror") == "consent_required" or error == "consent_required":
        return GraphError(
            403,
            "consent_required",
            "This server may not read your Microsoft Graph profile yet: nobody has consented to its "
            "delegated Graph permission (User.Read). A tenant administrator can grant it once for everyone at "
            f"{_admin_consent_url(settings, caller.tid)} or with "
            f"`az ad app permission admin-consent --id {settings.client_id}`.",
        )
    if claims is not None:
        return GraphError(
            CLAIMS_CHALLENGE_STATUS,
            "insufficient_claims",
            "Microsoft Entra ID requires more from your sign-in (Conditional Access, for example multifactor "
            "authentication) before this server may call Microsoft Graph for you. Sign in again with the claims "
            "challenge in WWW-Authenticate and retry with the new token.",
            claims=base64.b64encode(claims.encode()).decode(),
        )
    if error == "interaction_required" or codes & INTERACTION_CODES:
        return GraphError(
            403,
            "interaction_required",
            f"Microsoft Entra ID requires you to sign in again interactively ({code_text}) before this server "
            "may call Microsoft Graph for you; Conditional Access may also block this access altogether.",
        )
    if codes & EXPIRED_ASSERTION_CODES:
        return GraphError(401, "invalid_token", "Your access token has expired for on-behalf-of use; get a new one.")
    if _caused_by(exc, ManagedIdentityUnavailable):
        return GraphError(
            503,
            "temporarily_unavailable",
            "This server's managed identity could not get its token for the on-behalf-of exchange; retry shortly.",
            retry_after=DEFAULT_RETRY_AFTER,
        )
    if status == 429 or (status is not None and status >= 500) or error == "temporarily_unavailable":
        return GraphError(
            503,
            "temporarily_unavailable",
            "Microsoft Entra ID is not issuing tokens right now; retry later.",
            retry_after=retry_after(headers),
        )
    import requests

    if status is None and _caused_by(exc, requests.RequestException, *_service_errors()):
        return GraphError(
            503,
            "temporarily_unavailable",
            "This server could not reach Microsoft Entra ID for the on-behalf-of exchange; retry shortly.",
            retry_after=DEFAULT_RETRY_AFTER,
        )
    if error in ("invalid_client", "unauthorized_client") or codes & APP_CREDENTIAL_CODES:
        return GraphError(
            502,
            "server_credential_rejected",
            f"Microsoft Entra ID refused this server's own credential ({code_text}): a server configuration "
            "problem its operators must fix.",
        )
    return GraphError(502, "upstream_error", f"Microsoft Entra ID refused the on-behalf-of exchange ({code_text}).")


def _service_errors() -> tuple[type[BaseException], ...]:
    # Imported here, not at the top: this module is loaded with the app, azure-core only on first use.
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError

    return (ServiceRequestError, ServiceResponseError)


# Graph's answers


def _challenge_claims(header: str | None) -> str | None:
    """The `claims` of an `insufficient_claims` Bearer challenge (already base64), or None."""
    if not header or "insufficient_claims" not in header:
        return None
    found = re.search(r'claims="([^"]*)"', header)
    value = found.group(1) if found else ""
    return value if BASE64.fullmatch(value) else None


def graph_failure(answer: requests.Response) -> GraphError:
    """What a non-200 answer from Graph means for the client."""
    status = answer.status_code
    code = None
    try:
        detail = answer.json().get("error", {})
        if isinstance(detail, dict) and isinstance(detail.get("code"), str) and SAFE_CODE.fullmatch(detail["code"]):
            code = detail["code"]
    except Exception:  # noqa: S110 - a missing or odd error body only loses the code
        pass
    log.warning("Microsoft Graph answered HTTP %s (%s)", status, code)
    said = f"HTTP {status}" + (f", {code}" if code else "")
    if status == 429:
        wait = retry_after(answer.headers)
        return GraphError(
            429,
            "throttled",
            f"Microsoft Graph is throttling requests for you ({said}); retry later.",
            retry_after=wait,
        )
    if status in (502, 503, 504) or (status >= 500 and "Retry-After" in answer.headers):
        return GraphError(
            503,
            "temporarily_unavailable",
            f"Microsoft Graph is unavailable ({said}); retry later.",
            retry_after=retry_after(answer.headers),
        )
    if status == 401 and (claims := _challenge_claims(answer.headers.get("WWW-Authenticate"))):
        return GraphError(
            CLAIMS_CHALLENGE_STATUS,
            "insufficient_claims",
            "Microsoft Graph requires more from your sign-in (Conditional Access). Sign in again with the claims "
            "challenge in WWW-Authenticate and retry with the new token.",
            claims=claims,
        )
    return GraphError(502, "upstream_error", f"Microsoft Graph refused the request ({said}).")
