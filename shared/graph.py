"""Microsoft Graph as the signed-in user: the OAuth 2.0 on-behalf-of exchange, `/me`, and its errors.

The caller's token is never sent to Graph (the MCP specification forbids token passthrough, and
Graph would refuse it: its audience is this API). It is the *user assertion* of an on-behalf-of
exchange: Entra ID checks it and issues a Graph token for the same user, which is the only
token Graph sees.

The app's own credential for that exchange:
- in Azure with MANAGED_IDENTITY_CLIENT_ID set, the user-assigned managed identity, as a federated
  credential of the app registration: its token for `api://AzureADTokenExchange` is the client
  assertion, so no secret exists anywhere;
- elsewhere, AZURE_CLIENT_SECRET when set;
- otherwise the feature is off and says so (503 from the route, a tool error from the tool).

Caching (azure-identity 1.27, `OnBehalfOfCredential`): a credential is bound to one user
assertion (`user_assertion` is a constructor argument) and keeps its own MSAL token cache
(`MsalCredential._cache`, created per instance). After the first exchange it records the account
(`_auth_record`, from the response's ID token) and later calls are answered by
`acquire_token_silent_with_error` from that cache, per scope, until five minutes before expiry
(`get_refresh_status`, `DEFAULT_REFRESH_OFFSET`). A new credential per request would therefore
exchange on every call. So credentials live in a bounded map keyed by the caller (`tid/oid`)
and a SHA-256 of their token, the same keying MSAL.NET and Microsoft.Identity.Web use for the
on-behalf-of cache: a token this server never saw never gets a Graph token exchanged for another.
An entry is dropped when its token expires, when the map is full (least recently used first),
or when an exchange or a Graph call with it fails. No token cache is written here.

Scope: `<GRAPH_URL>/.default` by default (GRAPH_SCOPE). MSAL caches a token under the scopes
Entra *returns* and looks it up by the scopes asked for, case- and prefix-sensitively; MSAL's
own on-behalf-of end-to-end test asks for `https://graph.microsoft.com/.default` and reads the
token back from the cache. `.default` means the Graph permissions the app registration holds
(User.Read here, see infra/modules/entra.bicep).

Everything blocking (azure-identity and Graph calls) runs in a worker thread; azure-identity is
imported on first use only, off the cold-start path.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal, TypedDict
from urllib.parse import urlsplit

import azure.functions as func
import requests
from mcp.server.mcpserver.exceptions import ToolError

from shared import responses
from shared.auth import bearer_token
from shared.identity import Principal, current_assertion, current_caller
from shared.settings import Settings, check_fetch_url, is_loopback_host

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.pipeline.transport import RequestsTransport

    from shared.runtime import Runtime

log = logging.getLogger(__name__)

# Credentials kept, one per caller and token: each (MSAL app, pipeline, cached tokens) is about 55 KB.
MAX_CREDENTIALS = 256
HTTP_CONNECT_TIMEOUT = 5.0
HTTP_READ_TIMEOUT = 15.0
DEFAULT_RETRY_AFTER = 10
MAX_RETRY_AFTER = 3600
# A claims challenge for a valid token of ours: 403, as Microsoft.Identity.Web answers when an
# on-behalf-of exchange needs user interaction. (Entra's own claims-challenge page describes 401
# for a resource's *own* challenge; a 401 would make an MCP client drop a valid token.)
CLAIMS_CHALLENGE_STATUS = 403

PROFILE_FIELDS = (
    "id",
    "displayName",
    "givenName",
    "surname",
    "userPrincipalName",
    "mail",
    "jobTitle",
    "officeLocation",
    "mobilePhone",
    "businessPhones",
    "preferredLanguage",
)
# Functional syntax: Graph's camelCase names are not Python attribute names.
GraphProfile = TypedDict(  # noqa: UP013
    "GraphProfile",
    {
        "id": str,
        "displayName": str | None,
        "givenName": str | None,
        "surname": str | None,
        "userPrincipalName": str | None,
        "mail": str | None,
        "jobTitle": str | None,
        "officeLocation": str | None,
        "mobilePhone": str | None,
        "businessPhones": list[str],
        "preferredLanguage": str | None,
    },
    total=False,
)

# The audience of the managed identity's token that a federated credential accepts, per cloud.
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"  # noqa: S105 - an audience, not a password
NATIONAL_TOKEN_EXCHANGE_AUDIENCES = {
    "login.microsoftonline.us": "api://AzureADTokenExchangeUSGov",
    "login.chinacloudapi.cn": "api://AzureADTokenExchangeChina",
    "login.partner.microsoftonline.cn": "api://AzureADTokenExchangeChina",
}

# AADSTS codes, https://login.microsoftonline.com/error?code=<n>
CONSENT_CODES = frozenset({65001, 65004})
INTERACTION_CODES = frozenset({50076, 50079, 50097, 50158, 53000, 53001, 53003})
EXPIRED_ASSERTION_CODES = frozenset({500133})
APP_CREDENTIAL_CODES = frozenset({7000215, 7000222, 700016, 700024, 70021, 700211, 700212, 700213, 7000112})
AADSTS = re.compile(r"AADSTS(\d+)")
MSAL_HTTP_ERROR = re.compile(r"HTTP Error: (\d{3})")
SAFE_CODE = re.compile(r"[A-Za-z0-9_.]{1,64}")
BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")

CredentialMode = Literal["managed_identity", "client_secret"]


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

    def to_response(self, req: func.HttpRequest, settings: Settings) -> func.HttpResponse:
        if self.status == 401:
            return responses.unauthorized(req, settings, self.description)
        headers: dict[str, str] = {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        if self.claims is not None:
            headers["WWW-Authenticate"] = _challenge(
                [
                    ("realm", ""),
                    ("authorization_uri", f"{settings.authority}/oauth2/v2.0/authorize"),
                    ("error", "insufficient_claims"),
                    ("error_description", self.description),
                    ("claims", self.claims),
                    ("resource_metadata", responses.metadata_url(req)),
                ]
            )
        return responses.error_response(self.status, self.error, self.description, headers)

    def tool_message(self) -> str:
        message = self.description
        if self.retry_after is not None:
            message += f" Retry after {self.retry_after} seconds."
        if self.claims is not None:
            message += f" Claims challenge (base64, pass it as `claims` when signing in again): {self.claims}"
        return message


class ManagedIdentityUnavailable(Exception):
    """The managed identity could not get its token: raised inside MSAL, found again by `_caused_by`."""


def _challenge(params: list[tuple[str, str]]) -> str:
    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return "Bearer " + ", ".join(f"{name}={quoted(value)}" for name, value in params)


# Configuration


def credential_mode(settings: Settings) -> CredentialMode | None:
    """The app's own credential for the exchange: managed identity in Azure, else a secret, else none."""
    if settings.in_azure and settings.managed_identity_client_id:
        return "managed_identity"
    if settings.client_secret:
        return "client_secret"
    return None


def unavailable_reason(settings: Settings) -> str | None:
    """Why on-behalf-of calls to Graph are off with these settings, in words for the caller; None when on."""
    off = "Calling Microsoft Graph on your behalf is off on this server: "
    if credential_mode(settings) is None:
        if settings.managed_identity_client_id:
            return off + (
                "MANAGED_IDENTITY_CLIENT_ID is set, but a managed identity exists only in Azure "
                "(WEBSITE_INSTANCE_ID is unset); set AZURE_CLIENT_SECRET to use on-behalf-of outside Azure."
            )
        if settings.in_azure:
            return off + (
                "set MANAGED_IDENTITY_CLIENT_ID to the client ID of the user-assigned managed identity "
                "trusted as the app registration's federated credential."
            )
        return off + (
            "it has no credential of its own for the on-behalf-of exchange. Outside Azure set "
            "AZURE_CLIENT_SECRET (a client secret of the app registration); in Azure the managed identity "
            "(MANAGED_IDENTITY_CLIENT_ID) stands in for it."
        )
    if not settings.client_id:
        return off + "AZURE_CLIENT_ID is not set."
    if urlsplit(settings.authority).scheme != "https":
        return off + f"on-behalf-of needs an https authority, and AZURE_AUTHORITY is {settings.authority}."
    if reason := check_fetch_url(settings.graph_url):
        return off + f"GRAPH_URL {reason}."
    return None


def token_exchange_scope(settings: Settings) -> str:
    host = (urlsplit(settings.authority).hostname or "").lower()
    return NATIONAL_TOKEN_EXCHANGE_AUDIENCES.get(host, TOKEN_EXCHANGE_AUDIENCE) + "/.default"


def authority_host(settings: Settings) -> str:
    """The authority without its tenant (`https://login.microsoftonline.com`): azure-identity appends one."""
    parts = urlsplit(settings.authority)
    segments = [s for s in parts.path.split("/") if s]
    return f"{parts.scheme}://{parts.netloc}" + "".join(f"/{s}" for s in segments[:-1])


# The exchange and the call


