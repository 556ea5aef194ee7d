"""Test helpers: configure the app against a loopback authority and call its registered functions."""

from __future__ import annotations

import base64
import inspect
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import azure.functions as func
import httpx2

import function_app
from devhost.authority import LocalAuthority
from devhost.server import http_functions
from shared import runtime

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
CLIENT = "6e2b2f4a-8c1d-4a7e-9f0b-2c3d4e5f6a7b"
MCP_ACCEPT = "application/json, text/event-stream"

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = {fn.name: fn.handler for fn in http_functions(function_app.app)}


def env_for(authority: LocalAuthority, tenant: str = TENANT, **extra: str) -> dict[str, str]:
    return {
        "AZURE_TENANT_ID": tenant,
        "AZURE_CLIENT_ID": CLIENT,
        "AZURE_AUTHORITY": authority.authority(tenant),
        **extra,
    }


def configure(env: Mapping[str, str]) -> runtime.Runtime:
    return runtime.reset(env)


async def call(
    name: str,
    method: str = "GET",
    path: str = "/me",
    *,
    token: str | None = None,
    headers: Mapping[str, str] | None = None,
    body: bytes | dict[str, Any] = b"",
    params: Mapping[str, str] | None = None,
    route_params: Mapping[str, str] | None = None,
) -> func.HttpResponse:
    """Call a registered function the way the Functions host would."""
    all_headers = {"Host": "localhost:7071", **(headers or {})}
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    if isinstance(body, dict):
        body = json.dumps(body).encode()
        all_headers.setdefault("Content-Type", "application/json")
    req = func.HttpRequest(
        method,
        f"http://localhost:7071{path}",
        headers=all_headers,
        params=dict(params or {}),
        route_params=dict(route_params or {}),
        body=body,
    )
    result = FUNCTIONS[name](req)
    return await result if inspect.isawaitable(result) else result


def body_of(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())


def challenge(response: func.HttpResponse) -> dict[str, str]:
    """The parameters of a `WWW-Authenticate: Bearer ...` header."""
    header = response.headers.get("WWW-Authenticate", "")
    assert header.startswith("Bearer "), header
    return dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', header))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mcp_request(method: str, params: dict[str, Any] | None = None, request_id: int = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_devhost(env: dict[str, str], *args: str, cwd: Path = ROOT) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--port", str(port), "--log-level", "warning", *args],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"devhost exited: {process.stdout.read() if process.stdout else ''}")
        try:
            if httpx2.get(f"{base}/health", timeout=1).status_code == 200:
                return process, base
        except httpx2.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("devhost did not become ready")


# devhost through Azure's Python worker library (Python 3.13+) or through its own adapter: the HTTP-level
# suites run against both. `make test` builds .venv313 from a python3.13 when one is found;
# DEVHOST_WORKER_PYTHON names another interpreter that has devhost/requirements.txt installed.
DEVHOST_MODES = ("adapter", "worker")
WORKER_PYTHON = Path(os.environ.get("DEVHOST_WORKER_PYTHON") or ROOT / ".venv313" / "bin" / "python")


def devhost_python(mode: str) -> str:
    """The interpreter devhost runs on in `mode`; a worker-mode test skips, saying why, without Python 3.13."""
    import pytest

    if mode == "adapter":
        return sys.executable
    if not WORKER_PYTHON.exists():
        pytest.skip(
            f"no Python 3.13 environment for devhost's worker mode at {WORKER_PYTHON}: `make test` builds it "
            "from python3.13 on PATH or under `pyenv root` (or set DEVHOST_WORKER_PYTHON)"
        )
    return str(WORKER_PYTHON)


def start_devhost_in(
    mode: str, env: dict[str, str], *args: str, cwd: Path = ROOT, ready_path: str = "/health"
) -> tuple[subprocess.Popen[str], str]:
    """`start_devhost` in `mode` (adapter or worker), on that mode's interpreter; ready when `ready_path` is 200."""
    port = free_port_pair()
    process = subprocess.Popen(
        [devhost_python(mode), "-m", "devhost", "--port", str(port), "--log-level", "warning", "--mode", mode, *args],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"devhost exited: {process.stdout.read() if process.stdout else ''}")
        try:
            if httpx2.get(f"{base}{ready_path}", timeout=1).status_code == 200:
                return process, base
        except httpx2.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("devhost did not become ready")


def free_port_pair() -> int:
    """A free port whose next one is free too: `--auth local` puts its authority on port + 1."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two free neighbouring ports on 127.0.0.1")
