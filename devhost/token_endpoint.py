"""`{authority}/oauth2/v2.0/token`: codes, refresh tokens and client credentials redeemed as Entra does.

- `authorization_code`: once, within ten minutes, by the client it was issued to, with the same
  redirect URI and the PKCE verifier of its challenge. A replayed code is refused and revokes the
  refresh tokens issued from it (RFC 6749 section 4.1.2).
- `refresh_token`: rotated on every use (the old one is refused afterwards); it may ask for fewer
  scopes, or others the user consented to, never more (AADSTS65001 sends the client back to sign in).
- `client_credentials`: confidential clients only, `<resource>/.default` only, the client's app roles.

Access tokens are the ones `python -m devhost token` mints (Entra's v1/v2 shapes), with `scp` from the
granted scopes and `azp` the client; `openid` adds an ID token, `offline_access` a refresh token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import jwt

from devhost.authority import mint_token
from devhost.authority_http import JSON_HEADERS
from devhost.client_auth import AssertionReplay, Caller, identify
from devhost.oauth_errors import OAuthError, malformed, missing
from devhost.scopes import Requested, check_resource, parse_scopes
from devhost.signin import Answer, Grant, SignIn

TOKEN_MINUTES = 60
REFRESH_SECONDS = 90 * 24 * 3600
VERIFIER_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class TokenEndpoint:
    def __init__(self, signin: SignIn) -> None:
        self.signin = signin
        self.directory = signin.directory
        self.replay = AssertionReplay()

    def answer(self, tenant_path: str, form: Mapping[str, str], authorization: str | None) -> Answer:
        try:
            body = self._grant(tenant_path, form, authorization)
        except OAuthError as refused:
            return Answer(refused.status, dict(JSON_HEADERS), json.dumps(refused.body()).encode())
        return Answer(200, dict(JSON_HEADERS), json.dumps(body).encode())

    def _grant(self, tenant_path: str, form: Mapping[str, str], authorization: str | None) -> dict[str, Any]:
        grant_type = form.get("grant_type")
        if not grant_type:
            raise missing("grant_type")
        handlers = {
            "authorization_code": self._authorization_code,
            "refresh_token": self._refresh_token,
            "client_credentials": self._client_credentials,
        }
        handler = handlers.get(grant_type)
        if handler is None:
            raise OAuthError(
                "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant_type}'."
            )
        audiences = [
            f"{origin}/{tenant}/oauth2/v2.0/token"
            for origin in (self.signin.issuer_base, *self.signin.aliases)
            for tenant in dict.fromkeys((tenant_path, self.directory.tenant))
        ]
        caller = identify(
            self.directory,
            form,
            authorization,
            audiences,
            self.replay,
            credentials_required=grant_type == "client_credentials",
        )
        check_resource(self.directory, form.get("resource"))
        return handler(caller, form)

    def _authorization_code(self, caller: Caller, form: Mapping[str, str]) -> dict[str, Any]:
        code = form.get("code")
        if not code:
            raise missing("code")
        state = self.signin
        with state.lock:
            replayed = state.redeemed.get(code)
            grant = None if replayed else state.codes.pop(code, None)
            if grant is not None:
                state.redeemed[code] = (grant.expires, grant.family)
            elif replayed:
                # The code leaked or the client retried: what it bought is withdrawn too.
                family = replayed[1]
                for token in [t for t, g in state.refresh_tokens.items() if g.family == family]:
                    del state.refresh_tokens[token]
        if replayed:
            raise OAuthError(
                "invalid_grant",
                54005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an "
                "existing refresh token.",
            )
        if grant is None:
            raise OAuthError(
                "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid: unknown code."
            )
        if grant.expires < time.time():
            raise OAuthError(
                "invalid_grant",
                70008,
                "The provided authorization code or refresh token has expired due to inactivity. Send a new "
                "interactive authorization request for this user and resource.",
            )
        if grant.client_id != caller.client.client_id:
            raise OAuthError(
                "invalid_grant",
                70000,
                "Provided grant is invalid or malformed: the code was issued to another application.",
            )
        redirect_uri = form.get("redirect_uri")
        if not redirect_uri:
            raise missing("redirect_uri")
        if redirect_uri != grant.redirect_uri:
            raise OAuthError(
                "invalid_grant",
                50011,
                f"The reply address '{redirect_uri}' does not match the reply address '{grant.redirect_uri}' provided "
                "when requesting Authorization code.",
            )
        verifier = form.get("code_verifier")
        if not verifier:
            raise missing("code_verifier")
        if not 43 <= len(verifier) <= 128 or not set(verifier) <= VERIFIER_CHARS:
            raise malformed("code_verifier must be 43 to 128 unreserved characters (RFC 7636).")
        computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if not hmac.compare_digest(computed, grant.code_challenge):
            raise OAuthError(
                "invalid_grant",
                50148,
                "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.",
            )
        return self._issue(caller, grant, form)

    def _refresh_token(self, caller: Caller, form: Mapping[str, str]) -> dict[str, Any]:
        presented = form.get("refresh_token")
        if not presented:
            raise missing("refresh_token")
        state = self.signin
        with state.lock:
            grant = state.refresh_tokens.get(presented)
            spent = presented in state.spent_refresh_tokens
        if grant is None:
            if spent:
                raise _revoked()
            raise OAuthError(
                "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid: unknown refresh token."
            )
        if grant.expires < time.time():
            raise OAuthError("invalid_grant", 70008, "The provided authorization code or refresh token has expired.")
        if grant.client_id != caller.client.client_id:
            raise OAuthError(
                "invalid_grant",
                70000,
                "Provided grant is invalid or malformed: the refresh token belongs to another application.",
            )
        scope = form.get("scope")
        if scope:
            asked = parse_scopes(self.directory, scope)
            beyond = [s for s in asked.api_scopes if s not in grant.consented]
            if beyond:
                # Refused before the token is spent: the client may keep using it for what was consented.
                raise OAuthError(
                    "invalid_grant",
                    65001,
                    f"The user or administrator has not consented to use the application with ID "
                    f"'{caller.client.client_id}' for {', '.join(beyond)}. Send an interactive authorization request "
                    "for this user and resource.",
                    extra={"suberror": "consent_required"},
                )
            # `openid` and `offline_access` stay as granted; the API scopes are those asked for this time.
            grant = replace(
                grant, requested=Requested(asked.api_scopes, grant.requested.oidc | asked.oidc, asked.resource)
            )
        with state.lock:
            if state.refresh_tokens.pop(presented, None) is None:  # spent meanwhile, by a concurrent request
                raise _revoked()
            state.spent_refresh_tokens[presented] = grant.expires
        return self._issue(caller, grant, form)

    def _client_credentials(self, caller: Caller, form: Mapping[str, str]) -> dict[str, Any]:
        scope = form.get("scope")
        if not scope:
            raise missing("scope")
        parse_scopes(self.directory, scope, default_only=True)
        client = caller.client
        version = self.directory.token_version
        service_principal = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.directory.tenant}/sp/{client.client_id}"))
        claims = {
            "oid": service_principal,
            "sub": service_principal,
            ("azp" if version == "2.0" else "appid"): client.client_id,
            ("azpacr" if version == "2.0" else "appidacr"): caller.acr,
            "uti": secrets.token_urlsafe(16),
        }
        token = mint_token(
            self.signin.issuer_base,
            self.directory.tenant,
            self.directory.api_client_id,
            key=self.signin.key(),
            version=version,
            app=True,
            roles=client.roles,
            minutes=TOKEN_MINUTES,
            claims=claims,
        )
        return {
            "token_type": "Bearer",
            "expires_in": TOKEN_MINUTES * 60 - 1,
            "ext_expires_in": TOKEN_MINUTES * 60 - 1,
            "access_token": token,
        }

    def _issue(self, caller: Caller, grant: Grant, form: Mapping[str, str]) -> dict[str, Any]:
        directory, user, client = self.directory, grant.user, caller.client
        version = directory.token_version
        v2 = version == "2.0"
        claims = {
            "oid": user.oid,
            # Entra's `sub` is pairwise: the same user has another one in every other app.
            "sub": _pairwise(user.oid, directory.api_client_id),
            "name": user.name,
            ("preferred_username" if v2 else "upn"): user.username,
            ("azp" if v2 else "appid"): client.client_id,
            ("azpacr" if v2 else "appidacr"): caller.acr,
            "uti": secrets.token_urlsafe(16),
        }
        access = mint_token(
            self.signin.issuer_base,
            directory.tenant,
            directory.api_client_id,
            key=self.signin.key(),
            version=version,
            scopes=grant.requested.api_scopes,
            minutes=TOKEN_MINUTES,
            claims=claims,
        )
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": grant.requested.qualified,
            "expires_in": TOKEN_MINUTES * 60 - 1,
            "ext_expires_in": TOKEN_MINUTES * 60 - 1,
            "access_token": access,
        }
        if "offline_access" in grant.requested.oidc:
            refresh = secrets.token_urlsafe(64)
            with self.signin.lock:
                self.signin.purge_expired()
                self.signin.refresh_tokens[refresh] = replace(grant, expires=time.time() + REFRESH_SECONDS)
            body["refresh_token"] = refresh
        if "openid" in grant.requested.oidc:
            body["id_token"] = self._id_token(client.client_id, grant)
        if form.get("client_info") == "1":
            info = json.dumps({"uid": user.oid, "utid": directory.tenant}).encode()
            body["client_info"] = base64.urlsafe_b64encode(info).rstrip(b"=").decode()
        return body

    def _id_token(self, client_id: str, grant: Grant) -> str:
        now = int(time.time())
        key = self.signin.key()
        claims: dict[str, Any] = {
            "aud": client_id,
            "iss": f"{self.signin.issuer_base}/{self.directory.tenant}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "sub": _pairwise(grant.user.oid, client_id),
            "oid": grant.user.oid,
            "tid": self.directory.tenant,
            "ver": "2.0",
        }
        if "profile" in grant.requested.oidc:
            claims.update(name=grant.user.name, preferred_username=grant.user.username)
        if "email" in grant.requested.oidc:
            claims["email"] = grant.user.username
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"typ": "JWT", "kid": key.kid})


def _revoked() -> OAuthError:
    return OAuthError(
        "invalid_grant",
        50173,
        "The provided grant has expired due to it being revoked: this refresh token was already redeemed and "
        "replaced (refresh tokens are rotated on use).",
    )


def _pairwise(oid: str, app_id: str) -> str:
    digest = hashlib.sha256(f"{oid}/{app_id}".encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()[:43]
