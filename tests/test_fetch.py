"""Fetching the authority's documents: what is refused, and which CA roots are trusted, loaded when."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import httpx2
import pytest
from graph_fixtures import TlsFiles, make_tls
from support import CLIENT, TENANT

from devhost.authority import LocalAuthority
from shared.auth import fetch
from shared.auth.fetch import HttpFetcher, tls_context
from shared.settings import load_settings

DOCUMENT = {"issuer": "https://login.example/tenant/v2.0"}


def serve(handler: type[BaseHTTPRequestHandler], tls: TlsFiles | None = None) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls.cert, tls.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class Document(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(DOCUMENT).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Redirect(Document):
    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", "http://127.0.0.1:9/elsewhere")
        self.end_headers()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def https_server(tls: TlsFiles) -> Iterator[str]:
    yield from serve(Document, tls)


@pytest.fixture
def redirecting_server() -> Iterator[str]:
    yield from serve(Redirect)


@pytest.fixture
def hashed_roots(tls: TlsFiles, tmp_path: Path) -> Path:
    """A directory holding the test CA under its OpenSSL subject hash, as `c_rehash` names roots."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed (it names roots by subject hash)")
    digest = subprocess.run(
        [openssl, "x509", "-hash", "-noout", "-in", str(tls.ca)], capture_output=True, text=True, check=True
    ).stdout.strip()
    (tmp_path / f"{digest}.0").write_bytes(tls.ca.read_bytes())
    return tmp_path


@pytest.fixture
def no_ca_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


def roots_loaded(context: ssl.SSLContext) -> int:
    return context.cert_store_stats()["x509_ca"]


def test_redirects_are_not_followed(redirecting_server: str) -> None:
    with pytest.raises(ValueError, match="302"):
        HttpFetcher()(f"{redirecting_server}/keys", 1)


@pytest.mark.parametrize(
    "url",
    ["http://login.example.com/tenant", "ftp://127.0.0.1/x", "file:///etc/passwd", "http://10.0.0.1/tenant"],
)
def test_only_https_or_loopback_http_is_fetched(url: str) -> None:
    with pytest.raises(ValueError, match="https"):
        HttpFetcher()(url, 1)
    assert load_settings({"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT, "AZURE_AUTHORITY": url}).problems


def test_plain_http_on_loopback_loads_no_ca_roots(authority: LocalAuthority, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a plain http fetch loaded CA roots")

    monkeypatch.setattr(fetch, "tls_context", refuse)
    for load in ("load_verify_locations", "set_default_verify_paths", "load_default_certs"):
        monkeypatch.setattr(ssl.SSLContext, load, refuse)
    document = HttpFetcher()(f"{authority.authority(TENANT)}/v2.0/.well-known/openid-configuration", 5)
    assert document["issuer"].endswith("/v2.0")


@pytest.mark.usefixtures("no_ca_settings")
def test_roots_of_a_hashed_directory_are_read_only_when_a_handshake_needs_one(
    hashed_roots: Path, https_server: str
) -> None:
    context = tls_context(default_capath=str(hashed_roots))
    assert roots_loaded(context) == 0
    with httpx2.Client(verify=context) as client:
        assert client.get(https_server).json() == DOCUMENT
    assert roots_loaded(context) == 1


@pytest.mark.usefixtures("no_ca_settings")
def test_https_fetch_trusts_the_hashed_directory_named_by_ssl_cert_dir(
    hashed_roots: Path, https_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_DIR", str(hashed_roots))
    assert HttpFetcher()(https_server, 5) == DOCUMENT


@pytest.mark.usefixtures("no_ca_settings")
def test_ssl_cert_file_wins_over_the_default_directory(
    tls: TlsFiles, hashed_roots: Path, https_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca))
    context = tls_context(default_capath=str(hashed_roots.parent / "nowhere"))
    assert roots_loaded(context) == 1  # the file's one root, read at once as httpx2 does
    assert HttpFetcher()(https_server, 5) == DOCUMENT


@pytest.mark.usefixtures("no_ca_settings")
def test_an_untrusted_server_is_refused(tmp_path: Path, https_server: str) -> None:
    """Without the test CA among the roots (no hashed directory: httpx2's choice), the handshake fails."""
    context = tls_context(default_capath=str(tmp_path))
    with httpx2.Client(verify=context) as client, pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY"):
        client.get(https_server)
    with pytest.raises(httpx2.ConnectError):
        HttpFetcher()(https_server, 5)
