"""Entra ID behind the facade: its v2 authorize URL, and its token endpoint called as our confidential client.

Our app registration is the one client Entra sees. It proves itself as on-behalf-of does
(shared/graph/obo.py): in Azure with the managed identity's token for `api://AzureADTokenExchange`
as client assertion (a federated credential: no secret anywhere), elsewhere with AZURE_CLIENT_SECRET
(for devhost's local authority, the secret devhost lists for the API's registration). The RFC 8707
`resource` of the MCP client is never forwarded: Entra refuses it (AADSTS9010010); the scopes name
our API instead.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import urlencode

from shared.facade.errors import OAuthError
from shared.graph.obo import credential_mode, token_exchange_scope
from shared.settings import Settings, check_fetch_url

log = logging.getLogger(__name__)

JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TIMEOUT = 15.0


def unavailable_reason(settings: Settings) -> str | None:
    if credential_mode(settings) is None:
        return (
            "The sign-in proxy has no credential to redeem Entra's codes: in Azure set MANAGED_IDENTITY_CLIENT_ID "
            "(the managed identity trusted by the app registration), elsewhere AZURE_CLIENT_SECRET."
        )
    if reason := check_fetch_url(settings.authority):
        return f"AZURE_AUTHORITY {reason}"
    return None


def upstream_scopes(api_scopes: tuple[str, ...]) -> str:
    # offline_access: Entra's refresh token is what our own refresh tokens carry (sealed) to renew through it.
    return " ".join((*api_scopes, "offline_access"))


def authorize_url(
    settings: Settings, callback: str, state: str, challenge: str, api_scopes: tuple[str, ...], login_hint: str = ""
) -> str:
    params = {
        "client_id": settings.client_id,
        "response_type": "code",
        "redirect_uri": callback,
        "response_mode": "query",
        "scope": upstream_scopes(api_scopes),
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if login_hint:
        params["login_hint"] = login_hint
    return f"{settings.authority}/oauth2/v2.0/authorize?{urlencode(params)}"


class Upstream:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._http: Any = None
        self._managed_identity: Any = None
        self._lock = threading.Lock()

    def redeem_code(self, code: str, verifier: str, callback: str, api_scopes: tuple[str, ...]) -> dict[str, Any]:
        return self._token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": callback,
                "code_verifier": verifier,
                "scope": upstream_scopes(api_scopes),
            }
        )

    def refresh(self, refresh_token: str, api_scopes: tuple[str, ...]) -> dict[str, Any]:
        return self._token(
            {"grant_type": "refresh_token", "refresh_token": refresh_token, "scope": upstream_scopes(api_scopes)}
        )

    def _token(self, form: dict[str, str]) -> dict[str, Any]:
        import httpx2

        url = f"{self.settings.authority}/oauth2/v2.0/token"
        form = {**form, "client_id": self.settings.client_id, **self._client_authentication()}
        try:
            answer = self._client().post(url, data=form)
        except httpx2.HTTPError as exc:
            log.warning("Entra's token endpoint could not be reached: %s", type(exc).__name__)
            raise OAuthError(
                "temporarily_unavailable", "Microsoft Entra ID cannot be reached; retry shortly.", 503
            ) from exc
        try:
            body = answer.json()
        except ValueError:
            body = {}
        if answer.status_code == 200 and isinstance(body, dict) and body.get("access_token"):
            return body
        error = body.get("error") if isinstance(body, dict) else None
        # Entra's own description is not passed on: it may quote what was sent. Its error code is logged.
        log.info("Entra refused a %s request: HTTP %s %s", form["grant_type"], answer.status_code, error)
        if error in ("invalid_grant", "interaction_required", "consent_required"):
            raise OAuthError("invalid_grant", "Microsoft Entra ID no longer accepts this grant; sign in again.")
        raise OAuthError("temporarily_unavailable", "Microsoft Entra ID refused the sign-in; retry shortly.", 503)

    def _client_authentication(self) -> dict[str, str]:
        if credential_mode(self.settings) == "managed_identity":
            return {"client_assertion_type": JWT_BEARER_ASSERTION, "client_assertion": self._assertion()}
        return {"client_secret": self.settings.client_secret}

    def _assertion(self) -> str:
        from azure.identity import ManagedIdentityCredential

        with self._lock:
            if self._managed_identity is None:
                self._managed_identity = ManagedIdentityCredential(client_id=self.settings.managed_identity_client_id)
        try:
            return str(self._managed_identity.get_token(token_exchange_scope(self.settings)).token)
        except Exception as exc:
            log.error("The managed identity could not get its token-exchange token: %s", type(exc).__name__)
            raise OAuthError("temporarily_unavailable", "The server cannot prove its identity right now.", 503) from exc

    def _client(self) -> Any:
        if self._http is None:
            import httpx2

            from shared.auth.fetch import tls_context

            self._http = httpx2.Client(verify=tls_context(), follow_redirects=False, timeout=TIMEOUT)
        return self._http
