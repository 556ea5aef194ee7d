"""MCP clients as the facade knows them: registered (DCR) or described by their metadata document (CIMD).

Redirect URIs: `https` (no fragment), `http` on a loopback host only, or a private-use scheme
(`cursor://...`, RFC 8252 section 7.1); schemes a browser would run or read locally are refused.
They are compared exactly, except that a loopback `http` URI matches on any port (RFC 8252 section 7.3).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from shared.facade import seal, store
from shared.facade.errors import OAuthError

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
REFUSED_SCHEMES = frozenset(
    {"javascript", "data", "file", "vbscript", "blob", "about", "ftp", "ws", "wss", "filesystem", "view-source"}
)
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]{1,40}$")
MAX_REDIRECT_URI = 512
MAX_REDIRECT_URIS = 10
MAX_NAME = 100


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    redirect_uris: tuple[str, ...]
    kind: str  # "dcr" or "cimd"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Client:
        return cls(str(data["client_id"]), str(data["name"]), tuple(data["redirect_uris"]), str(data["kind"]))

    def redirect_allowed(self, given: str) -> bool:
        return any(redirect_matches(registered, given) for registered in self.redirect_uris)


def check_redirect_uri(uri: object) -> str:
    """A redirect URI a client may register, or OAuthError(invalid_redirect_uri)."""
    if not isinstance(uri, str) or not uri or len(uri) > MAX_REDIRECT_URI or any(c.isspace() for c in uri):
        raise OAuthError("invalid_redirect_uri", "A redirect URI must be a URL of at most 512 characters.")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - a malformed port raises here
    except ValueError as exc:
        raise OAuthError("invalid_redirect_uri", "A redirect URI is not a valid URL.") from exc
    scheme = parts.scheme.lower()
    if parts.fragment or "#" in uri or parts.username or parts.password:
        raise OAuthError("invalid_redirect_uri", "A redirect URI may carry no fragment and no user information.")
    if scheme == "https" and parts.hostname:
        return uri
    if scheme == "http":
        if parts.hostname in LOOPBACK:
            return uri
        raise OAuthError("invalid_redirect_uri", "Plain http redirect URIs are accepted on loopback hosts only.")
    if SCHEME.match(scheme) and scheme not in REFUSED_SCHEMES and scheme != "https":
        return uri
    raise OAuthError("invalid_redirect_uri", "That redirect URI scheme is not accepted.")


def redirect_matches(registered: str, given: str) -> bool:
    if registered == given:
        return True
    reg, got = urlsplit(registered), urlsplit(given)
    if reg.scheme != "http" or got.scheme != "http" or reg.hostname not in LOOPBACK:
        return False
    try:
        got.port  # noqa: B018
    except ValueError:
        return False
    if got.fragment or got.username or got.password:
        return False
    return (reg.hostname, reg.path or "/", reg.query) == (got.hostname, got.path or "/", got.query)


def display_name(value: object, fallback: str) -> str:
    if not isinstance(value, str) or not value.strip():
        return fallback
    # Shown on the consent page (escaped there); control characters and length are cut here.
    cleaned = "".join(c for c in value if c.isprintable()).strip()
    return cleaned[:MAX_NAME] or fallback


def save(st: store.Store, client: Client, ttl: float) -> None:
    st.put(store.CLIENTS, seal.digest(client.client_id), client.to_dict(), ttl)


def load(st: store.Store, client_id: str) -> Client | None:
    data = st.get(store.CLIENTS, seal.digest(client_id))
    return None if data is None else Client.from_dict(data)
