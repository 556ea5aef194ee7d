"""RFC 7591 Dynamic Client Registration, for the clients that still use it (2026-07-28 deprecates it for CIMD).

Public clients only (`token_endpoint_auth_method: none`, PKCE protecting their codes), the
authorization-code and refresh grants only. Limits: a 8 KiB body, 10 redirect URIs, names of 100
characters, and OAUTH_PROXY_REGISTRATIONS_PER_MINUTE registrations a minute across all instances
(429 beyond). A registration unused for 30 days is purged; its client signs up again.
"""

from __future__ import annotations

import json
import time
from typing import Any

from shared.facade import store
from shared.facade.clients import MAX_REDIRECT_URIS, Client, check_redirect_uri, display_name, save
from shared.facade.errors import OAuthError
from shared.facade.seal import new_secret

MAX_BODY = 8 * 1024
REGISTRATION_TTL = 30 * 24 * 3600
GRANTS = frozenset({"authorization_code", "refresh_token"})


def _invalid(description: str) -> OAuthError:
    return OAuthError("invalid_client_metadata", description)


def parse(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_BODY:
        raise _invalid("The registration request is larger than 8 KiB.")
    try:
        metadata = json.loads(body)
    except ValueError as exc:
        raise _invalid("The registration request is not JSON.") from exc
    if not isinstance(metadata, dict):
        raise _invalid("The registration request must be a JSON object.")
    return metadata


def register(st: store.Store, body: bytes, per_minute: int) -> dict[str, Any]:
    metadata = parse(body)
    uris = metadata.get("redirect_uris")
    if not isinstance(uris, list) or not uris:
        raise OAuthError("invalid_redirect_uri", "redirect_uris must list at least one redirect URI.")
    if len(uris) > MAX_REDIRECT_URIS:
        raise OAuthError("invalid_redirect_uri", f"At most {MAX_REDIRECT_URIS} redirect URIs may be registered.")
    checked = tuple(dict.fromkeys(check_redirect_uri(u) for u in uris))
    method = metadata.get("token_endpoint_auth_method", "none")
    if method != "none":
        raise _invalid("Only public clients are registered here: token_endpoint_auth_method must be none.")
    grants = metadata.get("grant_types", ["authorization_code", "refresh_token"])
    if not isinstance(grants, list) or not set(grants) <= GRANTS or "authorization_code" not in grants:
        raise _invalid("grant_types may name authorization_code and refresh_token only.")
    if metadata.get("response_types", ["code"]) != ["code"]:
        raise _invalid("response_types must be [code].")

    # Counted before anything is stored: a flood costs a counter update per request and no rows.
    minute = int(time.time() // 60)
    if st.count(store.RATES, f"register-{minute}", 120) > per_minute:
        raise OAuthError("too_many_requests", "Too many clients registered this minute; retry shortly.", 429)

    client = Client(
        f"mcp-{new_secret(18)}", display_name(metadata.get("client_name"), "Unnamed client"), checked, "dcr"
    )
    save(st, client, REGISTRATION_TTL)
    return {
        "client_id": client.client_id,
        "client_id_issued_at": int(time.time()),
        "client_name": client.name,
        "redirect_uris": list(client.redirect_uris),
        "grant_types": sorted(set(grants), key=["authorization_code", "refresh_token"].index),
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }
