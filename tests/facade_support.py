"""The OAuth proxy's test rig: Azurite, devhost with OAUTH_PROXY=true signing users in at its local authority,
a loopback https server for client metadata documents, and a person who consents and signs in.

The person is a plain HTTP client with a cookie jar: it reads our consent page's form, submits it,
signs in on the local authority's page (tests/signin_support.py), and follows Entra's answer to our
/callback, which sends it on to the MCP client's redirect URI.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from signin_support import page_form, sign_in
from support import Devhost, start_devhost

from devhost import azurite, tls

TENANT = "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b"
API = "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2910"
USER = "adele.vance@example.test"


@dataclass
class Document:
    """What the document server answers on one path."""

    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


class DocumentServer:
    """Client metadata documents over https on 127.0.0.1, with a certificate from devhost's test CA."""

    def __init__(self, files: tls.TlsFiles) -> None:
        self.documents: dict[str, Document] = {}
        self.fetches: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches.append(self.path)
                doc = server.documents.get(self.path, Document(b"{}", 404))
                self.send_response(doc.status)
                for name, value in doc.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(doc.body)))
                self.end_headers()
                self.wfile.write(doc.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(files.cert, files.key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}{path}"

    def publish(self, path: str, document: dict[str, Any] | None = None, **options: Any) -> str:
        """Serve `document` at `path` (its `client_id` defaults to the URL) and return the URL."""
        url = self.url(path)
        body = json.dumps({"client_id": url, **(document or {})}).encode()
        self.documents[path] = Document(body, **options)
        return url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Proxy:
    host: Devhost
    tables: azurite.Azurite
    ca: Path
    documents: DocumentServer

    @property
    def base(self) -> str:
        return self.host.base_url

    @property
    def mcp_url(self) -> str:
        return f"{self.base}/mcp"

    def rows(self) -> list[dict[str, Any]]:
        """Everything the proxy keeps, as Table Storage holds it."""
        from azure.data.tables import TableClient

        with TableClient.from_connection_string(self.tables.connection_string, "mcpoauth") as table:
            return [dict(entity) for entity in table.list_entities()]


@pytest.fixture(scope="module")
def tables() -> Iterator[azurite.Azurite]:
    """Azurite's Table service for a module's tests (a fixture of every test module, via conftest.py)."""
    if reason := azurite.missing():
        pytest.skip(reason)
    served = azurite.start()
    yield served
    served.stop()


@contextmanager
def running_proxy(state: Path, **extra_env: str) -> Iterator[Proxy]:
    if reason := azurite.missing():
        pytest.skip(reason)
    tables = azurite.start()
    files = tls.load_or_create(state)
    documents = DocumentServer(files)
    (state / "local-authority.json").write_text(json.dumps({"tenant_id": TENANT, "client_id": API}))
    env = {
        "DEVHOST_STATE_DIR": str(state),
        "AZURE_TENANT_ID": "",
        "AZURE_CLIENT_SECRET": "",
        "OAUTH_PROXY": "true",
        "OAUTH_PROXY_STORAGE": tables.connection_string,
        "OAUTH_PROXY_CIMD_LOOPBACK": "true",
        # The proxy trusts the test CA for client metadata documents (and nothing else is fetched over https).
        "SSL_CERT_FILE": str(files.ca),
        **extra_env,
    }
    try:
        with start_devhost(env, "--auth", "local") as host:
            yield Proxy(host, tables, files.ca, documents)
    finally:
        documents.stop()
        tables.stop()


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@dataclass
class Journey:
    """What the person saw on the way: our consent page, Entra's redirect, and the client's answer."""

    consent_page: str = ""
    to_entra: str = ""
    to_client: str = ""

    @property
    def answer(self) -> dict[str, str]:
        return query(self.to_client)


def consent_and_sign_in(
    browser: httpx2.Client, authorize_url: str, *, decision: str = "approve", user: str = USER
) -> Journey:
    """Open our /authorize, consent (unless remembered), sign in at the local authority, follow to the client."""
    journey = Journey()
    answer = browser.get(authorize_url)
    if answer.status_code == 200:
        journey.consent_page = answer.text
        action, hidden = page_form(answer.text)
        answer = browser.post(action, data={**hidden, "decision": decision})
    assert answer.status_code == 302, (answer.status_code, answer.text[:500])
    location = answer.headers["location"]
    if "/oauth2/v2.0/authorize" not in location:
        journey.to_client = location
        return journey
    journey.to_entra = location
    outcome = sign_in(location, user, deliver=False)
    assert urlsplit(outcome.redirected_to).path == "/callback", outcome.redirected_to
    back = browser.get(outcome.redirected_to)
    assert back.status_code == 302, (back.status_code, back.text[:500])
    journey.to_client = back.headers["location"]
    return journey
