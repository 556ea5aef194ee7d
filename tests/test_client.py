"""`python -m client` against a real devhost (a subprocess, as a user runs both), and its credential wiring.

Credential flows that need Entra (interactive, device code, ...) cannot run here; for those the
tests check that the right azure-identity class is built with the right arguments, offline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import azure.identity
import httpx2
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from support import DEVHOST_MODES, Devhost, free_port, start_devhost

from client import credentials
from client.arguments import ArgumentError, parse_arguments
from client.cli import build_parser, main
from client.config import AuthOptions, Target, auth_from
from client.errors import EXIT_AUTH, EXIT_FAILURE, EXIT_UNAVAILABLE, EXIT_USAGE, Failure, from_response
from client.routes import discover_scopes
from shared.settings import SPEC_BY_NAME

ROOT = Path(__file__).resolve().parents[1]
TENANT = "3f2b6c1e-5d4a-4e8b-9c7d-1a2b3c4d5e6f"
API = "8d9e0f1a-2b3c-4d5e-8f6a-7b8c9d0e1f2a"
CALLER = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
IDENTITY = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"
DEPLOYED_SCOPE = f"api://{TENANT}/mcp-abc123/user_impersonation"
# Settings the tests depend on, pinned so a developer's local.settings.json or shell cannot change them.
SERVER_PINS = {
    "ENABLE_AUTH": "true",
    "ENVIRONMENT": "development",
    "REQUIRED_SCOPES": "user_impersonation",
    "REQUIRED_ROLES": "MCP.Invoke",
}


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any server or client setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in SPEC_BY_NAME and not k.startswith(("MCP_", "AZURE_"))}
    env.update(extra)
    return env


@pytest.fixture(scope="module", params=DEVHOST_MODES)
def devhost(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Devhost]:
    """One devhost with its local authority for the whole module, on its adapter and on Azure's worker."""
    tmp = tmp_path_factory.mktemp("devhost")
    state = tmp / "state"
    env = clean_env(**SERVER_PINS, DEVHOST_STATE_DIR=str(state))
    log = tmp / "devhost-local.log"
    host = start_devhost(env, "--auth", "local", log=log, inherit_env=False, mode=request.param)
    try:
        check = httpx2.get(f"{host.base_url}/me", headers={"Authorization": f"Bearer {host.mint()}"}, timeout=10)
        assert check.status_code == 200, f"tokens signed with devhost's key are refused: {check.text}"
        yield host
    finally:
        host.stop()


@pytest.fixture(scope="module")
def unreachable_entra(tmp_path_factory: pytest.TempPathFactory, devhost: Devhost) -> Iterator[Devhost]:
    """A devhost in Entra mode, in the mode of `devhost`, whose authority is a closed loopback port: no keys."""
    env = clean_env(
        **SERVER_PINS,
        AZURE_TENANT_ID=TENANT,
        AZURE_CLIENT_ID=API,
        AZURE_AUTHORITY=f"http://127.0.0.1:{free_port()}/{TENANT}",
    )
    log = tmp_path_factory.mktemp("entra") / "devhost.log"
    host = start_devhost(env, "--auth", "entra", log=log, inherit_env=False, mode=devhost.mode)
    yield host
    host.stop()


