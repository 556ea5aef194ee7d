"""Client ID Metadata Documents: an https `client_id` is the URL of a JSON document describing the client.

Fetching it is an outbound request to a URL an anonymous caller chose, so:
- https only, a path, no user information, fragment or dot segments, at most 2,048 characters;
- the host is resolved once and every address must be public (no loopback, private, link-local,
  reserved or multicast ones), and the connection goes to that checked address (the certificate is
  still checked against the host name), so a second DNS answer cannot swap in an internal address;
- no redirects, 5 s timeout, 5 KiB at most, JSON only;
- the document's `client_id` must equal the URL exactly, and it must list its redirect URIs;
- kept per its `Cache-Control` (at most a day; `no-store`/`no-cache` not kept; 5 minutes without one).

OAUTH_PROXY_CIMD_LOOPBACK=true (development only, refused in production) lets loopback hosts through,
which is how the tests serve documents from a local https server.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from shared.facade.clients import Client, check_redirect_uri, display_name
from shared.facade.errors import OAuthError
from shared.settings import Settings

MAX_URL = 2048
MAX_BYTES = 5 * 1024
TIMEOUT = 5.0
DEFAULT_CACHE_SECONDS = 300
MAX_CACHE_SECONDS = 86400
MAX_AGE = re.compile(r"max-age=(\d+)")
CACHE_ENTRIES = 512


def is_cimd_client_id(client_id: str) -> bool:
    return client_id.startswith("https://")


def _refuse(description: str) -> OAuthError:
    return OAuthError("invalid_client", f"The client metadata document cannot be used: {description}", 400)


def check_url(url: str) -> tuple[str, int]:
    if len(url) > MAX_URL:
        raise _refuse("its URL is too long.")
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise _refuse("its URL must be https.")
    if parts.username or parts.password or parts.fragment or "#" in url:
        raise _refuse("its URL may carry no user information or fragment.")
    if parts.path in ("", "/") or any(seg in (".", "..") for seg in parts.path.split("/")):
        raise _refuse("its URL needs a path without dot segments.")
    try:
        port = parts.port or 443
    except ValueError as exc:
        raise _refuse("its URL has a malformed port.") from exc
    return parts.hostname, port


def address_allowed(address: str, allow_loopback: bool) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return allow_loopback
    return ip.is_global and not ip.is_multicast


def resolve(host: str, port: int, allow_loopback: bool) -> str:
    """The one address to connect to, every address of the host checked first."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _refuse("its host does not resolve.") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses or not all(address_allowed(a, allow_loopback) for a in addresses):
        raise _refuse("its host resolves to an address that is not public.")
    return addresses[0]


def cache_seconds(header: str | None) -> int:
    if not header:
        return DEFAULT_CACHE_SECONDS
    lowered = header.lower()
    if "no-store" in lowered or "no-cache" in lowered or "private" in lowered:
        return 0
    found = MAX_AGE.search(lowered)
    return min(int(found.group(1)), MAX_CACHE_SECONDS) if found else DEFAULT_CACHE_SECONDS


def parse_document(url: str, raw: bytes) -> Client:
    try:
        document: Any = json.loads(raw)
    except ValueError as exc:
        raise _refuse("it is not JSON.") from exc
    if not isinstance(document, dict):
        raise _refuse("it is not a JSON object.")
    if document.get("client_id") != url:
        raise _refuse("its client_id is not the URL it was fetched from.")
    if document.get("token_endpoint_auth_method", "none") != "none":
        raise _refuse("only public clients (token_endpoint_auth_method none) are supported.")
    uris = document.get("redirect_uris")
    if not isinstance(uris, list) or not uris or len(uris) > 10:
        raise _refuse("it must list between 1 and 10 redirect_uris.")
    checked = tuple(check_redirect_uri(u) for u in uris)
    host = urlsplit(url).hostname or url
    return Client(url, display_name(document.get("client_name"), host), checked, "cimd")


class CimdFetcher:
    def __init__(self, settings: Settings) -> None:
        self.allow_loopback = settings.proxy_cimd_loopback and not settings.production
        self._cache: dict[str, tuple[float, Client]] = {}
        self._lock = threading.Lock()
        self._http: Any = None

    def client(self, url: str) -> Client:
        now = time.monotonic()
        with self._lock:
            kept = self._cache.get(url)
            if kept is not None and kept[0] > now:
                return kept[1]
        client, keep = self._fetch(url)
        if keep:
            with self._lock:
                if len(self._cache) >= CACHE_ENTRIES:
                    self._cache.clear()
                self._cache[url] = (now + keep, client)
        return client

    def _fetch(self, url: str) -> tuple[Client, int]:
        import httpx2

        host, port = check_url(url)
        address = resolve(host, port, self.allow_loopback)
        parts = urlsplit(url)
        pinned = f"https://{'[' + address + ']' if ':' in address else address}:{port}{parts.path}"
        if parts.query:
            pinned += f"?{parts.query}"
        try:
            with self._client().stream(
                "GET",
                pinned,
                headers={"Host": parts.netloc, "Accept": "application/json"},
                extensions={"sni_hostname": host},
            ) as answer:
                if answer.status_code != 200:
                    kind = "redirects" if 300 <= answer.status_code < 400 else f"answered HTTP {answer.status_code}"
                    raise _refuse(f"it {kind}.")
                if "json" not in answer.headers.get("content-type", ""):
                    raise _refuse("it is not served as JSON.")
                declared = answer.headers.get("content-length")
                if declared is not None and (not declared.isdigit() or int(declared) > MAX_BYTES):
                    raise _refuse("it is larger than 5 KiB.")
                body = b""
                for chunk in answer.iter_bytes():
                    body += chunk
                    if len(body) > MAX_BYTES:
                        raise _refuse("it is larger than 5 KiB.")
                keep = cache_seconds(answer.headers.get("cache-control"))
        except httpx2.HTTPError as exc:
            raise _refuse(f"it could not be fetched ({type(exc).__name__}).") from exc
        return parse_document(url, body), keep

    def _client(self) -> Any:
        if self._http is None:
            import httpx2

            from shared.auth.fetch import tls_context

            self._http = httpx2.Client(verify=tls_context(), follow_redirects=False, timeout=TIMEOUT, trust_env=False)
        return self._http
