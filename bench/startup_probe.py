"""Helper of cold_start.py: what a cold start does besides importing, each step timed on its own.

    python bench/startup_probe.py ours|bare MODULES_FILE

Imports every module named in MODULES_FILE first (what that server had loaded by its first
`tools/call` answer, from `-X importtime`), so the steps below pay for no import. Then it takes the
steps a server takes from its imports to its first answer, in the same order, and times each in CPU
time of this process (`time.process_time`) and wall time; it prints them as one JSON object.

- ours (`--auth entra` settings in the environment, the token in BENCH_TOKEN; the authority is in
  the parent process, so its work is not counted here): devhost's Starlette app from function_app's
  routes; the settings; the first key fetch (`AuthorityKeys.metadata()`: an httpx2 client, a worker
  thread, three GETs, the keys parsed), and beside it, as figures of their own, the TLS context an
  https authority would add (CA roots read on demand, and httpx2's default for comparison); the
  first token validation (keys cached); the MCP server and bridge (tools
  registered); the first `tools/call` through devhost's app (session manager started, call answered).
- bare: `bench/bare_app.build_app()` (the MCP server, its one tool, its Starlette app); its lifespan
  (session manager started); the first `tools/call`.

With BENCH_STOP_AFTER=STEP (`preload` or a step's name) it exits right after that step, for
bench/instructions.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import common
import inprocess

Mark = tuple[float, float]


class Steps:
    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}
        self.mark = self.now()

    @staticmethod
    def now() -> Mark:
        return time.process_time(), time.perf_counter()

    def done(self, name: str) -> None:
        if os.environ.get("BENCH_STOP_AFTER") == name:
            os._exit(0)  # for bench/instructions.py, which counts what the process executed up to here
        cpu, wall = self.now()
        self.times[name] = [(cpu - self.mark[0]) * 1000, (wall - self.mark[1]) * 1000]
        self.mark = self.now()


def preload(modules_file: Path) -> None:
    for name in modules_file.read_text().split():
        with contextlib.suppress(Exception):  # a few load only by path, or only inside their parent
            importlib.import_module(name)


async def first_call(app: Any, headers: dict[str, str]) -> None:
    body = common.CALL_BODY.encode()
    scope = inprocess.asgi_request("/mcp", body, {**headers, "Content-Length": str(len(body))})
    status, out = await inprocess.call_asgi(app, scope, body)
    if status != 200 or common.EXPECTED.encode() not in out:
        raise RuntimeError(f"the first call answered {status}: {out[:300]!r}")


async def ours() -> dict[str, list[float]]:
    import function_app
    from devhost.server import build_app
    from shared import runtime as runtime_module

    headers = {**common.MCP_HEADERS, "Host": "127.0.0.1:7071", "Authorization": f"Bearer {os.environ['BENCH_TOKEN']}"}
    steps = Steps()
    app, _ = build_app(function_app.app, common.ROOT / "host.json")
    steps.done("devhost_app")
    runtime = runtime_module.current()
    validator = runtime.validator
    steps.done("settings")
    await validator.keys.metadata()
    steps.done("key_fetch")
    await validator.validate(os.environ["BENCH_TOKEN"])
    steps.done("validation")
    runtime.bridge  # noqa: B018 - builds the MCP server and registers the tools
    steps.done("mcp_server")
    await first_call(app, headers)
    steps.done("first_call")

    # Not part of the sum: the TLS context an https authority (Entra, in Azure) adds to the first
    # fetch, built as it would be there, where no SSL_CERT_* variable is set.
    import httpcore2

    from shared.auth import tls_context

    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        os.environ.pop(name, None)
    steps.mark = steps.now()
    tls_context()
    steps.done("tls_on_demand")
    httpcore2.default_ssl_context()
    steps.done("tls_whole_file")
    return steps.times


async def bare() -> dict[str, list[float]]:
    import bare_app

    headers = {**common.MCP_HEADERS, "Host": "127.0.0.1:7071"}
    steps = Steps()
    app = bare_app.build_app()
    steps.done("mcp_server")
    async with app.router.lifespan_context(app):
        steps.done("lifespan")
        await first_call(app, headers)
        steps.done("first_call")
    return steps.times


def main() -> int:
    which, modules_file = sys.argv[1], Path(sys.argv[2])
    preload(modules_file)
    # The driver of `first_call` (inprocess.call_asgi runs the bridge's `run_buffered`): loaded
    # before any step, so the bare app's steps do not pay for importing our modules.
    from shared.mcp import run_buffered  # noqa: F401

    if os.environ.get("BENCH_STOP_AFTER") == "preload":
        os._exit(0)
    times = asyncio.run(ours() if which == "ours" else bare())
    print(json.dumps(times))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