def run_client(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "client", *args],
        cwd=ROOT,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def failed(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The single `error: ...` line of a failed run."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def output(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# Each command and each kind of failure once as a real process: what a user sees on stdout and stderr


def test_health_needs_no_token(devhost: Devhost) -> None:
    body = output(run_client("--url", devhost.mcp_url, "health"))
    assert body["status"] == "ok" and body["auth"] == "on"


def test_tools_lists_every_tool_with_its_description(devhost: Devhost) -> None:
    listing = output(run_client("tools", "--url", devhost.mcp_url, "--token", devhost.mint()))
    assert listing["protocolVersion"] == "2026-07-28"  # `auto` finds the stateless era
    assert listing["server"]["name"] == "azure-functions-mcp"
    tools = {tool["name"]: tool for tool in listing["tools"]}
    assert {"add", "subtract", "multiply", "divide", "power", "sqrt", "echo", "whoami"} <= set(tools)
    assert all(tool["description"] for tool in tools.values())
    assert tools["divide"]["inputSchema"]["required"] == ["a", "b"]


def test_call_types_arguments_by_the_schema(devhost: Devhost) -> None:
    result = run_client("--url", devhost.mcp_url, "--token", devhost.mint(), "call", "add", "a=1", "b=2.5")
    assert output(result) == {"result": 3.5}


def test_a_tool_error_is_its_message_and_exit_1(devhost: Devhost) -> None:
    result = run_client("--url", devhost.mcp_url, "--token", devhost.mint(), "call", "divide", "a=1", "b=0")
    assert failed(result, EXIT_FAILURE) == "error: tool divide failed: division by zero: b must not be 0"


def test_me_is_the_caller(devhost: Devhost) -> None:
    me = output(run_client("--url", devhost.mcp_url, "--token", devhost.mint(), "me"))
    assert me["kind"] == "user" and me["scopes"] == ["user_impersonation"] and me["tid"] == devhost.tenant


def test_401_without_a_token_explains_how_to_get_one(devhost: Devhost) -> None:
    line = failed(run_client("--url", devhost.mcp_url, "tools"), EXIT_AUTH)
    assert f"{devhost.mcp_url} needs an access token (401)" in line
    assert f"for scope api://{devhost.audience}/user_impersonation" in line
    assert "--auth client-secret|interactive|device-code|azure-cli|managed-identity|default" in line
    assert "python -m devhost token" in line


def test_403_names_the_missing_app_role_and_how_to_assign_it(devhost: Devhost) -> None:
    token = devhost.mint(app=True, roles=("Other",))
    line = failed(run_client("--url", devhost.mcp_url, "--token", token, "call", "add", "a=1", "b=2"), EXIT_AUTH)
    assert "(403): The token carries none of the required app roles: MCP.Invoke." in line
    assert "give the calling app the API's app role MCP.Invoke" in line
    assert "az ad app permission add" in line


def test_503_when_the_server_cannot_reach_entra(unreachable_entra: Devhost, devhost: Devhost) -> None:
    token = devhost.mint()  # any well-formed token: the server needs keys before it can judge one
    line = failed(run_client("--url", unreachable_entra.mcp_url, "--token", token, "tools"), EXIT_UNAVAILABLE)
    assert "cannot check tokens right now (503): The server cannot reach Microsoft Entra ID" in line


def test_connection_refused_says_the_server_is_not_running() -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    line = failed(run_client("--url", url, "--token", "t", "tools"), EXIT_UNAVAILABLE)
    assert f"cannot connect to {url}: the server isn't running" in line
    assert "python -m devhost" in line


# Variants through `main` in this process (faster; the runs above watch the real stderr)


def run_main(capsys: pytest.CaptureFixture[str], *argv: str, **env: str) -> tuple[int, str, str]:
    code = main(list(argv), env=env)
    out, err = capsys.readouterr()
    if code:
        assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    return code, out, err


def test_the_handshake_era_on_request(devhost: Devhost, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "--url", devhost.mcp_url, "--token", devhost.mint(), "--era", "legacy", "tools")
    assert code == 0 and json.loads(out)["protocolVersion"] == "2025-11-25"


def test_the_token_and_url_come_from_the_environment(devhost: Devhost, capsys: pytest.CaptureFixture[str]) -> None:
    token = devhost.mint(app=True, roles=("MCP.Invoke",))
    code, out, _ = run_main(capsys, "call", "whoami", "--era", "2026-07-28", MCP_URL=devhost.mcp_url, MCP_TOKEN=token)
    assert code == 0 and json.loads(out)["kind"] == "app"


def test_a_string_argument_stays_a_string(devhost: Devhost, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "--url", devhost.mcp_url, "--token", devhost.mint(), "call", "echo", "message=42")
    assert code == 0 and json.loads(out) == {"result": "42"}


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["sqrt", "x=four"], "error: argument 'x' of sqrt must be a number, not 'four'"),
        (["sqrt", "y=4"], "error: sqrt has no argument 'y'; its arguments are: x"),
        (["sqrt"], "error: sqrt needs x=<a number>"),
        (["modulo", "a=1"], "error: the server has no tool 'modulo'; its tools are: add, subtract"),
    ],
)
def test_bad_calls_are_refused_before_sending(
    devhost: Devhost, capsys: pytest.CaptureFixture[str], words: list[str], message: str
) -> None:
    code, _, err = run_main(capsys, "--url", devhost.mcp_url, "--token", devhost.mint(), "call", *words)
    assert code == EXIT_USAGE and err.startswith(message)


def test_401_with_a_garbage_token(devhost: Devhost, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "--url", devhost.mcp_url, "--token", "not-a-token", "tools")
    assert code == EXIT_AUTH and "refused the access token (401): The token is not a JWT" in err
    assert "python -m devhost token" in err


