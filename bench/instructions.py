"""Optional: the cold start and the per-request cost counted in instructions (valgrind), immune to neighbours.

    python bench/instructions.py [--requests 300,1300] [--jobs 2]      # about 4 minutes on 2 cores

Not part of `make bench` (it needs valgrind and takes minutes): the CPU-time figures of
cold_start.py and throughput.py swing with whatever else the host runs, instruction counts do not
(within about 0.1%, with PYTHONHASHSEED=0). Instructions are not time (OpenSSL's loops retire
several per cycle, the interpreter's fewer), so these say what is executed, the CPU columns of the
benchmarks what it costs here. Every count is `valgrind --tool=cachegrind --cache-sim=no`'s
`I refs` for a whole process (startup included), and differences between two such processes:

- cold start: each server from spawn to its first `tools/call` answer (then stopped with SIGINT),
  and the bare app importing the libraries ours cannot start without (common.REQUIRED_LIBRARIES);
- its breakdown: (a) imports: the modules the bare app loads by its first answer imported in one
  process, then again with each family of the modules only ours loads added in turn (the
  families of cold_start.py); (b) the rest: bench/startup_probe.py stopped after each of its steps
  (BENCH_STOP_AFTER), everything imported beforehand; the parts should add up to the whole;
- per request: each server answering N1 and then, in a new process, N2 `tools/call`s over HTTP
  (bench/loadgen.py, 8 connections); (Ir(N2) - Ir(N1)) / (N2 - N1).

Writes bench/results/instructions.json and prints the tables; docs/performance.md is not changed.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cold_start
import common

VALGRIND = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
# Imports the modules listed in a file, from the repository root (the working directory) as the servers do.
IMPORT = """import contextlib, importlib, os, sys
sys.path.insert(0, os.getcwd())
for name in open(sys.argv[1]).read().split():
    with contextlib.suppress(Exception):
        importlib.import_module(name)
