"""devhost's app on the worker: start the worker, route what it indexed, describe it for the banner."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from devhost.worker.host import WorkerHost, library_version
from devhost.worker.http import FunctionsHttp
from devhost.worker.routes import HttpRoute, http_routes


def build_worker_app(app_dir: Path, prefix: str) -> tuple[FunctionsHttp, list[HttpRoute]]:
    """The worker started on `app_dir` (it imports and indexes function_app.py), and the ASGI app over it."""
    logging.getLogger("azure.functions").setLevel(worker_log_level(app_dir / "host.json"))
    host = WorkerHost(app_dir)
    # Nothing the worker builds at start-up is tied to this loop: invocations run on the server's.
    functions = asyncio.run(host.start())
    routes = http_routes(prefix, [(f.metadata.name, f.metadata.function_id, list(f.bindings)) for f in functions])
    return FunctionsHttp(host, routes), routes


def banner_lines(base: str, routes: list[HttpRoute]) -> list[str]:
    lines = []
    for route in sorted(routes, key=lambda r: r.template):
        # The trigger's own methods, as the host logs its route map (the HEAD it adds to GET routes is implied).
        methods = ",".join(sorted(route.declared)) if route.declared else "*"
        lines.append(f"  {methods:<18} {base}{route.template}  ({route.function_name}, auth level {route.auth_level})")
    return lines


def describe() -> str:
    return f"Azure's Python worker library, azure-functions-runtime {library_version()}"


# host.json's level names (.NET's LogLevel) as Python's.
LOG_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "information": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "none": logging.CRITICAL + 1,
}


def worker_log_level(host_json: Path) -> int:
    """The level the host lets the worker's own log lines through at: host.json `logging.logLevel.default`.

    In Azure the worker sends every line to the host, which drops those below the configured level
    (Information when host.json says nothing); devhost drops them before they are formatted.
    """
    try:
        levels = json.loads(host_json.read_text()).get("logging", {}).get("logLevel", {})
    except FileNotFoundError:
        levels = {}
    return LOG_LEVELS.get(str(levels.get("default", "Information")).lower(), logging.INFO)
