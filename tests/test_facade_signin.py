"""Any MCP client signs in through the OAuth proxy (OAUTH_PROXY=true): the MCP Python SDK's own OAuth client,
registering by DCR and by a client metadata document (CIMD), then calling tools and refreshing.

Upstream is devhost's local authority, which signs the user in as Entra's v2 endpoints do; the proxy's
state is in Azurite. Nothing here is a mock of the proxy's own parts.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import jwt
import pytest
from facade_support import API, TENANT, USER, Proxy, consent_and_sign_in, query, running_proxy
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientMetadata
from signin_support import MemoryStorage

REDIRECT = "http://127.0.0.1:33419/callback"


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    with running_proxy(tmp_path_factory.mktemp("facade")) as running:
        yield running


class Person:
    """The SDK's redirect and callback handlers: someone who consents and signs in, in a browser with cookies."""

    def __init__(self, proxy: Proxy) -> None:
        self.browser = httpx2.Client(base_url=proxy.base, timeout=30)
        self.authorize_urls: list[str] = []
        self.pages: list[str] = []
        self.result: AuthorizationCodeResult | None = None

    async def redirect(self, url: str) -> None:
        self.authorize_urls.append(url)
        journey = await asyncio.to_thread(consent_and_sign_in, self.browser, url)
        self.pages.append(journey.consent_page)
        assert journey.to_client.startswith(REDIRECT), journey.to_client
        answer = journey.answer
        self.result = AuthorizationCodeResult(code=answer["code"], state=answer.get("state"), iss=answer.get("iss"))

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None
        return self.result


def provider(proxy: Proxy, storage: MemoryStorage, person: Person, cimd_url: str | None = None) -> OAuthClientProvider:
    metadata = OAuthClientMetadata(
        redirect_uris=[REDIRECT],  # type: ignore[list-item]
        grant_types=["authorization_code", "refresh_token"],
        client_name="SDK test client",
        token_endpoint_auth_method="none",
    )
    return OAuthClientProvider(
        proxy.mcp_url,
        metadata,
        storage,
        redirect_handler=person.redirect,
        callback_handler=person.callback,
        client_metadata_url=cimd_url,
    )


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


async def sign_in_and_call(proxy: Proxy, cimd_url: str | None = None) -> tuple[MemoryStorage, Person]:
    storage, person = MemoryStorage(), Person(proxy)
    auth = provider(proxy, storage, person, cimd_url)
    async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
        async with Client(streamable_http_client(proxy.mcp_url, http_client=http)) as client:
            added = await client.call_tool("add", {"a": 2, "b": 3})
            me = await client.call_tool("whoami", {})
        assert not added.is_error and added.structured_content == {"result": 5}
        assert USER in str(me.content)
        first = storage.tokens
        assert first is not None and first.refresh_token

        # Refresh: the access token runs out, the SDK redeems our refresh token, and the proxy renews at Entra.
        auth.context.token_expiry_time = time.time() - 1
        async with Client(streamable_http_client(proxy.mcp_url, http_client=http)) as client:
            again = await client.call_tool("multiply", {"a": 6, "b": 7})
        assert again.structured_content == {"result": 42}
        second = storage.tokens
        assert second is not None and second.access_token != first.access_token
        assert second.refresh_token and second.refresh_token != first.refresh_token
    assert len(person.authorize_urls) == 1, "the refresh needed no second sign-in"

    # Rotation: the first refresh token is spent.
    assert storage.client is not None
    reused = httpx2.post(
        f"{proxy.base}/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": first.refresh_token,
            "client_id": storage.client.client_id,
        },
    )
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    return storage, person


