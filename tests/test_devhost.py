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
from support import DEVHOST_MODES, start_devhost_in

import function_app
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
    process, base = start_devhost_in(mode, env, "--auth", "local", cwd=tmp_path)
    try:
        assert process.stdout is not None
        lines = []
        while not lines or not lines[-1].startswith("eyJ"):
            lines.append(process.stdout.readline().strip())
        printed = lines[-1]
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
    finally:
        process.terminate()
        process.wait(10)


def test_token_command_before_the_first_run_explains(tmp_path: Path) -> None:
    result = run_devhost_command("token", cwd=tmp_path)
    assert result.returncode == 2
    assert "start `python -m devhost` once first" in result.stderr


@pytest.mark.parametrize("mode", DEVHOST_MODES)
def test_auth_off_is_loud(tmp_path: Path, mode: str) -> None:
    for name in ("function_app.py", "host.json"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    process, base = start_devhost_in(mode, {"PYTHONPATH": str(ROOT)}, "--auth", "off", cwd=tmp_path)
    try:
        response = httpx2.get(f"{base}/me")
        assert response.status_code == 200 and response.json()["development"] is True
        assert response.headers["x-auth-mode"].startswith("off")
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert "Authentication is OFF" in output
    if mode == "worker":
        pinned = re.search(r"^azure-functions-runtime==(\S+);", (ROOT / "requirements.txt").read_text(), re.M)
        assert pinned is not None
        assert f"through Azure's Python worker library, azure-functions-runtime {pinned[1]}, Python 3.1" in output
    else:
        assert "through devhost's own adapter" in output


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="checks the refusal on Python before 3.13")
def test_worker_mode_before_python_313_says_why(tmp_path: Path) -> None:
    result = run_devhost_command("--mode", "worker", "--auth", "off", cwd=tmp_path)
    assert result.returncode != 0
    assert "azure-functions-runtime needs Python 3.13 or newer" in result.stderr
