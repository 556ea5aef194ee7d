"""Test helpers: configure the app against a loopback authority and call its registered functions."""

from __future__ import annotations

import atexit
import base64
import contextlib
import inspect
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func
import httpx2
import jwt

import function_app
from devhost import processes
from devhost.authority import LocalAuthority, SigningKey, mint_token
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


def free_port(following: int = 0) -> int:
    """A free loopback port, and the `following` ports after it free too (devhost's authority takes
    port + 1 for http and port + 2 for https)."""
    while True:
        with contextlib.ExitStack() as held:
            first = held.enter_context(socket.socket())
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            try:
                for offset in range(1, following + 1):
                    held.enter_context(socket.socket()).bind(("127.0.0.1", port + offset))
            except (OSError, OverflowError):  # taken, or past the last port
                continue
            return port


@dataclass
class Devhost:
    """A `python -m devhost` process, its URL and its output; with `--auth local`, what it takes to mint for it."""

    process: subprocess.Popen[bytes]
    base_url: str
    log: Path
    mode: str = "adapter"  # devhost's adapter, or Azure's worker library
    authority: str = ""
    tenant: str = ""
    audience: str = ""
    key: SigningKey | None = None

    @property
    def mcp_url(self) -> str:
        return f"{self.base_url}/mcp"

    def output(self) -> str:
        return self.log.read_text()

    def mint(self, **options: Any) -> str:
        assert self.key is not None, "mint needs a devhost started with --auth local"
        return mint_token(self.authority, self.tenant, self.audience, key=self.key, **options)

    def stop(self) -> None:
        processes.stop(self.process)

    def __enter__(self) -> Devhost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_devhost(
    env: Mapping[str, str],
    *args: str,
    cwd: Path = ROOT,
    log: Path | None = None,
    inherit_env: bool = True,
    mode: str | None = None,
    ready_path: str = "/health",
    timeout: float = 60,
) -> Devhost:
    """`python -m devhost ARGS` on a free port, once its /health answers 200.

    `mode` (adapter or worker, DEVHOST_MODES) runs devhost on that mode's interpreter with `--mode`; a
    worker-mode test skips, saying why, where there is no Python 3.13 environment. The host is ready
    when `ready_path` answers 200.
    `env` is added to this process's environment, or (`inherit_env=False`) is the whole of it. Output
    goes to `log` (a fresh temporary file by default). With `--auth local`, the printed token tells
    the returned host its authority, tenant and audience, and its signing key is loaded from the
    state directory (DEVHOST_STATE_DIR, else `cwd`/.devhost), so the test can mint more tokens.
    """
    port = free_port(following=2)
    if log is None:
        folder = tempfile.mkdtemp(prefix="devhost-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)  # read after stop(), so kept till the end
        log = Path(folder) / "devhost.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                devhost_python(mode or "adapter"),
                *("-m", "devhost", "--port", str(port), "--log-level", "warning"),
                *(("--mode", mode) if mode else ()),
                *args,
            ],
            cwd=cwd,
            env={**os.environ, **env} if inherit_env else dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    host = Devhost(process, f"http://127.0.0.1:{port}", log, mode or "adapter")
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"devhost exited with {process.returncode}:\n{host.output()}")
        try:
            if httpx2.get(f"{host.base_url}{ready_path}", timeout=2).status_code == 200:
                break
        except httpx2.HTTPError:
            pass
        if time.monotonic() > deadline:
            host.stop()
            raise RuntimeError(f"devhost did not start in time:\n{host.output()}")
        time.sleep(0.1)
    printed = next((line for line in host.output().splitlines() if line.startswith("eyJ")), None)
    if printed is not None:
        claims = jwt.decode(printed, options={"verify_signature": False})
        host.authority = claims["iss"].removesuffix(f"/{claims['tid']}/v2.0")
        host.tenant, host.audience = claims["tid"], claims["aud"]
        state = Path(env.get("DEVHOST_STATE_DIR") or cwd / ".devhost")
        host.key = SigningKey.load_or_create(state / "signing-key.pem")
    return host


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
