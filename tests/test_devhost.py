"""devhost: routes taken from the registered functions, settings from local.settings.json, local sign-in."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from support import DEVHOST_MODES, start_devhost

import function_app
from devhost.logs import SECRET_PARAMETERS, redact_url
from devhost.server import http_functions, load_local_settings, route_prefix, starlette_paths

ROOT = Path(__file__).resolve().parent.parent


def test_routes_come_from_the_function_app() -> None:
    table = {fn.name: (fn.route, fn.methods) for fn in http_functions(function_app.app)}
    assert table["health"] == ("health", ("GET",))
    assert table["mcp"] == ("mcp", ("POST", "GET", "DELETE"))
    assert set(table) == {"health", "mcp", "echo", "me", "protected_resource_metadata", *table.keys()}


@pytest.mark.parametrize(
    ("prefix", "route", "paths"),
    [
        ("", "health", ["/health"]),
        ("api", "health", ["/api/health"]),
        (
            "",
            ".well-known/oauth-protected-resource/{resource?}",
            [
                "/.well-known/oauth-protected-resource/{resource}",
                "/.well-known/oauth-protected-resource",
            ],
        ),
        ("", "items/{id:int}", ["/items/{id}"]),
    ],
)
def test_route_templates(prefix: str, route: str, paths: list[str]) -> None:
    assert starlette_paths(prefix, route) == paths


def test_route_prefix_from_host_json(tmp_path: Path) -> None:
    assert route_prefix(ROOT / "host.json") == ""
    assert route_prefix(tmp_path / "missing.json") == "api"
    (tmp_path / "host.json").write_text(json.dumps({"extensions": {"http": {"routePrefix": "/v1/"}}}))
    assert route_prefix(tmp_path / "host.json") == "v1"


def test_environment_wins_over_local_settings(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"Values": {"A": "file", "B": "file"}}))
    environ = {"A": "env"}
    assert load_local_settings(path, environ) == ["B"]
    assert environ == {"A": "env", "B": "file"}


def run_devhost_command(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "devhost", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("mode", DEVHOST_MODES)
def test_local_sign_in_prints_a_working_token_and_mints_more(tmp_path: Path, mode: str) -> None:
    """`--auth local` in a fresh folder: the printed token works; `token` mints user and app tokens."""
    for name in ("function_app.py", "host.json"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    env = {"PYTHONPATH": str(ROOT), "AZURE_TENANT_ID": ""}
    with start_devhost(env, "--auth", "local", cwd=tmp_path, mode=mode) as host:
        base = host.base_url
        lines = host.output().splitlines()
        printed = next(line for line in lines if line.startswith("eyJ"))
        assert any("Authentication: ON, local authority" in line for line in lines)
        assert (tmp_path / ".devhost" / "signing-key.pem").exists()
        me = httpx2.get(f"{base}/me", headers={"Authorization": f"Bearer {printed}"})
        assert me.status_code == 200 and me.json()["kind"] == "user"

        minted = run_devhost_command("token", "--app", "--role", "MCP.Invoke", cwd=tmp_path).stdout.strip()
        assert httpx2.get(f"{base}/me", headers={"Authorization": f"Bearer {minted}"}).json()["kind"] == "app"
        no_scope = run_devhost_command("token", "--scope", "other", cwd=tmp_path).stdout.strip()
        assert httpx2.get(f"{base}/me", headers={"Authorization": f"Bearer {no_scope}"}).status_code == 403
        no_role = run_devhost_command("token", "--app", "--role", "Other", cwd=tmp_path).stdout.strip()
        assert httpx2.get(f"{base}/me", headers={"Authorization": f"Bearer {no_role}"}).status_code == 403
        v1 = run_devhost_command("token", "--v1", cwd=tmp_path).stdout.strip()
        assert httpx2.get(f"{base}/me", headers={"Authorization": f"Bearer {v1}"}).json()["token_version"] == "1.0"
        expired = run_devhost_command("token", "--minutes", "-10", cwd=tmp_path).stdout.strip()
        assert httpx2.get(f"{base}/me", headers={"Authorization": f"Bearer {expired}"}).status_code == 401


def test_token_command_before_the_first_run_explains(tmp_path: Path) -> None:
    result = run_devhost_command("token", cwd=tmp_path)
    assert result.returncode == 2
    assert "start `python -m devhost` once first" in result.stderr


@pytest.mark.parametrize("mode", DEVHOST_MODES)
def test_auth_off_is_loud(tmp_path: Path, mode: str) -> None:
    for name in ("function_app.py", "host.json"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    with start_devhost({"PYTHONPATH": str(ROOT)}, "--auth", "off", cwd=tmp_path, mode=mode) as host:
        response = httpx2.get(f"{host.base_url}/me")
        assert response.status_code == 200 and response.json()["development"] is True
        assert response.headers["x-auth-mode"].startswith("off")
    output = host.output()
    assert "Authentication is OFF" in output
    if mode == "worker":
        pinned = re.search(r"^azure-functions-runtime==(\S+);", (ROOT / "requirements.txt").read_text(), re.M)
        assert pinned is not None
        assert f"through Azure's Python worker library, azure-functions-runtime {pinned[1]}, Python 3.1" in output
    else:
        assert "through devhost's own adapter" in output


@pytest.mark.parametrize("where", ["environment", "local.settings.json"])
def test_enable_auth_false_wins_over_the_auto_choice(tmp_path: Path, where: str) -> None:
    """The original server's development mode: ENABLE_AUTH=false serves without a token, loudly."""
    for name in ("function_app.py", "host.json"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    env = {"PYTHONPATH": str(ROOT), "AZURE_TENANT_ID": "", "ENVIRONMENT": "development"}
    if where == "environment":
        env["ENABLE_AUTH"] = "false"
    else:
        (tmp_path / "local.settings.json").write_text(json.dumps({"Values": {"ENABLE_AUTH": "false"}}))
    with start_devhost(env, cwd=tmp_path) as host:
        response = httpx2.get(f"{host.base_url}/me")
        health = httpx2.get(f"{host.base_url}/health").json()
    assert response.status_code == 200 and response.json()["development"] is True
    assert response.headers["x-auth-mode"].startswith("off")
    assert health["auth"] == "off"
    assert "Authentication is OFF" in host.output() and "local authority" not in host.output()
    assert not (tmp_path / ".devhost" / "signing-key.pem").exists()


def test_enable_auth_false_is_still_refused_in_production(tmp_path: Path) -> None:
    for name in ("function_app.py", "host.json"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    env = {"PYTHONPATH": str(ROOT), "ENABLE_AUTH": "false", "ENVIRONMENT": "production"}
    with start_devhost(env, cwd=tmp_path) as host:
        response = httpx2.get(f"{host.base_url}/me")
        health = httpx2.get(f"{host.base_url}/health").json()
    assert response.status_code == 503
    assert health["status"] == "misconfigured"
    assert "Authentication cannot be turned off here" in host.output()


def test_the_access_log_redacts_credentials_in_urls(tmp_path: Path) -> None:
    secrets = {name: f"canary-{name}-0123456789" for name in SECRET_PARAMETERS}
    with start_devhost({}, "--auth", "off", "--log-level", "info", log=tmp_path / "devhost.log") as host:
        for name, value in secrets.items():
            answer = httpx2.get(f"{host.base_url}/health", params={name: value, "keep": "visible"})
            assert answer.status_code == 200
        httpx2.get(f"{host.base_url}/me?Access_Token=canary-mixed-case")
    log = host.output()
    for name, value in secrets.items():
        assert value not in log
        assert f"{name}=REDACTED&keep=visible" in log
    assert "canary-mixed-case" not in log and "Access_Token=REDACTED" in log


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/mcp", "/mcp"),
        ("/me?code=abc&state=xyz", "/me?code=REDACTED&state=xyz"),
        ("/x?refresh%5Ftoken=abc", "/x?refresh%5Ftoken=REDACTED"),
        ("/x?code&codes=1", "/x?code&codes=1"),
        ("/x?a=1&client_secret=s%3D&&assertion=e.y.J", "/x?a=1&client_secret=REDACTED&&assertion=REDACTED"),
    ],
)
def test_redact_url(target: str, expected: str) -> None:
    assert redact_url(target) == expected


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="checks the refusal on Python before 3.13")
def test_worker_mode_before_python_313_says_why(tmp_path: Path) -> None:
    result = run_devhost_command("--mode", "worker", "--auth", "off", cwd=tmp_path)
    assert result.returncode != 0
    assert "azure-functions-runtime needs Python 3.13 or newer" in result.stderr
