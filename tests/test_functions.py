"""Each registered function called with a `func.HttpRequest`, as the Functions host calls it."""

from __future__ import annotations

import asyncio
import json

import pytest
from support import CLIENT, MCP_ACCEPT, TENANT, body_of, call, challenge, configure, env_for, mcp_request

from devhost.authority import LocalAuthority
from shared.web.responses import DEVELOPMENT_HEADER

INIT_PARAMS = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
MODERN = "2026-07-28"


def modern_meta() -> dict[str, object]:
    return {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
    }


async def post_mcp(
    message: dict, *, token: str | None = None, headers: dict[str, str] | None = None, route: str = "mcp"
) -> tuple[int, dict]:
    all_headers = {"Accept": MCP_ACCEPT, "Content-Type": "application/json", **(headers or {})}
    response = await call(route, "POST", f"/{route}", token=token, headers=all_headers, body=message)
    text = response.get_body()
    try:
        return response.status_code, json.loads(text) if text else {}
    except ValueError:
        return response.status_code, {"text": text.decode()}


async def call_tool_legacy(name: str, arguments: dict, token: str | None) -> dict:
    message = mcp_request("tools/call", {"name": name, "arguments": arguments})
    status, body = await post_mcp(message, token=token, headers={"MCP-Protocol-Version": "2025-11-25"})
    assert status == 200, body
    return body["result"]


def test_health_reports_without_network(authority: LocalAuthority) -> None:
    configure(env_for(authority))
    response = asyncio.run(call("health", path="/health"))
    assert response.status_code == 200
    health = body_of(response)
    assert health["status"] == "ok" and health["auth"] == "on" and health["problems"] == []
    assert health["version"]
    assert DEVELOPMENT_HEADER not in response.headers
    assert sum(authority.requests.values()) == 0


async def test_health_reports_problems_but_never_secrets() -> None:
    configure({"AZURE_CLIENT_SECRET": "super-secret-value", "JWKS_TIMEOUT_SECONDS": "soon"})
    response = await call("health", path="/health")
    health = body_of(response)
    assert response.status_code == 200
    assert health["status"] == "misconfigured" and health["auth"] == "misconfigured"
    assert any("AZURE_TENANT_ID" in p for p in health["problems"])
    assert any("JWKS_TIMEOUT_SECONDS" in p for p in health["problems"])
    assert "super-secret-value" not in response.get_body().decode()


async def test_missing_tenant_is_503_not_an_import_error() -> None:
    configure({})
    response = await call("me")
    assert response.status_code == 503
    assert body_of(response)["error"] == "server_misconfigured"
    assert "AZURE_TENANT_ID" in body_of(response)["error_description"]


@pytest.mark.parametrize("where", [{"ENVIRONMENT": "production"}, {"WEBSITE_INSTANCE_ID": "abc123"}])
async def test_auth_off_is_refused_in_production_and_in_azure(where: dict[str, str]) -> None:
    configure({"ENABLE_AUTH": "false", **where})
    for name, method, path in [("me", "GET", "/me"), ("mcp", "POST", "/mcp")]:
        response = await call(name, method, path, body=mcp_request("ping"))
        assert response.status_code == 503
        assert "ENABLE_AUTH=false is refused" in body_of(response)["error_description"]
    assert body_of(await call("health", path="/health"))["status"] == "misconfigured"


async def test_auth_off_is_the_local_developer_and_says_so() -> None:
    configure({"ENABLE_AUTH": "false"})
    response = await call("me")
    assert response.status_code == 200
    assert body_of(response)["development"] is True
    assert response.headers[DEVELOPMENT_HEADER].startswith("off")
    for name, path in [("health", "/health"), ("openapi", "/openapi.json"), ("docs", "/docs")]:
        assert (await call(name, path=path)).headers[DEVELOPMENT_HEADER].startswith("off"), name
    assert (await call("protected_resource_metadata")).headers[DEVELOPMENT_HEADER].startswith("off")
    result = await call_tool_legacy("whoami", {}, None)
    assert result["structuredContent"]["development"] is True


async def test_no_token_is_401_with_a_challenge_for_each_resource(authority: LocalAuthority) -> None:
    configure(env_for(authority))
    for route in ("mcp", "echo"):
        response = await call(route, "POST", f"/{route}", body=mcp_request("ping"))
        assert response.status_code == 401
        params = challenge(response)
        assert "error" not in params
        assert params["resource_metadata"] == f"http://localhost:7071/.well-known/oauth-protected-resource/{route}"
        assert params["scope"] == f"api://{CLIENT}/user_impersonation"


async def test_scheme_is_case_insensitive_and_query_tokens_are_refused(authority: LocalAuthority) -> None:
    configure(env_for(authority))
    token = authority.mint(TENANT, CLIENT)
    assert (await call("me", headers={"Authorization": f"bEaReR {token}"})).status_code == 200
    response = await call("me", params={"access_token": token})
    assert response.status_code == 401
    assert "URL" in body_of(response)["error_description"]


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_get_and_delete_on_mcp_are_405(method: str) -> None:
    configure({"ENABLE_AUTH": "false"})
    for route in ("mcp", "echo"):
        response = await call(route, method, f"/{route}")
        assert response.status_code == 405
        assert response.headers["Allow"] == "POST"


