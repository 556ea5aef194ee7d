"""What every benchmark shares: the request, the servers, the local authority, and the statistics.

Nothing here is timed itself. Servers run as child processes on 127.0.0.1 only and are always
stopped (by their own process id) when a benchmark ends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import inspect
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
# Python 3.13 with devhost/requirements.txt (`make worker`): devhost through Azure's worker library.
WORKER_PYTHON = ROOT / ".venv313" / "bin" / "python"
HOST = "127.0.0.1"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devhost.processes import stop  # noqa: E402 - importable once the line above has run

# The same JSON-RPC request for both servers: the SDK's own math tool, `add`, with two numbers.
CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 2, "b": 3}}}
CALL_BODY = json.dumps(CALL, separators=(",", ":"))
PROTOCOL_VERSION = "2025-11-25"
MCP_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": PROTOCOL_VERSION,
}
EXPECTED = '"structuredContent":{"result":5.0}'


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    """min-max of the repetitions, for the tables."""
    return f"{fmt(min(values))}-{fmt(max(values))}"


def fmt(value: float) -> str:
    """Three significant figures, without an exponent."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True))
    return path


# One option of a step: (type, default) or (type, default, help).
Option = tuple[Callable[[str], Any], Any] | tuple[Callable[[str], Any], Any, str]


def run_step(
    name: str,
    doc: str | None,
    options: dict[str, Option],
    measure: Callable[..., dict[str, Any] | Awaitable[dict[str, Any]]],
    report: Callable[[dict[str, Any]], str],
    *,
    missing: Callable[[], str | None] = lambda: None,
) -> int:
    """A benchmark script's `main`: its `--options` parsed and passed to `measure` in order (async or
    not), the result saved as results/`name`.json and its report printed. `missing` names a tool the
    step cannot run without (exit 2)."""
    parser = argparse.ArgumentParser(description=(doc or name).split("\n")[0])
    for flag, (kind, default, *text) in options.items():
        parser.add_argument(f"--{flag}", type=kind, default=default, help=text[0] if text else None)
    values = vars(parser.parse_args()).values()
    if problem := missing():
        print(problem, file=sys.stderr)
        return 2
    data = measure(*values)
    if inspect.isawaitable(data):
        data = asyncio.run(data)
    save(name, data)
    print(report(data))
    return 0


async def per_request_us(n: int, one: Callable[[], Awaitable[object]]) -> float:
    """CPU microseconds per call of `one`, over `n` calls in this process."""
    start = time.process_time_ns()
    for _ in range(n):
        await one()
    return (time.process_time_ns() - start) / n / 1000


One = Callable[[], Awaitable[object]]


async def warm_up(*ones: One, calls: int = 50) -> None:
    """Each side's first calls (imports, caches, the first key fetch), kept out of the figures."""
    for one in ones:
        for _ in range(calls):
            await one()


async def in_turn(
    reps: int, requests: int, pair: dict[str, One], after: dict[str, tuple[One, int]]
) -> dict[str, list[float]]:
    """µs per request of each side, `reps` times: the two of `pair` in turn (their order swapped every
    other repetition, so neither always runs on the other's warm caches), then each of `after` for its
    own number of requests."""
    results: dict[str, list[float]] = {name: [] for name in (*pair, *after)}
    order = list(pair.items())
    for rep in range(reps):
        for name, one in order if rep % 2 == 0 else reversed(order):
            results[name].append(await per_request_us(requests, one))
        for name, (one, n) in after.items():
            results[name].append(await per_request_us(n, one))
    return results


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


# The local authority ---------------------------------------------------------------------------


@dataclass
class Authority:
    """A LocalAuthority on loopback in this process, with the tenant and client devhost is told to trust."""

    refresh: int = 3600
    tenant: str = field(default_factory=lambda: str(uuid.uuid4()))
    client: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self) -> None:
        from devhost.authority import LocalAuthority

        self.local = LocalAuthority(host=HOST, port=0).start()

    def env(self) -> dict[str, str]:
        """The app settings of a server that trusts this authority (http on loopback is accepted)."""
        return {
            "AZURE_TENANT_ID": self.tenant,
            "AZURE_CLIENT_ID": self.client,
            "AZURE_AUTHORITY": self.local.authority(self.tenant),
            "ENABLE_AUTH": "true",
            "ENVIRONMENT": "development",
            "JWKS_REFRESH_SECONDS": str(self.refresh),
        }

    def mint(self, **options: Any) -> str:
        return self.local.mint(self.tenant, self.client, **options)

    def key_fetches(self) -> int:
        return self.local.key_fetches()

    def requests(self) -> int:
        return sum(self.local.requests.values())

    def stop(self) -> None:
        self.local.stop()


@contextlib.contextmanager
def authority(refresh: int = 3600) -> Iterator[Authority]:
    auth = Authority(refresh=refresh)
    try:
        yield auth
    finally:
        auth.stop()


# Servers ---------------------------------------------------------------------------------------

OWN_SOURCES = ("shared", "devhost", "function_app.py")