def test_401_for_an_expired_token_on_me(devhost: Devhost, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "--url", devhost.mcp_url, "--token", devhost.mint(minutes=-10), "me")
    assert code == EXIT_AUTH and "refused the access token (401): The token has expired." in err


def test_403_names_the_missing_scope_and_how_to_consent(devhost: Devhost, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "--url", devhost.mcp_url, "--token", devhost.mint(scopes=("other",)), "tools")
    assert code == EXIT_AUTH
    assert "(403): The token carries none of the required scopes: user_impersonation." in err
    assert f"request scope api://{devhost.audience}/user_impersonation and consent to it" in err


def test_503_on_me(unreachable_entra: Devhost, devhost: Devhost, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "--url", unreachable_entra.mcp_url, "--token", devhost.mint(), "me")
    assert code == EXIT_UNAVAILABLE and "cannot check tokens right now (503)" in err


def test_the_scope_is_discovered_from_the_server(devhost: Devhost) -> None:
    """The server-wide scope, and every scope a tool needs (graph_profile's Profile.Read), to ask for up front."""
    api = f"api://{devhost.audience}"
    assert discover_scopes(Target(devhost.mcp_url)) == [f"{api}/user_impersonation", f"{api}/Profile.Read"]


# Offline: which credential each --auth builds, and with what


class FakeCredential:
    built: ClassVar[list[FakeCredential]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs, self.scopes = args, kwargs, ()
        FakeCredential.built.append(self)

    def get_token(self, *scopes: str) -> AccessToken:
        self.scopes = scopes
        return AccessToken("token-from-entra", int(time.time()) + 3600)


@pytest.fixture
def fake_identity(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, type]]:
    """Every azure-identity credential class replaced by a recorder of its own name."""
    FakeCredential.built = []
    names = (
        "ClientSecretCredential",
        "InteractiveBrowserCredential",
        "DeviceCodeCredential",
        "AzureCliCredential",
        "ManagedIdentityCredential",
        "DefaultAzureCredential",
    )
    fakes = {name: type(name, (FakeCredential,), {}) for name in names}
    for name, fake in fakes.items():
        monkeypatch.setattr(azure.identity, name, fake)
    yield fakes


def acquire(argv: list[str], env: Mapping[str, str], discovered: list[str] | None = None) -> FakeCredential:
    args = build_parser().parse_args([*argv, "tools"])

    def discover() -> list[str]:
        assert discovered is not None, "the scope should not need discovery here"
        return discovered

    assert credentials.acquire_token(auth_from(args, env), discover) == "token-from-entra"
    (credential,) = FakeCredential.built
    return credential


SECRET_ENV = {"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": API, "AZURE_CLIENT_SECRET": "s3cret"}