@pytest.mark.parametrize(("suffix", "resource"), [("", ""), ("mcp", "/mcp"), ("echo", "/echo")])
async def test_protected_resource_metadata(authority: LocalAuthority, suffix: str, resource: str) -> None:
    configure(env_for(authority, TOKEN_AUDIENCE=f"api://{TENANT}/mcp-server"))
    response = await call(
        "protected_resource_metadata",
        path=f"/.well-known/oauth-protected-resource{resource}",
        route_params={"resource": suffix} if suffix else {},
    )
    assert response.status_code == 200
    assert body_of(response) == {
        "resource": f"http://localhost:7071{resource}",
        "authorization_servers": [f"{authority.authority(TENANT)}/v2.0"],
        "scopes_supported": [
            f"api://{TENANT}/mcp-server/user_impersonation",
            f"api://{TENANT}/mcp-server/Profile.Read",
        ],
        "bearer_methods_supported": ["header"],
        "resource_name": "Azure Functions MCP server",
    }
    assert sum(authority.requests.values()) == 0


async def test_protected_resource_metadata_unknown_resource_is_404(authority: LocalAuthority) -> None:
    configure(env_for(authority))
    response = await call("protected_resource_metadata", route_params={"resource": "other"})
    assert response.status_code == 404


async def test_mcp_handshake_era_through_the_function(authority: LocalAuthority) -> None:
    configure(env_for(authority))
    token = authority.mint(TENANT, CLIENT)
    status, body = await post_mcp(mcp_request("initialize", INIT_PARAMS), token=token)
    assert status == 200 and body["result"]["protocolVersion"] == "2025-11-25"
    status, body = await post_mcp(
        mcp_request("tools/list"), token=token, headers={"MCP-Protocol-Version": "2025-11-25"}, route="echo"
    )
    names = {tool["name"] for tool in body["result"]["tools"]}
    assert {"add", "subtract", "multiply", "divide", "power", "sqrt", "echo", "whoami"} <= names
    result = await call_tool_legacy("add", {"a": 2, "b": 3}, token)
    assert result["structuredContent"] == {"result": 5.0}


async def test_mcp_modern_era_through_the_function(authority: LocalAuthority) -> None:
    configure(env_for(authority))
    token = authority.mint(TENANT, CLIENT)
    headers = {"MCP-Protocol-Version": MODERN, "Mcp-Method": "server/discover"}
    status, body = await post_mcp(
        mcp_request("server/discover", {"_meta": modern_meta()}), token=token, headers=headers
    )
    assert status == 200, body
    assert MODERN in body["result"]["supportedVersions"]
    headers = {"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": "whoami"}
    message = mcp_request("tools/call", {"name": "whoami", "arguments": {}, "_meta": modern_meta()})
    status, body = await post_mcp(message, token=token, headers=headers)
    assert status == 200, body
    assert body["result"]["structuredContent"]["tid"] == TENANT


async def test_modern_header_mismatch_is_400(authority: LocalAuthority) -> None:
    configure(env_for(authority))
    headers = {"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/list"}
    message = mcp_request("server/discover", {"_meta": modern_meta()})
    status, body = await post_mcp(message, token=authority.mint(TENANT, CLIENT), headers=headers)
    assert status == 400
    assert body["error"]["code"] == -32020


async def test_whoami_sees_each_caller(authority: LocalAuthority) -> None:
    configure(env_for(authority))
    user = await call_tool_legacy("whoami", {}, authority.mint(TENANT, CLIENT))
    app = await call_tool_legacy("whoami", {}, authority.mint(TENANT, CLIENT, app=True, roles=("MCP.Invoke",)))
    assert user["structuredContent"]["kind"] == "user"
    assert app["structuredContent"]["kind"] == "app"
    me = body_of(await call("me", token=authority.mint(TENANT, CLIENT)))
    assert {k: v for k, v in user["structuredContent"].items() if k != "expires_at"} == {
        k: v for k, v in me.items() if k != "expires_at"
    }


async def test_concurrent_first_requests_start_the_sdk_once(authority: LocalAuthority) -> None:
    configure(env_for(authority))
    token = authority.mint(TENANT, CLIENT)
    message = mcp_request("tools/call", {"name": "multiply", "arguments": {"a": 6, "b": 7}})
    headers = {"MCP-Protocol-Version": "2025-11-25"}
    results = await asyncio.gather(*(post_mcp(message, token=token, headers=headers) for _ in range(25)))
    assert {status for status, _ in results} == {200}
    assert {body["result"]["structuredContent"]["result"] for _, body in results} == {42.0}


@pytest.mark.parametrize(
    ("host", "origin", "status"),
    [
        ("localhost:7071", None, 200),
        ("evil.example", None, 421),
        ("localhost:7071", "http://evil.example", 403),
        ("myapp.azurewebsites.net", "https://myapp.azurewebsites.net", 200),
    ],
)
async def test_host_and_origin_checks(host: str, origin: str | None, status: int) -> None:
    configure({"ENABLE_AUTH": "false", "WEBSITE_HOSTNAME": "myapp.azurewebsites.net"})
    headers = {"Host": host, "MCP-Protocol-Version": "2025-11-25"}
    if origin:
        headers["Origin"] = origin
    got, _ = await post_mcp(mcp_request("ping"), headers=headers)
    assert got == status


async def test_tokens_and_secrets_never_reach_the_logs(
    authority: LocalAuthority, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    secret = "client-secret-value-that-must-not-leak"
    configure(env_for(authority, AZURE_CLIENT_SECRET=secret))
    good = authority.mint(TENANT, CLIENT)
    expired = authority.mint(TENANT, CLIENT, claims={"exp": 1})
    forbidden = authority.mint(TENANT, CLIENT, scopes=("x",))
    await call("me", token=good)
    await call("me", token=expired)
    await call("me", token=forbidden)
    await call_tool_legacy("whoami", {}, good)
    await call("health", path="/health")
    logged = caplog.text
    assert "Refused" in logged  # the refusals are logged, just without the tokens
    for token in (good, expired, forbidden):
        for part in token.split("."):
            assert part not in logged
    assert secret not in logged