def compile_own_sources() -> None:
    """Write the bytecode of our modules, as pip wrote the SDK's when it installed it.

    Both sides of a cold start then load from bytecode, as on any machine where Python writes its
    caches on the first start; it cannot where PYTHONDONTWRITEBYTECODE is set, as on this one.
    """
    import compileall

    for name in OWN_SOURCES:
        path = ROOT / name
        done = compileall.compile_dir(path, quiet=1) if path.is_dir() else compileall.compile_file(path, quiet=1)
        if not done:
            raise RuntimeError(f"could not compile {path}")
    if WORKER_PYTHON.exists():  # its own bytecode (cpython-313), for the cold starts through the worker
        subprocess.run([str(WORKER_PYTHON), "-m", "compileall", "-q", *OWN_SOURCES], cwd=ROOT, check=True)


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The parent's environment minus every app setting, plus `extra`: no stray tenant leaks in."""
    from shared.settings import SPECS

    env = {k: v for k, v in os.environ.items() if k not in {s.name for s in SPECS}}
    env.update(extra or {})
    return env


def devhost_command(port: int) -> list[str]:
    """devhost serving the function_app.py of the working directory (ROOT)."""
    return [PYTHON, "-m", "devhost", "--port", str(port), "--auth", "entra", "--log-level", "warning"]


# What our app cannot start without, whatever its own code: function_app.py is written against
# `azure.functions` (which imports `werkzeug`), and tokens are validated with PyJWT, whose `jwt`
# imports `cryptography` for RS256. The bare app importing these first shows what they cost.
REQUIRED_LIBRARIES = ("azure.functions", "jwt")


def bare_command(port: int, preload: tuple[str, ...] = ()) -> list[str]:
    """The bare SDK app; with `preload`, those modules imported before it."""
    return [PYTHON, str(ROOT / "bench" / "bare_app.py"), str(port), *(f"--preload={m}" for m in preload)]


def server_command(server: str, port: int) -> list[str]:
    """`ours` (devhost), `bare`, or `libraries` (the bare app importing REQUIRED_LIBRARIES first); on Python
    3.13, `ours_worker` (devhost through Azure's worker library) and `bare313` (the bare app)."""
    if server == "ours":
        return devhost_command(port)
    if server == "ours_worker":
        return [str(WORKER_PYTHON), *devhost_command(port)[1:], "--mode", "worker"]
    if server == "bare313":
        return [str(WORKER_PYTHON), *bare_command(port)[1:]]
    return bare_command(port, REQUIRED_LIBRARIES if server == "libraries" else ())


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/mcp"


@contextlib.contextmanager
def server(
    name: str, command: list[str], env: dict[str, str], port: int, log: Path | None = None, cwd: Path = ROOT
) -> Iterator[Server]:
    """Start `command` in `cwd`, wait until it listens, and stop it (by its pid) afterwards."""
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process)
        yield Server(name, port, process)
    finally:
        stop(process)
        if log:
            out.close()  # type: ignore[union-attr]


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.005)
    raise TimeoutError(f"nothing listens on {HOST}:{port} after {timeout} s")


def call(port: int, token: str | None = None, path: str = "/mcp", timeout: float = 10.0) -> tuple[int, bytes]:
    """One `tools/call` (or a GET when `path` is not /mcp), on a fresh connection."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        if path == "/mcp":
            headers = dict(MCP_HEADERS)
            if token:
                headers["Authorization"] = f"Bearer {token}"
            conn.request("POST", path, body=CALL_BODY, headers=headers)
        else:
            conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, its threads included (Linux /proc, else psutil)."""
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        # Fields after the command name, which is in parentheses and may hold spaces.
        fields = stat.read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    import psutil  # elsewhere than Linux

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def rss_mib(pid: int) -> float:
    """Resident set size of a process in MiB (Linux /proc, else psutil)."""
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    import psutil

    return float(psutil.Process(pid).memory_info().rss) / 2**20


def load_run(
    url: str,
    token: str | None,
    *,
    concurrency: int,
    duration: float = 0.0,
    requests: int = 0,
    expect: str = EXPECTED,
    status: int = 200,
    server_pid: int | None = None,
    fresh_tokens: Sequence[str] = (),
    fresh_every: int = 100,
) -> dict[str, Any]:
    """Run bench/loadgen.py in its own process against `url` and return what it measured.

    With `server_pid`, also the server's CPU time per answered request (`server_cpu_us`): unlike
    requests per second, it does not depend on how much of a core the server was given. With
    `fresh_tokens`, every `fresh_every`-th request carries the next of them instead of `token`.
    """
    command = [PYTHON, str(ROOT / "bench" / "loadgen.py"), url, "--concurrency", str(concurrency)]
    command += ["--body", CALL_BODY, "--expect", expect, "--status", str(status)]
    command += [f"--header={name}: {value}" for name, value in MCP_HEADERS.items() if name != "Content-Type"]
    if token and fresh_tokens:
        RESULTS.mkdir(parents=True, exist_ok=True)
        token_file = RESULTS / f"tokens-{os.getpid()}.txt"
        token_file.write_text("\n".join([token, *fresh_tokens]))
        command += ["--token-file", str(token_file), "--fresh-every", str(fresh_every)]
    elif token:
        command.append(f"--header=Authorization: Bearer {token}")
    if duration:
        command += ["--duration", str(duration)]
    if requests:
        command += ["--requests", str(requests)]
    cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    if server_pid and result["requests"]:
        result["server_cpu_us"] = (cpu_seconds(server_pid) - cpu_before) / result["requests"] * 1e6
    if result["errors"]:
        raise RuntimeError(f"{result['errors']} failed requests against {url}; first: {result['first_error']}")
    return result


# Tables ----------------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table (also readable in a terminal)."""
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "met" if ok else "**MISSED**"