"""
ORDER = ("azure_functions", "crypto_jwt", "http_transport", "shared", "devhost", "other")
OURS_STEPS = ("preload", "devhost_app", "settings", "key_fetch", "validation", "mcp_server", "first_call")
BARE_STEPS = ("preload", "mcp_server", "lifespan", "first_call")


def instructions(stderr: str) -> int:
    found = re.search(r"I\s+refs:\s+([\d,]+)", stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind: {stderr[-500:]}")
    return int(found.group(1).replace(",", ""))


def count(command: list[str], env: dict[str, str]) -> int:
    done = subprocess.run(
        [*VALGRIND, *command], cwd=common.ROOT, env=env | {"PYTHONHASHSEED": "0"}, capture_output=True, text=True
    )
    return instructions(done.stderr)


# Requests answered by the two counted processes of a side, for the per-request figures of 2c and step 6.
COUNTED = (100, 600)


def per_request(sides: dict[str, Callable[[int], int]], requests: tuple[int, int] = COUNTED) -> dict[str, float]:
    """Instructions per request of each side: `sides[name](n)` counts a process that answers n requests,
    run for both numbers, two processes at a time; (Ir(N2) - Ir(N1)) / (N2 - N1), startup cancelled out."""
    low, high = requests
    jobs = [(name, n) for name in sides for n in requests]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        found = dict(zip(jobs, pool.map(lambda job: sides[job[0]](job[1]), jobs), strict=True))
    return {name: (found[(name, high)] - found[(name, low)]) / (high - low) for name in sides}


def serve(server: str, env: dict[str, str], token: str | None, requests: int = 0) -> int:
    """A server under valgrind until its first `tools/call` answers (or `requests` answered), then SIGINT."""
    port = common.free_port()
    command = common.server_command(server, port)
    process = subprocess.Popen(
        [*VALGRIND, *command],
        cwd=common.ROOT,
        env=env | {"PYTHONHASHSEED": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while requests == 0:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{server} under valgrind did not answer")
            try:
                status, body = common.call(port, token, "/mcp", timeout=120)
            except OSError:
                time.sleep(0.05)
                continue
            if status != 200:
                raise RuntimeError(f"{server} answered {status}: {body[:300]!r}")
            break
        if requests:
            common.wait_for_port(port, process, timeout=300)
            common.load_run(f"http://{common.HOST}:{port}/mcp", token, concurrency=8, requests=requests)
    finally:
        process.send_signal(2)  # uvicorn shuts down; valgrind prints its counts as the process exits
        stderr = process.communicate(timeout=300)[1]
    return instructions(stderr)


def measure(requests: tuple[int, int], jobs: int) -> dict[str, Any]:
    common.compile_own_sources()  # as cold_start.py does: both sides load from bytecode
    with common.authority() as auth, tempfile.TemporaryDirectory(prefix="bench-instructions-") as tmp:
        token = auth.mint(minutes=60)
        env, bare_env = common.clean_env(auth.env()), common.clean_env()
        ours = cold_start.importtime_to_first_call("ours", env, token)
        bare = cold_start.importtime_to_first_call("bare", bare_env, None)
        families: dict[str, list[str]] = {key: [] for key in ORDER}
        for module, (_, importers) in ours.items():
            if module not in bare:
                families[cold_start.family(module, importers)].append(module)
        folder = Path(tmp)
        (folder / "import.py").write_text(IMPORT)
        (folder / "ours.txt").write_text("\n".join(ours))
        (folder / "bare.txt").write_text("\n".join(bare))
        modules = list(bare)
        tasks: dict[str, Callable[[], int]] = {}
        for i, key in enumerate(("base", *ORDER)):
            modules = modules + families.get(key, [])
            (folder / f"imports-{i}.txt").write_text("\n".join(modules))
            tasks[f"imports:{key}"] = _task(
                count, [common.PYTHON, str(folder / "import.py"), str(folder / f"imports-{i}.txt")], bare_env
            )
        probe = [common.PYTHON, str(common.ROOT / "bench" / "startup_probe.py")]
        for step in OURS_STEPS:
            step_env = env | {"BENCH_TOKEN": token, "BENCH_STOP_AFTER": step}
            tasks[f"ours:{step}"] = _task(count, [*probe, "ours", str(folder / "ours.txt")], step_env)
        for step in BARE_STEPS:
            tasks[f"bare:{step}"] = _task(
                count, [*probe, "bare", str(folder / "bare.txt")], bare_env | {"BENCH_STOP_AFTER": step}
            )
        tasks |= {
            "cold:ours": _task(serve, "ours", env, token),
            "cold:bare": _task(serve, "bare", bare_env, None),
            "cold:libraries": _task(serve, "libraries", bare_env, None),
        }
        n1, n2 = requests
        for server, server_env, tok in (("ours", env, token), ("bare", bare_env, None)):
            for n in (n1, n2):
                tasks[f"requests:{server}:{n}"] = _task(serve, server, server_env, tok, n)
        with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
            counts = dict(zip(tasks, pool.map(lambda task: task(), tasks.values()), strict=True))

    steps = ("base", *ORDER)
    imports = {key: counts[f"imports:{key}"] - counts[f"imports:{prev}"] for prev, key in itertools.pairwise(steps)}
    o = {s: counts[f"ours:{s}"] for s in OURS_STEPS}
    b = {s: counts[f"bare:{s}"] for s in BARE_STEPS}
    work = {
        "key_fetch": o["key_fetch"] - o["settings"],
        "mcp_server": (o["mcp_server"] - o["validation"]) - (b["mcp_server"] - b["preload"]),
        "rest": (o["devhost_app"] - o["preload"])
        + (o["settings"] - o["devhost_app"])
        + (o["validation"] - o["key_fetch"])
        + (o["first_call"] - o["mcp_server"])
        - (b["first_call"] - b["mcp_server"]),
    }
    per_request = {
        s: (counts[f"requests:{s}:{n2}"] - counts[f"requests:{s}:{n1}"]) / (n2 - n1) for s in ("ours", "bare")
    }
    return {
        "counts": counts,
        "cold": {k.removeprefix("cold:"): v for k, v in counts.items() if k.startswith("cold:")},
        "imports": imports,
        "work": work,
        "parts_sum": sum(imports.values()) + sum(work.values()),
        "per_request": per_request,
        "requests": [n1, n2],
    }


def _task(function: Callable[..., int], *args: Any) -> Callable[[], int]:
    return lambda: function(*args)


def report(data: dict[str, Any]) -> str:
    cold, g = data["cold"], 1e6
    bare = cold["bare"]
    rows = [[name, f"{v / g:,.0f}", f"{v / bare:.3f}"] for name, v in cold.items()]
    labels = {key: label for key, label, _ in cold_start.FAMILIES} | {"other": "other"}
    parts = [[f"imports: {labels[k]}", f"{v / g:,.0f}"] for k, v in data["imports"].items()]
    parts += [
        ["first key fetch, besides its imports", f"{data['work']['key_fetch'] / g:,.0f}"],
        ["MCP server built, 9 tools less the bare app's 1", f"{data['work']['mcp_server'] / g:+,.0f}"],
        ["the rest (devhost app, settings, first validation, first request)", f"{data['work']['rest'] / g:+,.0f}"],
        ["sum of the parts, each counted in a process whose collector runs as usual", f"{data['parts_sum'] / g:,.0f}"],
        ["whole: ours less bare, spawn to first `tools/call`", f"{(cold['ours'] - bare) / g:,.0f}"],
        [
            "the parts less the whole: mostly collections ours does not make (shared/collector.py)",
            f"{(data['parts_sum'] - cold['ours'] + bare) / g:,.0f}",
        ],
    ]
    per = data["per_request"]
    return "\n".join(
        [
            common.table(["spawn → first `tools/call` 200", "M instructions", "× bare"], rows),
            "",
            common.table(["where ours' extra instructions go", "M instructions"], parts),
            "",
            f"Per `tools/call` over HTTP (requests {data['requests'][0]} → {data['requests'][1]}): ours "
            f"{per['ours'] / g:.2f} M instructions, bare {per['bare'] / g:.2f} M: bare / ours = "
            f"{per['bare'] / per['ours']:.3f}.",
        ]
    )


def request_pair(text: str) -> tuple[int, int]:
    n1, n2 = (int(n) for n in text.split(","))
    return n1, n2


def main() -> int:
    options: dict[str, common.Option] = {
        "requests": (request_pair, "300,1300", "N1,N2 requests for the per-request count"),
        "jobs": (int, 2, "valgrind processes at once (counts do not depend on it)"),
    }

    def missing() -> str | None:
        return None if shutil.which("valgrind") else "valgrind is not installed"

    return common.run_step("instructions", __doc__, options, measure, report, missing=missing)


if __name__ == "__main__":
    raise SystemExit(main())
