"""Signing in against devhost with no token given, as real clients do: the MCP Python SDK's own OAuth client,
and `python -m client --auth interactive` (azure-identity and MSAL), each with its browser step automated.

devhost runs as a user runs it (a subprocess), with a client of our own listed in its settings.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata
from signin_support import MemoryStorage, browser_command, sign_in
from support import start_devhost

ROOT = Path(__file__).resolve().parent.parent
TENANT = "5a1c3e7f-2b4d-4f6a-8c9e-0b1d2f3a4c5e"
API = "9c8b7a6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
SDK_CLIENT = "2d4f6a8c-0e1a-4c3e-9f5b-7d9e1f3a5c7e"
SDK_REDIRECT = "http://127.0.0.1:33418/callback"


@dataclass
class SignInHost:
    """devhost with its local authority, as a client finds it: by http (the SDK) and by https (MSAL)."""

    base: str
    authority: str
    tls_authority: str
    state: Path

    @property
    def mcp_url(self) -> str:
        return f"{self.base}/mcp"


@pytest.fixture(scope="module")
def devhost(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignInHost]:
    state = tmp_path_factory.mktemp("signin-devhost")
    settings = {
        "tenant_id": TENANT,
        "client_id": API,
        "clients": [
            {"client_id": SDK_CLIENT, "name": "SDK test client", "redirect_uris": ["http://127.0.0.1/callback"]}
        ],
    }
    (state / "local-authority.json").write_text(json.dumps(settings))
    env = {"DEVHOST_STATE_DIR": str(state), "AZURE_TENANT_ID": "", "REQUIRED_SCOPES": "user_impersonation"}
    with start_devhost(env, "--auth", "local") as host:
        lines = host.output().splitlines()
        assert any(line.startswith("Sign-in (MSAL") for line in lines), "devhost printed no sign-in line"
        authority = next(line for line in lines if "local authority at" in line).split(" at ")[1].split()[0]
        tls_authority = next(line for line in lines if line.startswith("Sign-in (MSAL")).split(": ")[1].split(",")[0]
        yield SignInHost(
            host.base_url, authority.removesuffix(f"/{TENANT}"), tls_authority.removesuffix(f"/{TENANT}"), state
        )


class Person:
    """The SDK's redirect and callback handlers: the person who signs in on the page the SDK opens."""

    def __init__(self) -> None:
        self.authorize_urls: list[str] = []
        self.result: AuthorizationCodeResult | None = None

    async def redirect(self, url: str) -> None:
        self.authorize_urls.append(url)
        outcome = await asyncio.to_thread(sign_in, url, "adele.vance@example.test", deliver=False)
        assert outcome.redirected_to.startswith(SDK_REDIRECT)
        self.result = AuthorizationCodeResult(code=outcome.fields["code"], state=outcome.fields.get("state"))

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None
        return self.result


def sdk_client() -> OAuthClientInformationFull:
    return OAuthClientInformationFull(
        client_id=SDK_CLIENT,
        redirect_uris=[SDK_REDIRECT],  # type: ignore[list-item]
        token_endpoint_auth_method="none",
        grant_types=["authorization_code", "refresh_token"],
    )


def sdk_provider(devhost: SignInHost, storage: MemoryStorage, person: Person) -> OAuthClientProvider:
    """The MCP SDK's OAuth client, pre-registered as SDK_CLIENT, signing in as `person`."""
    return OAuthClientProvider(
        devhost.mcp_url,
        OAuthClientMetadata(redirect_uris=[SDK_REDIRECT], grant_types=["authorization_code", "refresh_token"]),  # type: ignore[list-item]
        storage,
        redirect_handler=person.redirect,
        callback_handler=person.callback,
    )


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


async def test_the_sdk_signs_in_calls_a_tool_and_refreshes(devhost: SignInHost) -> None:
    storage, person = MemoryStorage(sdk_client()), Person()
    provider = sdk_provider(devhost, storage, person)
    async with httpx2.AsyncClient(auth=provider, timeout=30) as http:
        async with Client(streamable_http_client(devhost.mcp_url, http_client=http)) as client:
            added = await client.call_tool("add", {"a": 2, "b": 3})
            me = await client.call_tool("whoami", {})
        assert not added.is_error and added.structured_content == {"result": 5}
        # PRM -> the authority's metadata -> authorize, with PKCE S256 and the RFC 8707 resource.
        (url,) = person.authorize_urls
        assert url.startswith(f"{devhost.authority}/{TENANT}/oauth2/v2.0/authorize?")
        query = httpx2.URL(url).params
        assert query["code_challenge_method"] == "S256" and query["resource"] == devhost.mcp_url
        assert query["scope"] == f"api://{API}/user_impersonation offline_access"
        first = storage.tokens
        assert first is not None and first.refresh_token
        token_claims = claims(first.access_token)
        assert token_claims["azp"] == SDK_CLIENT and token_claims["scp"] == "user_impersonation"
        assert token_claims["preferred_username"] == "adele.vance@example.test"
        assert "adele.vance@example.test" in str(me.content)

        # The refresh path: the access token runs out, the SDK redeems its refresh token (no sign-in page).
        provider.context.token_expiry_time = time.time() - 1
        async with Client(streamable_http_client(devhost.mcp_url, http_client=http)) as client:
            again = await client.call_tool("multiply", {"a": 6, "b": 7})
        assert again.structured_content == {"result": 42}
        assert len(person.authorize_urls) == 1
        second = storage.tokens
        assert second is not None and second.access_token != first.access_token
        assert second.refresh_token and second.refresh_token != first.refresh_token

    # Rotated: the first refresh token is spent.
    reused = httpx2.post(
        f"{devhost.authority}/{TENANT}/oauth2/v2.0/token",
        data={"grant_type": "refresh_token", "client_id": SDK_CLIENT, "refresh_token": first.refresh_token},
    )
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert reused.json()["error_codes"] == [50173]