async def test_the_sdk_registers_by_dcr_signs_in_calls_tools_and_refreshes(proxy: Proxy) -> None:
    storage, person = await sign_in_and_call(proxy)
    assert storage.client is not None and storage.client.client_id.startswith("mcp-")
    url = httpx2.URL(person.authorize_urls[0])
    # The SDK found us through the protected-resource metadata, and asked us, not Entra.
    assert str(url).startswith(f"{proxy.base}/authorize?")
    assert url.params["code_challenge_method"] == "S256" and url.params["resource"] == proxy.mcp_url
    # The consent page named the client and where the answer goes.
    assert "SDK test client" in person.pages[0] and "127.0.0.1:33419" in person.pages[0]
    token_claims = claims(storage.tokens.access_token)  # type: ignore[union-attr]
    # Entra's own token for our API: the existing validator accepts it; `azp` is the proxy's app registration.
    assert token_claims["aud"] == API and token_claims["azp"] == API and token_claims["tid"] == TENANT
    assert token_claims["preferred_username"] == USER


async def test_the_sdk_signs_in_with_a_client_metadata_document(proxy: Proxy) -> None:
    cimd_url = proxy.documents.publish(
        "/clients/sdk.json",
        {"client_name": "SDK via CIMD", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"},
        headers={"Content-Type": "application/json", "Cache-Control": "max-age=600"},
    )
    storage, person = await sign_in_and_call(proxy, cimd_url)
    assert storage.client is not None and storage.client.client_id == cimd_url
    assert "SDK via CIMD" in person.pages[0] and cimd_url in person.pages[0]
    assert proxy.documents.fetches.count("/clients/sdk.json") == 1, "kept per its Cache-Control"


def test_remembered_consent_skips_the_page_for_the_same_client_and_user(proxy: Proxy) -> None:
    registered = httpx2.post(f"{proxy.base}/register", json={"redirect_uris": [REDIRECT], "client_name": "Again"})
    client_id = registered.json()["client_id"]
    browser = httpx2.Client(base_url=proxy.base, timeout=30)
    from signin_support import pkce

    def authorize() -> str:
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "state": "s1",
            "code_challenge": pkce().challenge,
            "code_challenge_method": "S256",
            "resource": proxy.mcp_url,
        }
        return str(httpx2.URL(f"{proxy.base}/authorize", params=params))

    first = consent_and_sign_in(browser, authorize())
    assert first.consent_page and "code" in first.answer
    second = consent_and_sign_in(browser, authorize())
    assert not second.consent_page and "code" in second.answer and second.answer["iss"] == proxy.base
    # Another browser (no cookie) is asked again.
    fresh = consent_and_sign_in(httpx2.Client(base_url=proxy.base, timeout=30), authorize())
    assert fresh.consent_page
    assert query(fresh.to_client)["state"] == "s1"


def test_nothing_in_the_store_is_in_clear(proxy: Proxy) -> None:
    rows = proxy.rows()
    kinds = {row["PartitionKey"] for row in rows}
    assert {"client", "consent", "grant"} <= kinds
    for row in rows:
        text = str(row)
        # No token or refresh token of Entra's (JWTs start eyJ; the local authority's refresh tokens are opaque
        # but never stored: grants hold only a key), no code, no verifier.
        assert "eyJ" not in text
        data = set(json.loads(row["Data"]))
        if row["PartitionKey"] in ("code", "grant") and row["Spent"]:
            assert data == {"family"}  # what a used code or refresh token leaves, for replay detection
        elif row["PartitionKey"] in ("code", "state", "txn"):
            assert data == {"sealed"}
        elif row["PartitionKey"] == "grant":
            assert data == {"key", "client_id", "api_scopes", "scopes", "user", "family"}


def test_the_devhost_log_shows_no_code_or_token(proxy: Proxy) -> None:
    # Run after the sign-ins above: their requests are in the log by now.
    lines = proxy.host.output().splitlines()
    printed = [line for line in lines if line.startswith("eyJ")]  # devhost's own start-up token, printed once
    assert len(printed) == 1
    logged = "\n".join(line for line in lines if line not in printed)
    assert "eyJ" not in logged and "code=" not in logged and "refresh_token" not in logged
