"""Sign-in discovery from a page of another origin, in Debian's Chromium: what a browser-based MCP client
(the Inspector's page, a web app) does before it can sign in. Sync Playwright, so in a module of its own."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
from browser import needs_chromium
from playwright.sync_api import Page
from support import CLIENT, DEVHOST_MODES, TENANT, start_devhost

from devhost.authority import LocalAuthority, SigningKey


@pytest.fixture(scope="module", params=DEVHOST_MODES)
def devhost(request: pytest.FixtureRequest) -> Iterator[str]:
    with LocalAuthority(SigningKey.generate()) as issuer:
        env = {"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT, "AZURE_AUTHORITY": issuer.authority(TENANT)}
        with start_devhost(env, "--auth", "entra", mode=request.param) as host:
            yield host.base_url


@needs_chromium
@pytest.mark.parametrize("resource", ["/mcp", ""])
def test_a_page_of_another_origin_reads_the_protected_resource_metadata(
    devhost: str, page: Page, resource: str
) -> None:
    """The SDK's `MCP-Protocol-Version` header makes Chromium ask with OPTIONS first; both answers allow it."""
    assert "127.0.0.1" in devhost
    page.goto(devhost.replace("127.0.0.1", "localhost") + "/health")  # another origin, the same server
    found = page.evaluate(
        """async (url) => {
            const answer = await fetch(url, {headers: {"MCP-Protocol-Version": "2025-11-25"}});
            return {status: answer.status, body: await answer.json()};
        }""",
        f"{devhost}/.well-known/oauth-protected-resource{resource}",
    )
    assert found["status"] == 200 and found["body"]["resource"] == f"{devhost}{resource}"
    preflight = httpx2.request("OPTIONS", f"{devhost}/.well-known/oauth-protected-resource{resource}")
    assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == "*"
