"""Per-tool permissions and the MCP step-up challenge, through the registered /mcp function."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import CLIENT, MCP_ACCEPT, TENANT, body_of, call, challenge, configure, env_for, mcp_request

from devhost.authority import LocalAuthority
from shared.auth.identity import DEVELOPER
from shared.mcp import tools
from shared.mcp.permissions import META_KEY, Mismatch, Refusal, ToolPolicy, advertised_scopes, requires
from shared.settings import ToolPermission, load_settings

API = f"api://{CLIENT}"
ROOT = Path(__file__).resolve().parent.parent
MODERN = "2026-07-28"
PRM = "http://localhost:7071/.well-known/oauth-protected-resource/mcp"


def modern_meta() -> dict[str, object]:
    return {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}


async def post(message: Any, token: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any], Any]:
    response = await call(
        "mcp", "POST", "/mcp", token=token, headers={"Accept": MCP_ACCEPT, **(headers or {})}, body=message
    )
    text = response.get_body()
    return response.status_code, dict(response.headers), json.loads(text) if text else None


def call_tool(name: str, **params: Any) -> dict[str, Any]:
    return mcp_request("tools/call", {"name": name, "arguments": {}, **params})


def user(authority: LocalAuthority, *scopes: str) -> str:
    return authority.mint(TENANT, CLIENT, scopes=scopes or ("user_impersonation",))


def app(authority: LocalAuthority, *roles: str) -> str:
    return authority.mint(TENANT, CLIENT, app=True, roles=roles or ("MCP.Invoke",))


async def test_a_user_without_the_tools_scope_gets_the_step_up_challenge(authority: LocalAuthority) -> None:
    configure(env_for(authority))
    response = await call(
        "mcp", "POST", "/mcp", token=user(authority), headers={"Accept": MCP_ACCEPT}, body=call_tool("graph_profile")
    )
    assert response.status_code == 403
    header = response.headers["WWW-Authenticate"]
    description = body_of(response)["error_description"]
    assert header == (
        f'Bearer error="insufficient_scope", error_description="{description}", '
        f'scope="{API}/user_impersonation {API}/Profile.Read", resource_metadata="{PRM}"'
    )
    assert body_of(response)["error"] == "insufficient_scope"
    assert "graph_profile" in description and "Profile.Read" in description


async def test_with_the_scope_the_call_reaches_the_on_behalf_of_path(authority: LocalAuthority) -> None:
    configure(env_for(authority))
    status, _, body = await post(call_tool("graph_profile"), user(authority, "user_impersonation", "Profile.Read"))
    assert status == 200
    # No credential of the app's own is configured here: the tool ran and the on-behalf-of leg said why it stops.
    assert body["result"]["isError"] is True
    assert "AZURE_CLIENT_SECRET" in body["result"]["content"][0]["text"]


async def test_tools_needing_only_the_server_wide_permission_are_unchanged(authority: LocalAuthority) -> None:
    configure(env_for(authority))
    status, _, body = await post(call_tool("echo", arguments={"message": "hi"}), user(authority))
    assert status == 200 and body["result"]["structuredContent"] == {"result": "hi"}
    status, _, body = await post(call_tool("whoami"), app(authority))
    assert status == 200 and body["result"]["structuredContent"]["kind"] == "app"


async def test_an_app_caller_is_refused_a_users_only_tool(authority: LocalAuthority) -> None:
    configure(env_for(authority))
    response = await call(
        "mcp", "POST", "/mcp", token=app(authority), headers={"Accept": MCP_ACCEPT}, body=call_tool("graph_profile")
    )
    assert response.status_code == 403
    params = challenge(response)
    assert params["error"] == "insufficient_scope" and params["scope"] == f"{API}/.default"
    assert "app-only" in params["error_description"]


async def test_an_override_gives_a_tool_an_app_role(authority: LocalAuthority) -> None:
    configure(env_for(authority, TOOL_PERMISSIONS="echo=role:Echo.Admin scope:Echo.Write"))
    message = call_tool("echo", arguments={"message": "hi"})
    status, headers, body = await post(message, app(authority, "MCP.Invoke"))
    assert status == 403
    assert "Echo.Admin" in body["error_description"] and f'scope="{API}/.default"' in headers["WWW-Authenticate"]
    status, _, body = await post(message, app(authority, "MCP.Invoke", "Echo.Admin"))
    assert status == 200 and body["result"]["structuredContent"] == {"result": "hi"}
    status, headers, _ = await post(message, user(authority))
    assert status == 403 and f'scope="{API}/user_impersonation {API}/Echo.Write"' in headers["WWW-Authenticate"]
    status, _, _ = await post(message, user(authority, "user_impersonation", "Echo.Write"))
    assert status == 200


async def test_an_override_can_lift_a_declared_requirement(authority: LocalAuthority) -> None:
    configure(env_for(authority, TOOL_PERMISSIONS="graph_profile="))
    status, _, body = await post(call_tool("graph_profile"), user(authority))
    assert status == 200 and "AZURE_CLIENT_SECRET" in body["result"]["content"][0]["text"]


@pytest.mark.parametrize("value", ["graph_profile", "graph_profile=Profile.Read", "a=scope:x; a=role:y", "x y=scope:z"])
async def test_a_malformed_override_is_a_health_problem_and_a_503(authority: LocalAuthority, value: str) -> None:
    configure(env_for(authority, TOOL_PERMISSIONS=value))
    health = body_of(await call("health", path="/health"))
    assert health["status"] == "misconfigured"
    assert any("TOOL_PERMISSIONS" in problem for problem in health["problems"])
    status, headers, body = await post(call_tool("echo", arguments={"message": "x"}), user(authority))
    assert status == 503 and "TOOL_PERMISSIONS" in body["error_description"] and "Retry-After" in headers


async def test_an_override_naming_no_tool_is_a_503_then_a_health_problem(authority: LocalAuthority) -> None:
    configure(env_for(authority, TOOL_PERMISSIONS="graph_profil=scope:Profile.Read"))
    status, _, body = await post(call_tool("echo", arguments={"message": "x"}), user(authority))
    assert status == 503 and "graph_profil" in body["error_description"]
    health = body_of(await call("health", path="/health"))
    assert health["status"] == "misconfigured" and any("graph_profil," in p for p in health["problems"])


async def test_the_mcp_name_header_must_agree_with_the_body(authority: LocalAuthority) -> None:
    configure(env_for(authority))
    token = user(authority)
    headers = {"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": "echo"}
    # The header names a tool the caller may use, the body one they may not: refused, whichever is read.
    message = call_tool("graph_profile", _meta=modern_meta())
    status, _, body = await post(message, token, headers)
    assert status == 400 and body["error"]["code"] == -32020 and body["id"] == 1
    message = call_tool("echo", arguments={"message": "ok"}, _meta=modern_meta())
    status, _, body = await post(message, token, headers)
    assert status == 200 and body["result"]["structuredContent"] == {"result": "ok"}
    headers["Mcp-Name"] = "graph_profile"
    status, _, _ = await post(call_tool("graph_profile", _meta=modern_meta()), token, headers)
    assert status == 403


async def test_an_unknown_tool_is_the_sdks_own_error(authority: LocalAuthority) -> None:
    configure(env_for(authority))
    status, _, body = await post(call_tool("no_such_tool"), user(authority))
    assert status == 200
    assert "no_such_tool" in json.dumps(body) and ("error" in body or body["result"]["isError"] is True)


async def test_an_escaped_method_name_is_still_checked(authority: LocalAuthority) -> None:
    configure(env_for(authority))
    body = b'{"jsonrpc":"2.0","id":1,"method":"tools\\/call","params":{"name":"graph\\u005fprofile","arguments":{}}}'
    response = await call(
        "mcp", "POST", "/mcp", token=user(authority), body=body,
        headers={"Accept": MCP_ACCEPT, "Content-Type": "application/json"},
    )  # fmt: skip
    assert response.status_code == 403


async def test_tools_list_says_what_a_tool_the_caller_cannot_use_yet_needs(authority: LocalAuthority) -> None:
    configure(env_for(authority))

    async def listed(token: str) -> dict[str, dict[str, Any]]:
        status, _, body = await post(mcp_request("tools/list"), token)
        assert status == 200
        return {tool["name"]: tool for tool in body["result"]["tools"]}

    without = await listed(user(authority))
    assert len(without) == len(tools.ALL)
    assert without["graph_profile"]["_meta"][META_KEY] == {"scopes": [f"{API}/Profile.Read"], "roles": []}
    assert META_KEY not in (without["echo"].get("_meta") or {})
    with_scope = await listed(user(authority, "user_impersonation", "Profile.Read"))
    assert META_KEY not in (with_scope["graph_profile"].get("_meta") or {})


async def test_the_metadata_lists_every_scope_a_tool_needs(authority: LocalAuthority) -> None:
    configure(env_for(authority, TOOL_PERMISSIONS="echo=scope:Echo.Write"))
    response = await call("protected_resource_metadata", path="/.well-known/oauth-protected-resource")
    assert body_of(response)["scopes_supported"] == [
        f"{API}/user_impersonation",
        f"{API}/Echo.Write",  # the tools' scopes sorted
        f"{API}/Profile.Read",
    ]


def test_the_policy_reads_declarations_and_batches() -> None:
    @requires(scopes=["Write"], roles=["Writer"])
    def write() -> None:
        """A tool that writes."""

    def read() -> None:
        """A tool that reads."""

    policy = ToolPolicy([write, read], load_settings({"AZURE_CLIENT_ID": CLIENT}))
    assert policy.table == {"write": ToolPermission(("Write",), ("Writer",))}
    batch = json.dumps([mcp_request("tools/call", {"name": "read"}), mcp_request("tools/call", {"name": "write"}, 2)])
    user_token = dataclasses.replace(DEVELOPER, development=False, scopes=("user_impersonation",))
    verdict = policy.check(batch.encode(), {}, user_token)
    assert isinstance(verdict, Refusal) and verdict.tool == "write" and verdict.lacking.scopes == ("Write",)
    assert policy.check(batch.encode(), {}, DEVELOPER) is None  # authentication off: the developer lacks nothing
    mismatch = policy.check(batch.encode(), {"mcp-name": "read"}, DEVELOPER)
    assert isinstance(mismatch, Mismatch) and mismatch.request_id == 2
    assert policy.check(b"not json", {}, user_token) is None  # the SDK answers the parse error


@pytest.mark.parametrize(
    "overrides", ["", "echo=scope:Echo.Write", "graph_profile=", "graph_profile=role:X; add=scope:A scope:B"]
)
def test_the_metadata_reads_the_same_declarations_as_the_server(overrides: str) -> None:
    settings = load_settings({"AZURE_CLIENT_ID": CLIENT, "TOOL_PERMISSIONS": overrides})
    assert advertised_scopes(settings) == ToolPolicy(tools.ALL, settings).scopes()


def test_the_metadata_route_stays_off_the_sdks_imports() -> None:
    """The cold path a client takes after its first 401 loads neither the MCP SDK nor pydantic."""
    probe = """
import sys, azure.functions as func, function_app
from shared import runtime
from shared.web import handlers
runtime.reset({"AZURE_TENANT_ID": sys.argv[1], "AZURE_CLIENT_ID": sys.argv[2]})
request = func.HttpRequest("GET", "http://localhost/.well-known/oauth-protected-resource", headers={}, body=b"")
answer = handlers.protected_resource(request)
assert answer.status_code == 200 and b"Profile.Read" in answer.get_body(), answer.get_body()
print(sorted(m for m in sys.modules if m.split(".")[0] in ("mcp", "mcp_types", "pydantic", "jwt")))
"""
    done = subprocess.run(
        [sys.executable, "-c", probe, TENANT, CLIENT], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
