"""The local authority's sign-in page in a real browser (Debian's Chromium under Playwright, as /docs is checked):
it renders under its Content-Security-Policy with nothing refused, a click signs a user in and lands on the
client's redirect URI with a code that redeems, form_post submits itself, and hostile input stays text."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import jwt
import pytest
from browser import needs_chromium
from playwright.sync_api import ConsoleMessage, Page
from signin_support import Pkce, authorize_url, pkce
from support import CLIENT, TENANT

from devhost.authority import LocalAuthority, SigningKey
from devhost.directory import local_directory

APP = "b2c3d4e5-0000-4000-8000-000000000001"


class Callback:
    """The client's redirect URI: a loopback listener recording what the browser brings it."""

    def __init__(self) -> None:
        self.received: list[dict[str, str]] = []
        seen = self.received

        class Handler(BaseHTTPRequestHandler):
            def _record(self, raw: str) -> None:
                if urlsplit(self.path).path == "/callback":  # not the browser's own /favicon.ico
                    seen.append({k: v[0] for k, v in parse_qs(raw).items()})
                body = b"<!doctype html><title>Signed in</title><p>You can close this window.</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._record(urlsplit(self.path).query)

            def do_POST(self) -> None:
                self._record(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/callback"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def entra() -> Iterator[LocalAuthority]:
    clients = [{"client_id": APP, "name": "Browser test app", "redirect_uris": ["http://127.0.0.1/callback"]}]
    with LocalAuthority(SigningKey.generate(), directory=local_directory(TENANT, CLIENT, listed_clients=clients)) as a:
        yield a


@pytest.fixture
def callback() -> Iterator[Callback]:
    served = Callback()
    yield served
    served.close()


def problems_of(page: Page) -> list[str]:
    """Console errors (a style or script the policy refused is one) and uncaught exceptions."""
    found: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            found.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda error: found.append(str(error)))
    return found


def url_for(entra: LocalAuthority, callback: Callback, pair: Pkce, **extra: str) -> str:
    params = {
        "client_id": APP,
        "response_type": "code",
        "redirect_uri": callback.url,
        "scope": f"api://{CLIENT}/user_impersonation openid offline_access",
        "state": "browser-state",
        "code_challenge": pair.challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return authorize_url(entra.url, TENANT, **params)


def redeem(entra: LocalAuthority, callback: Callback, code: str, pair: Pkce) -> httpx2.Response:
    form = {"grant_type": "authorization_code", "client_id": APP, "code": code, "redirect_uri": callback.url}
    return httpx2.post(f"{entra.url}/{TENANT}/oauth2/v2.0/token", data={**form, "code_verifier": pair.verifier})


@needs_chromium
def test_choosing_a_user_lands_on_the_redirect_uri_with_a_code(
    entra: LocalAuthority, callback: Callback, page: Page
) -> None:
    problems, pair = problems_of(page), pkce()
    answer = page.goto(url_for(entra, callback, pair))
    assert answer is not None and answer.status == 200
    policy = answer.headers["content-security-policy"]
    assert policy.startswith("default-src 'none'") and "unsafe" not in policy
    assert "frame-ancestors 'none'" in policy and answer.headers["x-frame-options"] == "DENY"
    assert page.locator("h1").inner_text() == "Sign in to Browser test app"
    # The inline style is applied (its hash is in the policy), so the buttons are laid out full width.
    width = page.locator("button[name=username]").first.evaluate("b => getComputedStyle(b).width")
    assert width == page.locator("form").evaluate("f => getComputedStyle(f).width")
    assert page.locator("button[name=username]").all_inner_texts() == [
        "Local User <local.user@example.test>",
        "Adele Vance <adele.vance@example.test>",
    ]

    with page.expect_navigation(url=lambda url: url.startswith(callback.url)):
        page.get_by_role("button", name="Adele Vance").click()
    assert page.title() == "Signed in"
    (received,) = callback.received
    assert received["state"] == "browser-state"
    assert redeem(entra, callback, received["code"], pair).status_code == 200
    assert problems == []


@needs_chromium
def test_form_post_submits_itself_under_the_policy(entra: LocalAuthority, callback: Callback, page: Page) -> None:
    problems, pair = problems_of(page), pkce()
    page.goto(url_for(entra, callback, pair, response_mode="form_post", login_hint="typed.user@example.test"))
    assert page.locator("#typed").input_value() == "typed.user@example.test"
    with page.expect_navigation(url=callback.url):
        page.locator("#typed").press("Enter")  # signs in as the typed name, not as the first listed user
    (received,) = callback.received
    assert set(received) == {"code", "state", "session_state"}
    tokens = redeem(entra, callback, received["code"], pair).json()
    assert tokens["id_token"] and tokens["refresh_token"]
    signed_in = jwt.decode(tokens["access_token"], options={"verify_signature": False})["preferred_username"]
    assert signed_in == "typed.user@example.test"
    assert problems == []


@needs_chromium
def test_errors_are_shown_and_hostile_input_stays_text(entra: LocalAuthority, callback: Callback, page: Page) -> None:
    hostile = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    problems = problems_of(page)
    page.goto(url_for(entra, callback, pkce(), login_hint=hostile))
    assert page.locator("#typed").input_value() == hostile
    assert page.locator("img, script").count() == 0

    answer = page.goto(url_for(entra, callback, pkce(), redirect_uri=f"https://evil.example/{hostile}"))
    assert answer is not None and answer.status == 400
    assert "AADSTS50011" in page.locator("body").inner_text()
    assert hostile in page.locator("body").inner_text() and page.locator("img, script").count() == 0
    assert page.url.startswith(entra.url) and callback.received == []
    # Chromium logs the page's own 400; nothing else (no refused style, no script) is reported.
    assert [p for p in problems if "status of 400" not in p] == [] and len(problems) == 1


@needs_chromium
def test_cancel_goes_back_to_the_app_with_access_denied(entra: LocalAuthority, callback: Callback, page: Page) -> None:
    page.goto(url_for(entra, callback, pkce()))
    with page.expect_navigation(url=lambda url: url.startswith(callback.url)):
        page.get_by_role("button", name="Cancel").click()
    (received,) = callback.received
    assert received["error"] == "access_denied" and received["error_description"].startswith("AADSTS65004")
