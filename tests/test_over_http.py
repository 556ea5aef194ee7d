"""Over real HTTP: devhost serving function_app.py, called by the MCP SDK's own client with a bearer token.

Every test runs twice: devhost's adapter, and Azure's Python worker library (Python 3.13).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from support import CLIENT, DEVHOST_MODES, TENANT, start_devhost

from devhost.authority import LocalAuthority, SigningKey


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalAuthority]:
    with LocalAuthority(SigningKey.generate()) as served:
        yield served


@pytest.fixture(scope="module", params=DEVHOST_MODES)
def devhost(issuer: LocalAuthority, request: pytest.FixtureRequest) -> Iterator[str]:
    env = {"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT, "AZURE_AUTHORITY": issuer.authority(TENANT)}
    with start_devhost(env, "--auth", "entra", mode=request.param) as host:
        yield host.base_url


def connect(
    base: str, token: str | None, mode: str, path: str = "/mcp", seen: list[httpx2.Response] | None = None
) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def record(response: httpx2.Response) -> None:
        if seen is not None:
            seen.append(response)

    http = httpx2.AsyncClient(headers=headers, timeout=30, event_hooks={"response": [record]})
    return Client(streamable_http_client(f"{base}{path}", http_client=http), mode=mode)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28", "auto"])
@pytest.mark.parametrize("path", ["/mcp", "/echo"])
async def test_sdk_client_calls_tools_in_both_eras(issuer: LocalAuthority, devhost: str, mode: str, path: str) -> None:
    token = issuer.mint(TENANT, CLIENT)
    async with connect(devhost, token, mode, path) as client:
        tools = await client.list_tools()
        assert {"add", "divide", "whoami"} <= {t.name for t in tools.tools}
        result = await client.call_tool("power", {"base": 2, "exponent": 8})
        assert result.structured_content == {"result": 256}
        failed = await client.call_tool("divide", {"a": 1, "b": 0})
        assert failed.is_error
        me = await client.call_tool("whoami", {})
        assert me.structured_content is not None
        assert me.structured_content["tid"] == TENANT and me.structured_content["kind"] == "user"
        if mode != "legacy":
            assert client.protocol_version == "2026-07-28"


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_sdk_client_without_a_token_is_refused(devhost: str, mode: str) -> None:
    seen: list[httpx2.Response] = []
    with pytest.raises(Exception):  # noqa: B017 - the SDK wraps the HTTP error differently per era
        async with connect(devhost, None, mode, seen=seen) as client:
            await client.list_tools()
    assert seen and seen[0].status_code == 401
    assert (
        f'resource_metadata="{devhost}/.well-known/oauth-protected-resource/mcp"' in seen[0].headers["www-authenticate"]
    )


def test_rest_routes_over_http(issuer: LocalAuthority, devhost: str) -> None:
    token = issuer.mint(TENANT, CLIENT, app=True, roles=("MCP.Invoke",))
    me = httpx2.get(f"{devhost}/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["kind"] == "app"
    unauthorized = httpx2.get(f"{devhost}/me")
    assert unauthorized.status_code == 401
    assert 'resource_metadata="' in unauthorized.headers["www-authenticate"]
    prm = httpx2.get(f"{devhost}/.well-known/oauth-protected-resource/mcp")
    assert prm.json()["resource"] == f"{devhost}/mcp"
    assert httpx2.get(f"{devhost}/.well-known/oauth-protected-resource").json()["resource"] == devhost
    assert httpx2.get(f"{devhost}/mcp").status_code == 405