async def test_the_sdk_steps_up_for_a_tool_that_needs_another_scope(devhost: SignInHost) -> None:
    """graph_profile needs Profile.Read: 403 insufficient_scope, the SDK signs in again for every scope
    the challenge names, and the retried call reaches the tool (issue 17)."""
    storage, person = MemoryStorage(sdk_client()), Person()
    provider = sdk_provider(devhost, storage, person)
    seen: list[httpx2.Response] = []

    async def record(response: httpx2.Response) -> None:
        seen.append(response)

    http = httpx2.AsyncClient(auth=provider, timeout=30, event_hooks={"response": [record]})
    async with http, Client(streamable_http_client(devhost.mcp_url, http_client=http)) as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        first = storage.tokens
        assert first is not None and claims(first.access_token)["scp"] == "user_impersonation"
        # Before the call, tools/list already says what graph_profile needs of this caller.
        assert listed["graph_profile"].meta == {
            "azure-functions-mcp/requires": {"scopes": [f"api://{API}/Profile.Read"], "roles": []}
        }
        profile = await client.call_tool("graph_profile", {})

    refused = [r for r in seen if r.status_code == 403]
    assert len(refused) == 1
    assert 'error="insufficient_scope"' in refused[0].headers["www-authenticate"]
    assert f'scope="api://{API}/user_impersonation api://{API}/Profile.Read"' in refused[0].headers["www-authenticate"]
    assert len(person.authorize_urls) == 2
    assert "Profile.Read" in httpx2.URL(person.authorize_urls[1]).params["scope"]
    stepped = storage.tokens
    assert stepped is not None and set(claims(stepped.access_token)["scp"].split()) == {
        "user_impersonation",
        "Profile.Read",
    }
    # The tool ran: devhost has no credential for the on-behalf-of leg, and the tool says so (not a 403).
    assert profile.is_error and "AZURE_CLIENT_SECRET" in str(profile.content)


def run_client(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "MCP_", "REQUESTS_", "SSL_"))}
    return subprocess.run(
        [sys.executable, "-m", "client", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_cli_signs_in_interactively(devhost: SignInHost, tmp_path: Path) -> None:
    """azure-identity's InteractiveBrowserCredential: MSAL over the https alias, a loopback redirect, form_post."""
    log = tmp_path / "browser.json"
    ca = str(devhost.state / "ca.pem")
    result = run_client(
        "--url",
        devhost.mcp_url,
        "--auth",
        "interactive",
        "--tenant",
        TENANT,
        "--client-id",
        API,
        "me",
        BROWSER=str(browser_command(tmp_path)),
        SIGNIN_LOG=str(log),
        SIGNIN_CA=ca,
        SIGNIN_USER="someone.typed@example.test",
        REQUESTS_CA_BUNDLE=ca,
        AZURE_AUTHORITY_HOST=devhost.tls_authority,
    )
    assert result.returncode == 0, result.stderr
    me = json.loads(result.stdout)
    assert me["kind"] == "user" and me["preferred_username"] == "someone.typed@example.test"
    assert me["client_app_id"] == API and me["scopes"] == ["user_impersonation"]
    assert me["oid"] == str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{TENANT}/someone.typed@example.test"))
    seen = json.loads(log.read_text())
    assert seen["authorize"] == f"{devhost.tls_authority}/{TENANT}/oauth2/v2.0/authorize"
    assert seen["query"]["response_mode"] == "form_post" and seen["query"]["code_challenge_method"] == "S256"
    assert seen["redirected_to"].startswith("http://localhost:") and seen["fields"] == [
        "code",
        "session_state",
        "state",
    ]
    assert seen["final_status"] == 200


def test_a_loopback_authority_host_turns_off_instance_discovery() -> None:
    from client.credentials import _authority

    assert _authority(None) == {}
    assert _authority("https://login.microsoftonline.us") == {"authority": "https://login.microsoftonline.us"}
    local = _authority("https://127.0.0.1:7073")
    assert local == {"authority": "https://127.0.0.1:7073", "disable_instance_discovery": True}


def test_a_listed_client_without_an_id_stops_devhost_with_a_message(tmp_path: Path) -> None:
    (tmp_path / "local-authority.json").write_text(json.dumps({"clients": [{"name": "nameless"}]}))
    with pytest.raises(RuntimeError, match="each entry of `clients` needs a client_id"):
        start_devhost({"DEVHOST_STATE_DIR": str(tmp_path), "AZURE_TENANT_ID": ""}, "--auth", "local")
