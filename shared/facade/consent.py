"""Remembered consent: per client, redirect URI and user, in the store; the browser's claim to a user, in a cookie.

After a consented sign-in, a row (client, redirect URI, user) is kept for 30 days, and the browser gets a
signed cookie naming the user and the clients it consented to. A later authorization request from that
browser, for one of those clients, skips the page; Entra still signs the user in, and the callback
refuses the sign-in if Entra's user is not the cookie's (the consent was someone else's). The cookie is
`__Host-` prefixed, Secure, HttpOnly, SameSite=Lax, HMAC-signed and bound to the client ids it lists.
Its key is a random value kept in the store (the only key there): with it one could forge a cookie, and
so skip a page, never sign in as anyone.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import time

from shared.facade import seal, store

COOKIE = "mcp-consent"
CONSENT_TTL = 30 * 24 * 3600
MAX_CLIENTS = 10
KEY_TTL = 10 * 365 * 24 * 3600


def _row(client_id: str, redirect_uri: str, user: str) -> str:
    return seal.digest(f"{client_id}\n{redirect_uri}\n{user}")


def remember(st: store.Store, client_id: str, redirect_uri: str, user: str) -> None:
    st.put(store.CONSENTS, _row(client_id, redirect_uri, user), {}, CONSENT_TTL)


def remembered(st: store.Store, client_id: str, redirect_uri: str, user: str) -> bool:
    return st.get(store.CONSENTS, _row(client_id, redirect_uri, user)) is not None


def _key(st: store.Store) -> bytes:
    kept = st.get(store.KEYS, "consent-cookie")
    if kept is None:
        with contextlib.suppress(KeyError):  # another instance made it first
            st.put(store.KEYS, "consent-cookie", {"key": seal.new_secret(32)}, KEY_TTL, create=True)
        kept = st.get(store.KEYS, "consent-cookie")
    if kept is None:
        raise store.StoreUnavailable("no consent cookie key")
    return str(kept["key"]).encode()


def _mac(key: bytes, payload: str) -> str:
    return seal.b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def make_cookie(st: store.Store, user: str, client_id: str, previous: str | None) -> str:
    clients = [seal.digest(client_id)]
    earlier = read_cookie(st, previous) if previous else None
    if earlier is not None and earlier[0] == user:
        clients += [c for c in earlier[1] if c != clients[0]][: MAX_CLIENTS - 1]
    payload = seal.b64(json.dumps({"u": user, "c": clients, "exp": int(time.time()) + CONSENT_TTL}).encode())
    return f"{payload}.{_mac(_key(st), payload)}"


def read_cookie(st: store.Store, value: str | None) -> tuple[str, list[str]] | None:
    if not value or value.count(".") != 1 or len(value) > 4096:
        return None
    payload, mac = value.split(".")
    if not hmac.compare_digest(_mac(_key(st), payload), mac):
        return None
    try:
        data = json.loads(seal.unb64(payload))
    except ValueError:
        return None
    if not isinstance(data, dict) or int(data.get("exp", 0)) < time.time():
        return None
    return str(data["u"]), [str(c) for c in data.get("c", [])]


def cookie_user_for(st: store.Store, value: str | None, client_id: str, redirect_uri: str) -> str | None:
    """The user this browser consented as, for this client and redirect URI, or None (show the page)."""
    read = read_cookie(st, value)
    if read is None or seal.digest(client_id) not in read[1]:
        return None
    user = read[0]
    return user if remembered(st, client_id, redirect_uri, user) else None