@dataclass
class _Entry:
    key: str
    credential: Any  # azure.identity.OnBehalfOfCredential
    expires_at: float
    # One exchange at a time per caller and token: concurrent first calls wait and hit the cache.
    lock: threading.Lock = field(default_factory=threading.Lock)


class GraphClient:
    """On-behalf-of credentials (bounded, per caller and token) and the Graph calls made with them."""

    def __init__(self, settings: Settings, *, max_credentials: int = MAX_CREDENTIALS) -> None:
        self.settings = settings
        self.max_credentials = max_credentials
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        # One connection pool for Entra and Graph, shared by every credential.
        self._session = requests.Session()
        self._transport: RequestsTransport | None = None
        self._managed_identity: TokenCredential | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def profile(self, caller: Principal, assertion: str) -> dict[str, Any]:
        """The caller's Graph profile. Blocking: run it in a worker thread."""
        entry = self._entry(caller, assertion)
        token = self._exchange(entry, caller)
        return self._me(entry, token)

    # Credentials

    def _entry(self, caller: Principal, assertion: str) -> _Entry:
        key = f"{caller.key}#{hashlib.sha256(assertion.encode()).hexdigest()}"
        now = time.time()
        with self._lock:
            if (entry := self._live(key, now)) is not None:
                return entry
        # Built outside the lock: no network, but the first one imports azure-identity.
        credential = self._new_credential(caller, assertion)
        with self._lock:
            if (entry := self._live(key, now)) is not None:  # another thread was quicker
                return entry
            # The token may be used until our validator stops accepting it (`exp` + leeway).
            entry = _Entry(key, credential, caller.expires_at + self.settings.clock_skew)
            self._entries[key] = entry
            self._trim(now)
            return entry

    def _live(self, key: str, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None or now >= entry.expires_at:
            return None
        self._entries.move_to_end(key)
        return entry

    def _trim(self, now: float) -> None:
        if len(self._entries) <= self.max_credentials:
            return
        for key in [k for k, e in self._entries.items() if e.expires_at <= now]:
            del self._entries[key]
        while len(self._entries) > self.max_credentials:
            self._entries.popitem(last=False)

    def _forget(self, entry: _Entry) -> None:
        with self._lock:
            if self._entries.get(entry.key) is entry:
                del self._entries[entry.key]

    def _new_credential(self, caller: Principal, assertion: str) -> Any:
        from azure.identity import OnBehalfOfCredential

        settings = self.settings
        app_credential: dict[str, Any]
        if credential_mode(settings) == "managed_identity":
            app_credential = {"client_assertion_func": self._managed_identity_assertion}
        else:
            app_credential = {"client_secret": settings.client_secret}
        return OnBehalfOfCredential(
            # The caller's own tenant: the same as ours for a single-tenant app, theirs for a multi-tenant one.
            tenant_id=caller.tid,
            client_id=settings.client_id,
            user_assertion=assertion,
            authority=authority_host(settings),
            # Instance discovery asks login.microsoftonline.com about the host: only a loopback test authority skips it.
            disable_instance_discovery=True if is_loopback_host(urlsplit(settings.authority).hostname) else None,
            transport=self._shared_transport(),
            # One retry for a dropped connection; none on 429/5xx, whose Retry-After could hold a request for minutes.
            retry_total=1,
            retry_status=0,
            **app_credential,
        )

    def _shared_transport(self) -> RequestsTransport:
        if self._transport is None:
            from azure.core.pipeline.transport import RequestsTransport

            self._transport = RequestsTransport(
                session=self._session,
                session_owner=False,
                connection_timeout=HTTP_CONNECT_TIMEOUT,
                read_timeout=HTTP_READ_TIMEOUT,
            )
        return self._transport

    def _managed_identity_assertion(self) -> str:
        """The client assertion: the managed identity's token for the token-exchange audience.

        MSAL calls this only when it sends a token request; ManagedIdentityCredential caches its token.
        """
        from azure.identity import ManagedIdentityCredential

        settings = self.settings
        if self._managed_identity is None:
            with self._lock:
                if self._managed_identity is None:
                    self._managed_identity = ManagedIdentityCredential(client_id=settings.managed_identity_client_id)
        scope = token_exchange_scope(settings)
        try:
            return self._managed_identity.get_token(scope).token
        except Exception as exc:
            log.error(
                "The managed identity %s could not get a token for %s: %s",
                settings.managed_identity_client_id,
                scope,
                exc,
            )
            raise ManagedIdentityUnavailable("the managed identity could not get a token") from exc

    # Calls

    def _exchange(self, entry: _Entry, caller: Principal) -> str:
        from azure.core.exceptions import ClientAuthenticationError

        with entry.lock:
            try:
                return str(entry.credential.get_token_info(self.settings.graph_scope).token)
            except ClientAuthenticationError as exc:
                self._forget(entry)
                raise entra_failure(exc, self.settings, caller) from None
            except Exception:
                self._forget(entry)
                log.exception("The on-behalf-of exchange for %s failed unexpectedly", caller.key)
                raise GraphError(
                    502, "upstream_error", "The on-behalf-of exchange with Microsoft Entra ID failed."
                ) from None

    def _me(self, entry: _Entry, token: str) -> dict[str, Any]:
        url = f"{self.settings.graph_url}/v1.0/me"
        try:
            answer = self._session.get(
                url,
                params={"$select": ",".join(PROFILE_FIELDS)},
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                timeout=(HTTP_CONNECT_TIMEOUT, HTTP_READ_TIMEOUT),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            log.warning("Microsoft Graph did not answer: %s", type(exc).__name__)
            raise GraphError(502, "upstream_error", "Microsoft Graph did not answer; retry shortly.") from None
        if answer.status_code != 200:
            if answer.status_code == 401:
                # Revoked or refused: the next call exchanges afresh.
                self._forget(entry)
            raise graph_failure(answer)
        try:
            data = answer.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise GraphError(502, "upstream_error", "Microsoft Graph answered with something other than a profile.")
        return {name: data[name] for name in PROFILE_FIELDS if name in data}


# Error mapping


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
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError

    return (ServiceRequestError, ServiceResponseError)


def _challenge_claims(header: str | None) -> str | None:
    """The `claims` of an `insufficient_claims` Bearer challenge (already base64), or None."""
    if not header or "insufficient_claims" not in header:
        return None
    found = re.search(r'claims="([^"]*)"', header)
    value = found.group(1) if found else ""
    return value if BASE64.fullmatch(value) else None


def graph_failure(answer: requests.Response) -> GraphError:
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


# The feature: shared by the route and the tool

_client: GraphClient | None = None
_client_lock = threading.Lock()


def client_for(settings: Settings) -> GraphClient:
    """The process's client for these settings; new settings (a reset runtime) get a fresh one."""
    global _client
    client = _client
    if client is None or client.settings is not settings:
        with _client_lock:
            if _client is None or _client.settings is not settings:
                _client = GraphClient(settings)
            client = _client
    return client


async def fetch_profile(settings: Settings, caller: Principal, assertion: str | None) -> dict[str, Any]:
    """The caller's Graph profile through on-behalf-of, or a `GraphError` saying what to do."""
    if caller.kind == "app":
        raise GraphError(
            403,
            "user_required",
            "Microsoft Graph is called on behalf of a signed-in user, and this is an app-only token: only "
            "delegated (user) tokens can be exchanged on-behalf-of. Call with a user's token.",
        )
    if caller.development or not assertion:
        raise GraphError(
            503,
            "graph_unavailable",
            "Calling Microsoft Graph on your behalf needs your Entra ID access token, and authentication is off "
            "on this server (ENABLE_AUTH=false): there is no token to exchange.",
        )
    if reason := unavailable_reason(settings):
        raise GraphError(503, "graph_unavailable", reason)
    return await asyncio.to_thread(client_for(settings).profile, caller, assertion)


async def me_with_graph(req: func.HttpRequest, runtime: Runtime, caller: Principal) -> func.HttpResponse:
    """`GET /me?graph=true`: the caller as their token describes them, and their Graph profile under `graph`."""
    try:
        profile = await fetch_profile(runtime.settings, caller, bearer_token(req) or None)
    except GraphError as exc:
        return exc.to_response(req, runtime.settings)
    return responses.json_response({**caller.to_dict(), "graph": profile})


async def graph_profile() -> GraphProfile:
    """Your Microsoft Graph profile (GET /v1.0/me): display name, mail, job title, user principal name, id and more.

    Fetched as you, through the OAuth 2.0 on-behalf-of flow with the delegated User.Read permission;
    needs a signed-in user's token (app-only callers cannot use it).
    """
    caller = current_caller.get()
    if caller is None:
        raise ToolError("no caller identity reached this tool")
    from shared.runtime import current

    try:
        profile = await fetch_profile(current().settings, caller, current_assertion.get())
    except GraphError as exc:
        raise ToolError(exc.tool_message()) from None
    return profile  # type: ignore[return-value]