@dataclass(frozen=True)
class Flow:
    """Command-line flags and environment in; the credential class, its arguments and the scope out."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    cls: str
    kwargs: Mapping[str, Any]
    scope: str
    args: tuple[str, ...] = ()


FLOWS = {
    # The seed's setup: one app registration exposes the API and calls it, all from the environment.
    "secret-env": Flow(
        ("--auth", "client-secret"),
        SECRET_ENV,
        "ClientSecretCredential",
        {},
        f"api://{API}/.default",
        (TENANT, API, "s3cret"),
    ),
    # Flags win over the environment, and the API may be another app.
    "secret-flags": Flow(
        ("--auth", "client-secret", "--client-id", CALLER, "--client-secret", "x", "--api-client-id", API),
        SECRET_ENV,
        "ClientSecretCredential",
        {},
        f"api://{API}/.default",
        (TENANT, CALLER, "x"),
    ),
    # App-only flows ask for the resource's .default whatever scope they are given (the deployment's MCP_SCOPE).
    "secret-scope": Flow(
        ("--auth", "client-secret", "--scope", DEPLOYED_SCOPE),
        SECRET_ENV,
        "ClientSecretCredential",
        {},
        f"api://{TENANT}/mcp-abc123/.default",
        (TENANT, API, "s3cret"),
    ),
    "cli-scope": Flow(("--auth", "azure-cli", "--scope", DEPLOYED_SCOPE), {}, "AzureCliCredential", {}, DEPLOYED_SCOPE),
    "interactive": Flow(
        ("--auth", "interactive", "--tenant", TENANT, "--client-id", CALLER, "--api-client-id", API),
        {},
        "InteractiveBrowserCredential",
        {"tenant_id": TENANT, "client_id": CALLER},
        f"api://{API}/user_impersonation",
    ),
    "device-code": Flow(
        ("--auth", "device-code"),
        {"AZURE_CLIENT_ID": API},
        "DeviceCodeCredential",
        {"client_id": API, "prompt_callback": credentials._prompt_on_stderr},
        f"api://{API}/user_impersonation",
    ),
    "azure-cli": Flow(
        ("--auth", "azure-cli"),
        {"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": API},
        "AzureCliCredential",
        {"tenant_id": TENANT},
        f"api://{API}/.default",
    ),
    # AZURE_CLIENT_ID names the API; the identity is the server's own MANAGED_IDENTITY_CLIENT_ID.
    "user-assigned": Flow(
        ("--auth", "managed-identity"),
        {"AZURE_CLIENT_ID": API, "MANAGED_IDENTITY_CLIENT_ID": IDENTITY},
        "ManagedIdentityCredential",
        {"client_id": IDENTITY},
        f"api://{API}/.default",
    ),
    "system-assigned": Flow(
        ("--auth", "managed-identity", "--api-client-id", API),
        {},
        "ManagedIdentityCredential",
        {},
        f"api://{API}/.default",
    ),
    "default": Flow(
        ("--auth", "default"),
        {"AZURE_CLIENT_ID": API},
        "DefaultAzureCredential",
        {"managed_identity_client_id": None},
        f"api://{API}/.default",
    ),
    "default-identity": Flow(
        ("--auth", "default", "--client-id", IDENTITY, "--api-client-id", API),
        {},
        "DefaultAzureCredential",
        {"managed_identity_client_id": IDENTITY},
        f"api://{API}/.default",
    ),
}


@pytest.mark.parametrize("flow", FLOWS.values(), ids=FLOWS.keys())
def test_each_flow_builds_its_credential(fake_identity: dict[str, type], flow: Flow) -> None:
    credential = acquire(list(flow.argv), flow.env)
    assert type(credential) is fake_identity[flow.cls]
    assert (credential.args, credential.kwargs, credential.scopes) == (flow.args, flow.kwargs, (flow.scope,))


@pytest.mark.parametrize(
    ("flow", "scope"),
    [("interactive", DEPLOYED_SCOPE), ("azure-cli", DEPLOYED_SCOPE.replace("user_impersonation", ".default"))],
)
def test_without_an_api_id_the_scope_comes_from_the_server_metadata(
    fake_identity: dict[str, type], flow: str, scope: str
) -> None:
    assert acquire(["--auth", flow], {}, discovered=[DEPLOYED_SCOPE]).scopes == (scope,)


@pytest.mark.parametrize(
    ("scope", "default"),
    [
        (DEPLOYED_SCOPE, f"api://{TENANT}/mcp-abc123/.default"),
        (f"api://{API}", f"api://{API}/.default"),
        (f"{API}/user_impersonation", f"{API}/.default"),
        ("https://graph.microsoft.com/User.Read", "https://graph.microsoft.com/.default"),
        ("https://api.example.com", "https://api.example.com/.default"),
    ],
)
def test_app_only_flows_ask_for_the_resource_default(scope: str, default: str) -> None:
    auth = AuthOptions(flow="managed-identity", scope=scope)
    assert credentials.scope_for(auth, discover=list) == default


def test_client_secret_names_what_is_missing(fake_identity: dict[str, type]) -> None:
    with pytest.raises(Failure, match="needs --client-secret/AZURE_CLIENT_SECRET") as caught:
        acquire(["--auth", "client-secret"], {"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": API})
    assert caught.value.exit_code == EXIT_USAGE


def test_a_sign_in_failure_is_its_first_line(fake_identity: dict[str, type], monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: FakeCredential, *scopes: str) -> AccessToken:
        raise ClientAuthenticationError("AADSTS7000215: Invalid client secret provided.\nTrace ID: 1234\nMore text")

    monkeypatch.setattr(fake_identity["ClientSecretCredential"], "get_token", refuse)
    with pytest.raises(Failure) as caught:
        acquire(["--auth", "client-secret"], SECRET_ENV)
    assert caught.value.exit_code == EXIT_AUTH
    assert caught.value.message == (
        f"could not get a token with --auth client-secret for api://{API}/.default: "
        "AADSTS7000215: Invalid client secret provided."
    )


def test_the_real_credential_classes_accept_those_arguments() -> None:
    """Built for real (no network until a token is asked for), so a renamed keyword would show here."""
    cases = {
        "client-secret": azure.identity.ClientSecretCredential,
        "interactive": azure.identity.InteractiveBrowserCredential,
        "device-code": azure.identity.DeviceCodeCredential,
        "azure-cli": azure.identity.AzureCliCredential,
        "managed-identity": azure.identity.ManagedIdentityCredential,
        "default": azure.identity.DefaultAzureCredential,
    }
    env = {**SECRET_ENV, "MANAGED_IDENTITY_CLIENT_ID": IDENTITY}
    for flow, cls in cases.items():
        args = build_parser().parse_args(["--auth", flow, "tools"])
        assert isinstance(credentials.build_credential(auth_from(args, env)), cls), flow


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--url", "localhost:7071/mcp", "health"], "error: --url must be an http(s) URL"),
        (["--auth", "azure-cli", "--token", "t", "me"], "error: argument --token: not allowed with argument --auth"),
        (["--auth", "azure-cli", "me", "--token", "t"], "error: --auth and --token exclude each other"),
        (["--era", "2024-11-05", "tools"], "error: argument --era: invalid choice: '2024-11-05'"),
    ],
)
def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exited:  # argparse's own exit
        raise SystemExit(main(argv, env={}))
    assert exited.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(message) and len(err.splitlines()) == 1, err


def test_the_token_command_needs_a_way_to_get_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token"], env={}) == EXIT_USAGE
    assert main(["--token", "abc", "token"], env={}) == 0
    assert capsys.readouterr().out == "abc\n"


# Offline: typed arguments, routes, and answers


SCHEMA = {
    "type": "object",
    "properties": {
        "count": {"type": "integer"},
        "ratio": {"type": "number"},
        "flag": {"type": "boolean"},
        "options": {"type": "object"},
        "items": {"type": "array"},
        "label": {"type": "string"},
        "maybe": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "mode": {"$ref": "#/$defs/Mode"},
    },
    "required": ["count"],
    "$defs": {"Mode": {"enum": ["fast", "slow"], "type": "string"}},
}


def test_values_are_typed_by_the_schema() -> None:
    words = ["count=3", "ratio=0.5", "flag=true", 'options={"a": [1]}', "items=[1, 2]", "label=42", "maybe=null"]
    assert parse_arguments("t", SCHEMA, [*words, "mode=slow"]) == {
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "options": {"a": [1]},
        "items": [1, 2],
        "label": "42",
        "maybe": None,
        "mode": "slow",
    }


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["count=1.5"], "argument 'count' of t must be an integer, not '1.5'"),
        (["count=1", "ratio=NaN"], "argument 'ratio' of t must be a number, not 'NaN'"),
        (["count=1", "flag=yes"], "argument 'flag' of t must be true or false, not 'yes'"),
        (["count=1", "options=[1]"], "argument 'options' of t must be a JSON object, not '[1]'"),
        (["count=1", "maybe=x"], "argument 'maybe' of t must be null or an integer, not 'x'"),
        (["count=1", "mode=medium"], "argument 'mode' of t must be one of \"fast\", \"slow\", not 'medium'"),
        (["count=1", "colour=red"], "t has no argument 'colour'; its arguments are: count, ratio"),
        (["count=1", "count=2"], "argument 'count' is given twice"),
        (["count"], "argument 'count' is not key=value"),
        (["ratio=1"], "t needs count=<an integer>"),
    ],
)
def test_bad_arguments_are_named(words: list[str], message: str) -> None:
    with pytest.raises(ArgumentError) as caught:
        parse_arguments("t", SCHEMA, words)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("url", "me", "metadata"),
    [
        ("http://127.0.0.1:7071/mcp", "http://127.0.0.1:7071/me", "http://127.0.0.1:7071/.well-known/oauth-protected-resource/mcp"),
        ("https://x.example/api/mcp/", "https://x.example/api/me", "https://x.example/.well-known/oauth-protected-resource/api/mcp"),
    ],
)  # fmt: skip
def test_routes_sit_beside_the_mcp_endpoint(url: str, me: str, metadata: str) -> None:
    assert (Target(url).route("me"), Target(url).metadata_url) == (me, metadata)


def test_a_misconfigured_server_says_what_is_wrong() -> None:
    description = "The server is misconfigured: AZURE_CLIENT_ID is not set"
    body = json.dumps({"error": "server_misconfigured", "error_description": description}).encode()
    failure = from_response(503, {"retry-after": "300"}, body, "http://h/mcp", None)
    assert failure is not None and failure.exit_code == EXIT_UNAVAILABLE
    assert failure.message.startswith("the server is misconfigured (503): The server is misconfigured: AZURE_CLIENT_ID")
