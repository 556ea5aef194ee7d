"""GETs of the authority's discovery documents and key set: no redirects, and TLS set up only when used.

Over httpx2, the MCP SDK's HTTP client (the SDK imports it anyway). The cost that matters here is
a cold start's: the first token waits for these fetches, so nothing is built before it is needed.
"""

from __future__ import annotations

import os
import re
import ssl
import sys
from typing import Any
from urllib.parse import urlsplit

from shared.settings import check_fetch_url

# How OpenSSL names the roots of a hashed CA directory (`c_rehash`, Debian's update-ca-certificates).
HASHED_NAME = re.compile(r"[0-9a-f]{8}\.\d+")


def tls_context(default_capath: str | None = None) -> ssl.SSLContext:
    """A verifying context that trusts what httpx2 would, loading a CA root only when a handshake needs it.

    SSL_CERT_FILE and SSL_CERT_DIR win, as in httpx2. Without them, httpx2 has OpenSSL parse its
    whole CA file on Linux: some 140 roots and about 20 ms of CPU at every cold start, for a
    handshake that needs one. The hashed directory beside that file (Debian's /etc/ssl/certs,
    which the Functions images use) holds the same roots, looked up by subject when needed.
    Elsewhere (Windows, macOS, no hashed directory), httpx2's own choice. `default_capath`
    stands in for OpenSSL's default directory.
    """
    import httpx2

    if not os.environ.get("SSL_CERT_FILE") and not os.environ.get("SSL_CERT_DIR") and sys.platform == "linux":
        capath = default_capath or ssl.get_default_verify_paths().openssl_capath
        if _is_hashed_directory(capath):
            return ssl.create_default_context(capath=capath)
    return httpx2.create_ssl_context(trust_env=True)


def _is_hashed_directory(path: str) -> bool:
    try:
        return any(HASHED_NAME.fullmatch(entry.name) for entry in os.scandir(path))
    except OSError:
        return False


def _plain_http_only() -> ssl.SSLContext:
    # Plain http (a loopback authority in development) never needs TLS; should a proxy ask for it
    # anyway, this context trusts no root, so it fails closed.
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


class HttpFetcher:
    """GETs JSON documents without following redirects (a redirect could lead anywhere).

    One client per scheme, made on first use, so it sees the environment's proxy and CA settings
    as they are then; the https one alone loads CA roots.
    """

    def __init__(self) -> None:
        self._clients: dict[str, Any] = {}

    def __call__(self, url: str, timeout: float) -> Any:
        if reason := check_fetch_url(url):
            raise ValueError(reason)
        response = self._client(urlsplit(url).scheme).get(url, timeout=timeout)
        if response.status_code != 200:
            raise ValueError(f"{url} answered HTTP {response.status_code}")
        return response.json()

    def _client(self, scheme: str) -> Any:
        client = self._clients.get(scheme)
        if client is None:
            import httpx2

            verify = tls_context() if scheme == "https" else _plain_http_only()
            client = httpx2.Client(verify=verify, follow_redirects=False, headers={"Accept": "application/json"})
            self._clients[scheme] = client
        return client
