"""`/docs` in a real browser: Debian's Chromium, driven by Playwright, loads the page from a local server
under its Content-Security-Policy, fetches `/openapi.json` and renders every route as an operation."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from browser import needs_chromium
from playwright.sync_api import ConsoleMessage, Page
from support import DEVHOST_MODES, start_devhost

from shared.web.docs_page import DOCS_ASSETS, docs_asset

OPERATIONS = {
    "/health": "get",
    "/mcp": "post",
    "/echo": "post",
    "/me": "get",
    "/.well-known/oauth-protected-resource": "get",
    "/.well-known/oauth-protected-resource/mcp": "get",
    "/.well-known/oauth-protected-resource/echo": "get",
    "/openapi.json": "get",
    "/.well-known/oauth-authorization-server": "get",
    "/register": "post",
    "/authorize": "get",
    "/consent": "post",
    "/callback": "get",
    "/token": "post",
    "/docs": "get",
}


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - a loopback URL of our own
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), refused.read()


@pytest.fixture(scope="module", params=DEVHOST_MODES)
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    """devhost serving the real function_app.py, authentication off: on its adapter, and on Azure's worker."""
    with start_devhost({}, "--auth", "off", mode=request.param) as host:
        yield host.base_url


def _problems(page: Page) -> list[str]:
    """Console errors (a refused inline script or style is one) and uncaught exceptions, collected as they come."""
    found: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            found.append(f"console: {message.text}")

    page.on("console", console)
    page.on("pageerror", lambda error: found.append(f"page error: {error}"))
    return found


@needs_chromium
def test_the_page_loads_the_document_and_lists_every_route(page: Page, server: str) -> None:
    problems = _problems(page)
    with page.expect_response(lambda r: urlsplit(r.url).path == "/openapi.json") as spec:
        answer = page.goto(f"{server}/docs")
    assert answer is not None and answer.status == 200
    policy = answer.headers.get("content-security-policy", "")
    assert policy.startswith("default-src 'none'") and "unsafe" not in policy
    assert spec.value.status == 200

    page.wait_for_selector(".opblock-summary-path")
    assert "Remote MCP server" in page.locator(".info .title").inner_text()
    shown: dict[str, str] = {}
    for block in page.locator(".opblock").all():
        # Swagger UI breaks long paths with zero-width spaces.
        path = block.locator(".opblock-summary-path").inner_text().replace("\u200b", "").strip()
        shown[path] = block.locator(".opblock-summary-method").inner_text().strip().lower()
    assert shown == OPERATIONS
    assert page.locator("button.authorize").is_visible()
    redirect = page.evaluate("window.ui.getConfigs().oauth2RedirectUrl")
    assert redirect == f"{server}/docs/oauth2-redirect.html"

    # The JSON-RPC request body renders, with its examples to pick from.
    mcp = page.locator("#operations-mcp-mcp")
    mcp.locator(".opblock-summary").click()
    examples = mcp.locator(".examples-select select option")
    examples.first.wait_for(state="attached")
    assert "Call the echo tool" in examples.all_inner_texts()
    assert '"method": "initialize"' in mcp.locator(".opblock-section-request-body").inner_text()
    assert problems == []


@needs_chromium
def test_try_it_out_reaches_the_api_under_the_policy(page: Page, server: str) -> None:
    problems = _problems(page)
    page.goto(f"{server}/docs#/service/health")
    operation = page.locator("#operations-service-health")
    operation.locator(".try-out__btn").click()
    with page.expect_response(lambda r: urlsplit(r.url).path == "/health") as health:
        operation.locator(".execute").click()
    assert health.value.status == 200
    assert operation.locator(".live-responses-table tbody .response-col_status").first.inner_text().strip() == "200"
    assert problems == []


# The routes behind the page, without a browser: they check the host's wiring as much as shared/web/openapi.py.


def test_every_asset_is_served_with_its_type_and_nothing_else(server: str) -> None:
    for name in DOCS_ASSETS:
        expected = docs_asset(name)
        assert expected is not None
        status, headers, body = _get(f"{server}/docs/{name}")
        assert (status, headers.get("content-type"), body) == (200, expected[1], expected[0]), name
    for name in ("nope.js", "swagger-ui.js", "index.html", "..%2Fopenapi.py", "%2e%2e%2f%2e%2e%2fhost.json"):
        assert _get(f"{server}/docs/{name}")[0] == 404, name


def test_the_document_is_served_as_json(server: str) -> None:
    status, headers, body = _get(f"{server}/openapi.json")
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert body.startswith(b"{") and b'"openapi":' in body
