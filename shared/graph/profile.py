"""Microsoft Graph as the signed-in user: their `/me` profile, for the `GET /me?graph=true` route and the tool.

The caller's token is never sent to Graph (the MCP specification forbids token passthrough, and
Graph would refuse it: its audience is this API). It is the user assertion of an on-behalf-of
exchange (`shared.graph.obo`), and the Graph token Entra ID issues for the same user is the only token
Graph sees. Failures become a `GraphError` (`shared.graph.errors`): the route answers it as
HTTP, the tool as a tool error.

Everything blocking (azure-identity and Graph calls) runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from shared.auth.identity import Principal
from shared.graph.errors import GraphError, entra_failure, graph_failure
from shared.graph.obo import (
    HTTP_CONNECT_TIMEOUT,
    HTTP_READ_TIMEOUT,
    MAX_CREDENTIALS,
    CredentialEntry,
    OboCredentials,
    unavailable_reason,
)
from shared.graph.schema import PROFILE_FIELDS
from shared.settings import Settings

log = logging.getLogger(__name__)


class GraphClient:
    """The Graph calls, with a token from the caller's on-behalf-of credential."""

    def __init__(self, settings: Settings, *, max_credentials: int = MAX_CREDENTIALS) -> None:
        self.settings = settings
        import requests  # here, not at the top: the Graph feature stays off the cold-start path

        # One connection pool for Entra and Graph, shared by every credential.
        self._session = requests.Session()
        self.credentials = OboCredentials(settings, self._session, max_credentials=max_credentials)

    def __len__(self) -> int:
        """The credentials kept."""
        return len(self.credentials)

    def profile(self, caller: Principal, assertion: str) -> dict[str, Any]:
        """The caller's Graph profile. Blocking: run it in a worker thread."""
        entry = self.credentials.entry(caller, assertion)
        token = self._exchange(entry, caller)
        return self._me(entry, token)

    def _exchange(self, entry: CredentialEntry, caller: Principal) -> str:
        from azure.core.exceptions import ClientAuthenticationError

        try:
            return self.credentials.exchange(entry)
        except ClientAuthenticationError as exc:
            raise entra_failure(exc, self.settings, caller) from None
        except Exception:
            log.exception("The on-behalf-of exchange for %s failed unexpectedly", caller.key)
            raise GraphError(
                502, "upstream_error", "The on-behalf-of exchange with Microsoft Entra ID failed."
            ) from None

    def _me(self, entry: CredentialEntry, token: str) -> dict[str, Any]:
        import requests

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
                self.credentials.forget(entry)
            raise graph_failure(answer)
        try:
            data = answer.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise GraphError(502, "upstream_error", "Microsoft Graph answered with something other than a profile.")
        return {name: data[name] for name in PROFILE_FIELDS if name in data}


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
