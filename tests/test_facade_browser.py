"""The OAuth proxy's consent page and the local authority's sign-in page in headless Chromium: a person allows
an MCP client, signs in, and the client's redirect URI gets our code; the consent is remembered in this
browser only; a denial goes back as access_denied. The pages run under their own policies (no script)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2
import pytest
from browser import needs_chromium
from facade_support import Proxy, query, running_proxy
from playwright.sync_api import Browser, Page
from signin_support import pkce

pytestmark = needs_chromium


class ClientListener:
    """The MCP client's loopback redirect URI: answers every request with a short page."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = b"<!doctype html><title>client</title><p>back at the client</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.redirect_uri = f"http://127.0.0.1:{self.server.server_address[1]}/cb"


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    with running_proxy(tmp_path_factory.mktemp("facade-browser")) as running:
        yield running


@pytest.fixture(scope="module")
def listener() -> Iterator[ClientListener]:
    served = ClientListener()
    yield served
    served.server.shutdown()


def authorize_url(proxy: Proxy, listener: ClientListener, name: str = "Browser test client") -> str:
    registered = httpx2.post(
        f"{proxy.base}/register", json={"redirect_uris": [listener.redirect_uri], "client_name": name}
    )
    params = {
        "response_type": "code",
        "client_id": registered.json()["client_id"],
        "redirect_uri": listener.redirect_uri,
        "state": "browser-state",
        "code_challenge": pkce().challenge,
        "code_challenge_method": "S256",
        "resource": proxy.mcp_url,
        "scope": "user_impersonation offline_access",
    }
    return str(httpx2.URL(f"{proxy.base}/authorize", params=params))


def console_errors(page: Page) -> list[str]:
    found: list[str] = []
    # A missing favicon is the one expected error ("Failed to load resource": 404); a CSP refusal is not that.
    page.on(
        "console",
        lambda message: (
            found.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("pageerror", lambda error: found.append(str(error)))
    return found


def test_a_person_allows_the_client_signs_in_and_the_client_gets_a_code(
    proxy: Proxy, listener: ClientListener, browser: Browser
) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors = console_errors(page)
    url = authorize_url(proxy, listener)

    page.goto(url)
    assert page.get_by_role("heading").inner_text() == "Allow access to the MCP server?"
    assert "Browser test client" in page.content()
    assert page.locator("#redirect-host").inner_text() == listener.redirect_uri.split("/")[2]
    page.get_by_role("button", name="Allow and sign in").click()

    # The local authority's sign-in page (Entra's, in Azure).
    page.wait_for_url("**/oauth2/v2.0/authorize**")
    page.get_by_role("button", name="Adele Vance").click()
    page.wait_for_url(f"{listener.redirect_uri}?**")
    answer = query(page.url)
    assert answer["state"] == "browser-state" and answer["iss"] == proxy.base and len(answer["code"]) >= 40
    assert errors == []

    cookies = {c["name"]: c for c in context.cookies(proxy.base)}
    remembered = cookies["mcp-consent"]
    assert remembered["httpOnly"] and remembered["sameSite"] == "Lax"

    # Remembered for this client and user in this browser: straight to the sign-in.
    again = context.new_page()
    again.goto(url)
    assert "/oauth2/v2.0/authorize" in again.url
    context.close()


def test_another_browser_is_asked_again_and_a_denial_reaches_the_client(
    proxy: Proxy, listener: ClientListener, page: Page
) -> None:
    page.goto(authorize_url(proxy, listener, name="Denied client"))
    page.get_by_role("button", name="Deny").click()
    page.wait_for_url(f"{listener.redirect_uri}?**")
    answer = query(page.url)
    assert answer["error"] == "access_denied" and answer["state"] == "browser-state"


def test_the_consent_page_cannot_be_framed(proxy: Proxy, listener: ClientListener, page: Page) -> None:
    url = authorize_url(proxy, listener, name="Framed client")
    # A page that frames the consent page, as a clickjacker would, and, as a control, a page that may be framed.
    frames = f'<iframe id="consent" src="{url}"></iframe><iframe id="control" src="{listener.redirect_uri}"></iframe>'
    page.route(
        listener.redirect_uri + "/frame",
        lambda route: route.fulfill(status=200, content_type="text/html", body=frames),
    )
    page.goto(listener.redirect_uri + "/frame")
    page.frame_locator("#control").get_by_text("back at the client").wait_for()
    page.wait_for_timeout(500)
    assert page.frame_locator("#consent").get_by_role("button", name="Allow and sign in").count() == 0
