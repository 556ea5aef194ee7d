"""`POST /token`: our authorization codes and refresh tokens redeemed by the MCP client they were issued to.

- `authorization_code`: the code is taken once (a replay finds nothing), then checked: same client,
  same redirect URI, and the PKCE verifier of its S256 challenge. The answer's access token is Entra's
  own, for our API, so the validator accepts it unchanged (its `azp` is our app, not the MCP client).
- `refresh_token`: ours is `<id>.<box>`: `box` is Entra's refresh token encrypted (AES-256-GCM, bound
  to the client id) under a random key stored in the grant's row, keyed by the id's hash. Neither half
  alone gives Entra's token, and Entra's token alone is useless without our app's credential. Each
  use spends the row and issues a new refresh token (rotation).
- Replays revoke (OAuth 2.1, sections 4.1.3 and 4.3.1): the refresh tokens issued from one code form a
  family. A spent code or refresh token leaves a tombstone naming its family; presenting it again
  marks the family revoked, and every refresh token of the family is refused from then on: the
  client's, and whoever else holds one. Entra's access tokens already issued run to their expiry.
"""

from __future__ import annotations

import hmac
import logging
import re
from typing import Any

from shared.facade import seal, store
from shared.facade.core import Facade
from shared.facade.errors import OAuthError

log = logging.getLogger(__name__)

GRANT_TTL = 90 * 24 * 3600
VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
MAX_REFRESH_TOKEN = 8192


def _invalid_grant(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)


def token(facade: Facade, fields: dict[str, str]) -> dict[str, Any]:
    grant_type = fields.get("grant_type")
    if grant_type == "authorization_code":
        return _authorization_code(facade, fields)
    if grant_type == "refresh_token":
        return _refresh(facade, fields)
    raise OAuthError("unsupported_grant_type", "Only authorization_code and refresh_token are supported.")


def _authorization_code(facade: Facade, fields: dict[str, str]) -> dict[str, Any]:
    code, client_id = fields.get("code") or "", fields.get("client_id") or ""
    if not code or not client_id:
        raise OAuthError("invalid_request", "code and client_id are required.")
    verifier = fields.get("code_verifier") or ""
    family = seal.new_secret(16)
    key = seal.digest(code)
    row = facade.store.take(store.CODES, key, leave=lambda _: {"family": family})
    if row is None:
        _revoke_if_replayed(facade, store.CODES, key, "authorization code")
        raise _invalid_grant("The authorization code is unknown, expired or already used.")
    try:
        grant = seal.open_sealed(code, "code", row["sealed"])
    except ValueError as exc:  # a row altered in the store: fail closed
        raise _invalid_grant("The authorization code is unknown, expired or already used.") from exc
    if grant["client_id"] != client_id:
        raise _invalid_grant("The authorization code was issued to another client.")
    if fields.get("redirect_uri") != grant["redirect_uri"]:
        raise _invalid_grant("The redirect_uri differs from the one of the authorization request.")
    if not VERIFIER.match(verifier) or not hmac.compare_digest(seal.pkce_s256(verifier), grant["challenge"]):
        raise _invalid_grant("The code_verifier does not match the code_challenge.")
    resource = fields.get("resource")
    if resource is not None and resource.rstrip("/") != str(grant["resource"]).rstrip("/"):
        raise OAuthError("invalid_target", "The resource differs from the one of the authorization request.")
    return _answer(
        facade, grant["access_token"], grant["expires_in"], grant["refresh_token"], grant | {"family": family}
    )


def _refresh(facade: Facade, fields: dict[str, str]) -> dict[str, Any]:
    presented, client_id = fields.get("refresh_token") or "", fields.get("client_id") or ""
    if not presented or not client_id:
        raise OAuthError("invalid_request", "refresh_token and client_id are required.")
    grant_id, _, box = presented.partition(".")
    if not grant_id or not box or len(presented) > MAX_REFRESH_TOKEN:
        raise _invalid_grant("The refresh token is not one of ours.")
    key = seal.digest(grant_id)
    row = facade.store.take(store.GRANTS, key, leave=lambda data: {"family": data.get("family")})
    if row is None:
        _revoke_if_replayed(facade, store.GRANTS, key, "refresh token")
        raise _invalid_grant("The refresh token is unknown, expired or already used.")
    if row.get("family") and facade.store.get(store.REVOKED, row["family"]) is not None:
        log.warning("Refused a refresh token of a revoked family")
        raise _invalid_grant("The refresh token was revoked.")
    if row["client_id"] != client_id:
        raise _invalid_grant("The refresh token was issued to another client.")
    try:
        upstream_refresh = seal.decrypt_with(seal.unb64(row["key"]), box, client_id)
    except ValueError as exc:
        raise _invalid_grant("The refresh token is not one of ours.") from exc
    api_scopes = tuple(row["api_scopes"])
    tokens = facade.upstream.refresh(upstream_refresh, api_scopes)
    renewed = tokens.get("refresh_token") or upstream_refresh
    return _answer(facade, tokens["access_token"], int(tokens.get("expires_in") or 3600), renewed, row)


def _revoke_if_replayed(facade: Facade, kind: str, key: str, what: str) -> None:
    """A spent code or refresh token presented again: its family is revoked (whoever holds a refresh
    token of it, the client or a thief, is refused from now on). Unknown or expired ones revoke nothing."""
    tombstone = facade.store.spent(kind, key)
    if tombstone is None or not tombstone.get("family"):
        log.info("Refused an unknown or expired %s", what)
        return
    facade.store.put(store.REVOKED, tombstone["family"], {}, GRANT_TTL)
    log.warning("A used %s was presented again: revoked the refresh tokens issued from it", what)


def _answer(
    facade: Facade, access_token: str, expires_in: int, upstream_refresh: str | None, grant: dict[str, Any]
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": " ".join(grant["scopes"]),
    }
    if upstream_refresh:
        key = seal.new_secret(32)
        grant_id = seal.new_secret(24)
        row = {
            "key": seal.b64(seal.unb64(key)[:32]),
            "client_id": grant["client_id"],
            "api_scopes": grant["api_scopes"],
            "scopes": grant["scopes"],
            "user": grant["user"],
            "family": grant.get("family"),
        }
        facade.store.put(store.GRANTS, seal.digest(grant_id), row, GRANT_TTL)
        box = seal.encrypt_with(seal.unb64(row["key"]), upstream_refresh, grant["client_id"])
        body["refresh_token"] = f"{grant_id}.{box}"
    return body
