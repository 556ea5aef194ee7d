"""The OAuth 2.0 on-behalf-of exchange: the app's own credential, and the caller's token turned into a Graph token.

The caller's token is the *user assertion* of the exchange: Entra ID checks it and issues a
Graph token for the same user. The app proves its own identity too, with
- in Azure with MANAGED_IDENTITY_CLIENT_ID set, the user-assigned managed identity, as a federated
  credential of the app registration: its token for `api://AzureADTokenExchange` is the client
  assertion, so no secret exists anywhere;
- elsewhere, AZURE_CLIENT_SECRET when set;
- otherwise nothing: the feature is off and `unavailable_reason` says so.

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

Everything here that reaches the network blocks: callers run it in a worker thread. azure-identity
is imported on first use only, off the cold-start path. A failed exchange raises what
azure-identity raised; `shared.graph.errors` says what it means for the client.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from shared.auth.identity import Principal
from shared.settings import Settings, check_fetch_url, is_loopback_host

if TYPE_CHECKING:
    import requests
    from azure.core.credentials import TokenCredential
    from azure.core.pipeline.transport import RequestsTransport

log = logging.getLogger(__name__)

# Credentials kept, one per caller and token: each (MSAL app, pipeline, cached tokens) is about 55 KB.
MAX_CREDENTIALS = 256
# For Entra ID here and for Graph in shared.graph.profile: both go over one connection pool.
HTTP_CONNECT_TIMEOUT = 5.0
HTTP_READ_TIMEOUT = 15.0

# The audience of the managed identity's token that a federated credential accepts, per cloud.
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"  # noqa: S105 - an audience, not a password
NATIONAL_TOKEN_EXCHANGE_AUDIENCES = {
    "login.microsoftonline.us": "api://AzureADTokenExchangeUSGov",
    "login.chinacloudapi.cn": "api://AzureADTokenExchangeChina",
    "login.partner.microsoftonline.cn": "api://AzureADTokenExchangeChina",
}

CredentialMode = Literal["managed_identity", "client_secret"]


class ManagedIdentityUnavailable(Exception):
    """The managed identity could not get its token: raised inside MSAL, found again by `graph_errors._caused_by`."""


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


# Credentials and the exchange


@dataclass
class CredentialEntry:
    key: str
    credential: Any  # azure.identity.OnBehalfOfCredential
    expires_at: float
    # One exchange at a time per caller and token: concurrent first calls wait and hit the cache.
    lock: threading.Lock = field(default_factory=threading.Lock)


class OboCredentials:
    """On-behalf-of credentials, bounded, one per caller and token, and the exchanges made with them."""

    def __init__(
        self, settings: Settings, session: requests.Session, *, max_credentials: int = MAX_CREDENTIALS
    ) -> None:
        self.settings = settings
        self.max_credentials = max_credentials
        self._entries: OrderedDict[str, CredentialEntry] = OrderedDict()
        self._lock = threading.Lock()
        # The caller's session: its connection pool serves Entra here and Graph there, for every credential.
        self._session = session
        self._transport: RequestsTransport | None = None
        self._managed_identity: TokenCredential | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, caller: Principal, assertion: str) -> CredentialEntry:
        """The caller's credential for this token: the one kept, or a new one (no network yet)."""
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
            entry = CredentialEntry(key, credential, caller.expires_at + self.settings.clock_skew)
            self._entries[key] = entry
            self._trim(now)
            return entry

    def exchange(self, entry: CredentialEntry) -> str:
        """A Graph token: from the credential's own cache, else from Entra ID. Blocking.

        A failure drops the entry, so the next call exchanges afresh (a satisfied Conditional Access
        policy, for example), and propagates as azure-identity raised it.
        """
        with entry.lock:
            try:
                return str(entry.credential.get_token_info(self.settings.graph_scope).token)
            except Exception:
                self.forget(entry)
                raise

    def forget(self, entry: CredentialEntry) -> None:
        with self._lock:
            if self._entries.get(entry.key) is entry:
                del self._entries[entry.key]

    def _live(self, key: str, now: float) -> CredentialEntry | None:
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
