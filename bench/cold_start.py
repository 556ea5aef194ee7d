"""3. Cold start: a fresh process until its first answers, against the bare SDK app; and import times.

    python bench/cold_start.py [--reps 9] [--breakdown-reps 5]

Each measurement starts a new server process and polls it every 5 ms (a refused connection is
retried) until it answers:
- ours, `/health` 200: devhost (`--auth entra`, a LocalAuthority in this process);
- ours, first authenticated `tools/call` 200: the same, polling with the `tools/call` itself, so
  the time includes the validator's first key fetch and the MCP server's imports;
- bare, first `tools/call` 200: `bench/bare_app.py`;
- where .venv313 exists (`make worker`), the same on Python 3.13: the bare app, and ours through Azure's
  worker library (`devhost --mode worker`: the worker imports and indexes function_app.py, then each
  poll is an invocation), reported beside the others against the bare app on 3.13, without a target.
Our modules are compiled first (`compileall`), as pip compiled the SDK's when it installed it, and
one discarded start of each warms the page cache. The ratios are medians of
per-repetition ratios; the three starts of a repetition run back to back, the bare app's first in
even repetitions and last in odd ones.

Where ours' extra CPU goes, up to its first authenticated `tools/call` (`--breakdown-reps` times
each, medians):
- imports: both servers started again with `-X importtime` until their first `tools/call` answer;
  the self time of every module only ours loads, by family (a module outside the families counts
  for the family of its nearest importer inside one: `markupsafe` for werkzeug);
- of which compiling our own sources: `compile()` of each of our modules on that list that has no
  bytecode to load from (none, once compiled first);
- the rest of the cold path, with every module already imported: bench/startup_probe.py, which
  times each step from the imports to the first answer, for ours and for the bare app;
- against the measured difference: the median of ours' minus the bare app's server CPU per
  repetition above. The parts come from other processes than the whole, on a host whose speed
  varies, and `-X importtime` slows imports a little: they agree only roughly (bench/instructions.py
  counts the same parts in instructions, where they add up).

Where valgrind is installed, ours and the bare app are also counted in instructions from spawn to their
first `tools/call` answer (bench/instructions.py's `serve`, both at once): the same within 0.1% from
run to run where the wall-time median of nine starts swings by a tenth, so the verdict on the first
authenticated `tools/call` is taken on the count where there is one.

Then `python -X importtime -c "import function_app"`, and which heavy modules each cheap route
(`/health`, the protected-resource metadata, a 401 without a token) pulls in: those must stay
off these paths.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common

HEAVY = ("mcp", "pydantic", "jwt", "cryptography", "requests", "anyio", "sse_starlette", "azure.identity", "msal")

PROBE = """
import json, sys
import azure.functions as func
import function_app
from shared.web import handlers
before = set(sys.modules)
def req(method, path, headers=None, route_params=None):
    return func.HttpRequest(method=method, url='http://127.0.0.1:7071' + path, headers=headers or {},
                            params={}, route_params=route_params or {}, body=b'')
import asyncio
paths = {}
handlers.health(req('GET', '/health'))
paths['/health'] = sorted(set(sys.modules) - before)
handlers.protected_resource(req('GET', '/.well-known/oauth-protected-resource/mcp', route_params={'resource': 'mcp'}))
paths['metadata'] = sorted(set(sys.modules) - before)
r = asyncio.run(handlers.mcp(req('POST', '/mcp')))
assert r.status_code == 401, r.status_code
paths['401 (no token)'] = sorted(set(sys.modules) - before)
print(json.dumps({'at_import': sorted(sys.modules), 'paths': paths}))
"""


def first_answer(
    server: str, path: str, env: dict[str, str], token: str | None, timeout: float = 60.0, stderr: Any = None
) -> tuple[float, float]:
    """Seconds from spawning the server until `path` answers 200, and the server's CPU seconds by then.

    With `stderr` (an open file), the server runs with `-X importtime` and writes its report there.
    """
    port = common.free_port()
    command = common.server_command(server, port)
    if stderr is not None:
        command = [command[0], "-X", "importtime", *command[1:]]
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=common.ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr or subprocess.DEVNULL
    )
    try:
        deadline = start + timeout
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{server} exited with {process.returncode} before answering {path}")
            with contextlib.suppress(OSError):
                status, body = common.call(port, token, path)
                if status == 200:
                    return time.perf_counter() - start, common.cpu_seconds(process.pid)
                raise RuntimeError(f"{server} answered {path} with {status}: {body[:300]!r}")
            time.sleep(0.005)
        raise TimeoutError(f"{server} did not answer {path} within {timeout} s")
    finally:
        common.stop(process)


def import_time(reps: int = 3) -> dict[str, Any]:
    """`python -X importtime -c "import function_app"`, `reps` times: the median total, and the costliest imports."""
    runs = [_import_time_once() for _ in range(reps)]
    runs.sort(key=lambda r: r["total_us"])
    return runs[len(runs) // 2]


def _import_time_once() -> dict[str, Any]:
    done = subprocess.run(
        [common.PYTHON, "-X", "importtime", "-c", "import function_app"],
        cwd=common.ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = parse_importtime(done.stderr)
    total = sum(r[2] for r in rows)
    # What function_app pulls in, one and two levels down (the top level is function_app itself).
    top = sorted(((r[0], r[3]) for r in rows if r[1] in (1, 2)), key=lambda r: -r[1])
    return {"total_us": total, "modules": len(rows), "top": top[:10]}


def parse_importtime(stderr: str) -> list[tuple[str, int, int, int]]:
    """`-X importtime` lines as (module, depth, self µs, cumulative µs), in the order printed (children first)."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        if "self" in self_us:
            continue
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        rows.append((name.strip(), depth, int(self_us), int(cumulative_us)))
    return rows


def route_imports() -> dict[str, Any]:
    done = subprocess.run(
        [common.PYTHON, "-c", PROBE],
        cwd=common.ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=common.clean_env({"AZURE_TENANT_ID": "11111111-1111-1111-1111-111111111111", "ENABLE_AUTH": "true"})
        | {"AZURE_CLIENT_ID": "22222222-2222-2222-2222-222222222222"},
    )
    data = json.loads(done.stdout.strip().splitlines()[-1])

    def heavy(modules: list[str]) -> list[str]:
        return sorted({m for m in modules for h in HEAVY if m == h or m.startswith(h + ".")} & set(HEAVY))

    return {
        "at_import": heavy(data["at_import"]),
        "paths": {path: heavy(mods) for path, mods in data["paths"].items()},
    }


# Module families of the breakdown: (key, label, module prefixes). A module outside them counts for
# the family of its nearest importer inside one, else for "other".
FAMILIES = (
    ("azure_functions", "`azure.functions` + `werkzeug`", ("azure.functions", "werkzeug")),
    ("crypto_jwt", "`cryptography` + `jwt`", ("cryptography", "jwt")),
    ("shared", "`shared.*` (ours)", ("shared",)),
    ("devhost", "`devhost` + `function_app`", ("devhost", "function_app")),
    (
        "http_transport",
        "httpx2's transport (`httpcore2`, `truststore`, idna)",
        ("httpcore2", "truststore", "encodings.idna", "stringprep"),
    ),
)
OWN = ("shared", "devhost", "function_app")


def family(module: str, importers: list[str]) -> str:
    for name in (module, *importers):
        for key, _, prefixes in FAMILIES:
            if any(name == p or name.startswith(p + ".") for p in prefixes):
                return key
    return "other"


def importtime_to_first_call(server: str, env: dict[str, str], token: str | None) -> dict[str, tuple[int, list[str]]]:
    """Every module `server` loaded by its first `tools/call` answer: self µs, and its importers, nearest first."""
    with tempfile.TemporaryFile("w+") as err:
        first_answer(server, "/mcp", env, token, stderr=err)
        err.seek(0)
        rows = parse_importtime(err.read())
    modules: dict[str, tuple[int, list[str]]] = {}
    parents: list[str] = []  # importers of the current row, outermost first
    for name, depth, self_us, _ in reversed(rows):  # reversed, a module comes right after its importer
        del parents[depth:]
        modules[name] = (self_us, parents[::-1])
        parents.append(name)
    return modules


def compile_ms(modules: list[str]) -> float:
    """CPU ms to compile those of our `modules` that have no bytecode cache to load from."""
    total = 0.0
    for module in modules:
        path = common.ROOT.joinpath(*module.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        if not path.is_file() or Path(importlib.util.cache_from_source(str(path))).exists():
            continue
        source = path.read_text()
        start = time.process_time()
        compile(source, str(path), "exec", dont_inherit=True)
        total += time.process_time() - start
    return total * 1000


def probe(server: str, modules: list[str], env: dict[str, str]) -> dict[str, float]:
    """bench/startup_probe.py's CPU ms per step, every module in `modules` imported beforehand."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as listing:
        listing.write("\n".join(modules))
        listing.flush()
        done = subprocess.run(
            [common.PYTHON, str(common.ROOT / "bench" / "startup_probe.py"), server, listing.name],
            cwd=common.ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    return {step: cpu for step, (cpu, _) in json.loads(done.stdout.strip().splitlines()[-1]).items()}


def breakdown(auth: common.Authority, token: str, reps: int) -> dict[str, Any]:
    """Where ours' extra CPU up to the first authenticated `tools/call` goes (see the module docstring)."""
    env, bare_env = common.clean_env(auth.env()), common.clean_env()
    imports: dict[str, list[float]] = {key: [] for key, _, _ in FAMILIES}
    imports["other"], compiled, others = [], [], {}
    ours_probe: dict[str, list[float]] = {}
    bare_probe: dict[str, list[float]] = {}
    for _ in range(reps):
        ours = importtime_to_first_call("ours", env, token)
        bare = importtime_to_first_call("bare", bare_env, None)
        sums = dict.fromkeys(imports, 0.0)
        for module, (self_us, importers) in ours.items():
            if module not in bare:
                key = family(module, importers)
                sums[key] += self_us / 1000
                if key == "other":
                    others[module] = others.get(module, 0.0) + self_us / 1000 / reps
        for key, value in sums.items():
            imports[key].append(value)
        compiled.append(compile_ms([m for m in ours if m not in bare and m.split(".")[0] in OWN]))
        for step, cpu in probe("ours", list(ours), env | {"BENCH_TOKEN": token}).items():
            ours_probe.setdefault(step, []).append(cpu)
        for step, cpu in probe("bare", list(bare), bare_env).items():
            bare_probe.setdefault(step, []).append(cpu)
    o = {step: common.median(v) for step, v in ours_probe.items()}
    b = {step: common.median(v) for step, v in bare_probe.items()}
    work = {
        "key_fetch": o["key_fetch"],
        "mcp_server": o["mcp_server"] - b["mcp_server"],
        "rest": o["devhost_app"] + o["settings"] + o["validation"] + o["first_call"] - b["lifespan"] - b["first_call"],
    }
    parts = {key: common.median(v) for key, v in imports.items()} | work
    return {
        "reps": reps,
        "imports_ms": {key: common.median(v) for key, v in imports.items()},
        "imports_ms_all": imports,
        "other_modules": sorted(others.items(), key=lambda kv: -kv[1])[:4],
        "compile_ms": common.median(compiled),
        "probe_ms": {"ours": o, "bare": b},
        "work_ms": work,
        "tls_ms": {"on_demand": o["tls_on_demand"], "whole_file": o["tls_whole_file"]},
        "sum_ms": sum(parts.values()),
    }


def measure(reps: int, breakdown_reps: int) -> dict[str, Any]:
    common.compile_own_sources()
    with common.authority() as auth:
        env = common.clean_env(auth.env())
        bare_env = common.clean_env()
        token = auth.mint(minutes=60)
        starts: dict[str, tuple[Any, ...]] = {
            "bare_call": ("bare", "/mcp", bare_env, None),
            "ours_health": ("ours", "/health", env, None),
            "ours_call": ("ours", "/mcp", env, token),
        }
        if common.WORKER_PYTHON.exists():  # the same through Azure's worker library, beside the bare app on 3.13
            starts["bare313_call"] = ("bare313", "/mcp", bare_env, None)
            starts["worker_call"] = ("ours_worker", "/mcp", env, token)
        for start in starts.values():  # warm the page cache
            first_answer(*start)
        runs: dict[str, list[float]] = {name: [] for name in starts}
        cpu: dict[str, list[float]] = {name: [] for name in starts}
        for rep in range(reps):
            order = list(starts.items())
            for name, start in order if rep % 2 == 0 else reversed(order):
                wall, cpu_s = first_answer(*start)
                runs[name].append(wall)
                cpu[name].append(cpu_s)
        parts = breakdown(auth, token, breakdown_reps)
        counted = count_instructions(env, bare_env, token) if shutil.which("valgrind") else None

    def ratio(of: dict[str, list[float]], name: str, bare: str = "bare_call") -> float:
        return common.median([x / b for x, b in zip(of[name], of[bare], strict=True)])

    health_ratio, call_ratio = ratio(runs, "ours_health"), ratio(runs, "ours_call")
    call_verdict_ratio = counted["ratio"] if counted else call_ratio
    cpu_diff = common.median([(o - b) * 1000 for o, b in zip(cpu["ours_call"], cpu["bare_call"], strict=True)])
    # For orientation only, not the target: the CPU ratio without the azure.functions + werkzeug imports,
    # which the Functions worker in Azure has done before it imports function_app.
    preloaded = parts["imports_ms"]["azure_functions"] / 1000
    without = common.median([(o - preloaded) / b for o, b in zip(cpu["ours_call"], cpu["bare_call"], strict=True)])
    cpu_ms = {name: common.median(v) * 1000 for name, v in cpu.items()}
    worker = None
    if "worker_call" in runs:
        worker = {
            "call_ratio": ratio(runs, "worker_call", "bare313_call"),
            "cpu_ratio": ratio(cpu, "worker_call", "bare313_call"),
            "vs_ours_3_11": ratio(runs, "worker_call", "ours_call"),
        }
    return {
        "reps": reps,
        "worker": worker,
        "ms": {name: common.median(v) * 1000 for name, v in runs.items()},
        "ms_all": {name: [x * 1000 for x in v] for name, v in runs.items()},
        "cpu_ms": cpu_ms,
        "cpu_ms_all": {name: [x * 1000 for x in v] for name, v in cpu.items()},
        "cpu_diff_ms": cpu_diff,
        "breakdown": parts,
        "cpu_ratio_without_azure_functions": without,
        "health_ratio": health_ratio,
        "call_ratio": call_ratio,
        "instructions": counted,
        "call_verdict_ratio": call_verdict_ratio,
        "cpu_ratio": {"health": ratio(cpu, "ours_health"), "call": ratio(cpu, "ours_call")},
        "targets": {"health_max": 0.5, "call_max": 1.1},
        "met": {"health": health_ratio <= 0.5, "call": call_verdict_ratio <= 1.1},
        "importtime": import_time(),
        "route_imports": route_imports(),
    }


def count_instructions(env: dict[str, str], bare_env: dict[str, str], token: str) -> dict[str, Any]:
    """Instructions from spawn to the first `tools/call` answer, ours (authenticated) and bare, both at once."""
    from instructions import serve

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        ours = pool.submit(serve, "ours", env, token)
        bare = pool.submit(serve, "bare", bare_env, None)
        counts = {"ours": ours.result(), "bare": bare.result()}
    return {"counts": counts, "ratio": counts["ours"] / counts["bare"]}


def report(data: dict[str, Any]) -> str:
    ms, alls, cpu, cpu_ratio = data["ms"], data["ms_all"], data["cpu_ms"], data["cpu_ratio"]
    rows = [
        [
            "bare SDK app, first `tools/call` 200",
            f"{ms['bare_call']:.0f}",
            "1.00",
            common.spread(alls["bare_call"]),
            f"{cpu['bare_call']:.0f}",
            "1.00",
        ],
        [
            "ours (devhost), first `/health` 200",
            f"{ms['ours_health']:.0f}",
            f"{data['health_ratio']:.2f}",
            common.spread(alls["ours_health"]),
            f"{cpu['ours_health']:.0f}",
            f"{cpu_ratio['health']:.2f}",
        ],
        [
            "ours (devhost), first authenticated `tools/call` 200",
            f"{ms['ours_call']:.0f}",
            f"{data['call_ratio']:.2f}",
            common.spread(alls["ours_call"]),
            f"{cpu['ours_call']:.0f}",
            f"{cpu_ratio['call']:.2f}",
        ],
    ]
    worker = data.get("worker")
    if worker:
        rows += [
            [
                "bare SDK app on Python 3.13, first `tools/call` 200",
                f"{ms['bare313_call']:.0f}",
                "1.00 (3.13)",
                common.spread(alls["bare313_call"]),
                f"{cpu['bare313_call']:.0f}",
                "1.00 (3.13)",
            ],
            [
                "ours through Azure's worker library (devhost, Python 3.13), first authenticated `tools/call` 200",
                f"{ms['worker_call']:.0f}",
                f"{worker['call_ratio']:.2f} (3.13)",
                common.spread(alls["worker_call"]),
                f"{cpu['worker_call']:.0f}",
                f"{worker['cpu_ratio']:.2f} (3.13)",
            ],
        ]
    headers = ["cold start (spawn → first 200)", "ms (median)", "× bare", "range (ms)", "server CPU ms", "× bare (CPU)"]
    imp = data["importtime"]
    top = ", ".join(f"`{name}` {us / 1000:.0f} ms" for name, us in imp["top"][:6])
    routes = data["route_imports"]
    heavy_lines = [f"- at `import function_app`: {', '.join(routes['at_import']) or 'none'}"]
    heavy_lines += [f"- {path}: {', '.join(mods) or 'none'}" for path, mods in routes["paths"].items()]
    return "\n".join(
        [
            common.table(headers, rows),
            "",
            f"First `/health`: {data['health_ratio']:.2f}× the bare SDK's first `tools/call` (target ≤ 0.5×): "
            f"{common.verdict(data['met']['health'])}. First authenticated `tools/call`: "
            + (
                f"{counted['ratio']:.3f}× by instructions ({counted['counts']['ours'] / 1e6:,.0f} vs "
                f"{counted['counts']['bare'] / 1e6:,.0f} M), {data['call_ratio']:.2f}× by wall time"
                if (counted := data.get("instructions"))
                else f"{data['call_ratio']:.2f}×"
            )
            + f" (target ≤ 1.1×): {common.verdict(data['met']['call'])}."
            + (
                f" Through the worker on Python 3.13: {worker['call_ratio']:.2f}× the bare app on 3.13 "
                f"({worker['vs_ours_3_11']:.2f}× ours on devhost's adapter and {sys.version.split()[0]}); "
                "reported, no target."
                if worker
                else " Through the worker: not measured (no .venv313; `make worker` builds it from Python 3.13)."
            ),
            "",
            f'`python -X importtime -c "import function_app"`: {imp["total_us"] / 1000:.0f} ms in '
            f"{imp['modules']} modules (median of 3); costliest imports under it (cumulative): {top}.",
            "",
            "Heavy modules (" + ", ".join(HEAVY) + ") loaded:",
            *heavy_lines,
            "",
            breakdown_report(data),
        ]
    )


def breakdown_report(data: dict[str, Any]) -> str:
    """Where ours' extra CPU goes, up to the first authenticated `tools/call`."""
    parts = data["breakdown"]
    imports, work, probe_ms = parts["imports_ms"], parts["work_ms"], parts["probe_ms"]
    o, b = probe_ms["ours"], probe_ms["bare"]
    rows = []
    for key, label, _ in FAMILIES:
        note = "`-X importtime`, modules the bare app does not load"
        if key == "azure_functions":
            note += "; in Azure the worker has imported these before function_app"
        if key == "http_transport":
            note += "; loaded by the first key fetch (the SDK's server never makes an httpx2 client)"
        rows.append([f"imports: {label}", f"{imports[key]:.1f}", note])
        if key == "devhost":
            rows.append(
                [
                    "  of the two rows above: compiling our sources",
                    f"({parts['compile_ms']:.1f})",
                    "`compile()` of those with no bytecode to load (the benchmark compiles ours first, as pip "
                    "did the SDK's); not added again below",
                ]
            )
    others = ", ".join(f"`{m}` {v:.1f}" for m, v in parts["other_modules"]) or "none"
    rows += [
        ["imports: other", f"{imports['other']:.1f}", f"largest: {others}"],
        [
            "first key fetch, besides its imports",
            f"{work['key_fetch']:.1f}",
            "`AuthorityKeys.metadata()`: three GETs on loopback in a worker thread, keys parsed (plain http: no "
            f"CA roots). Over https, as in Azure, add the TLS context: {parts['tls_ms']['on_demand']:.1f} ms with "
            f"roots read on demand (`shared.auth.fetch.tls_context`), {parts['tls_ms']['whole_file']:.1f} ms for "
            "httpx2's default, which parses the whole CA file",
        ],
        [
            "MCP server built: ours with 9 tools, less the bare app's with 1",
            f"{work['mcp_server']:+.1f}",
            f"startup_probe: {o['mcp_server']:.1f} vs {b['mcp_server']:.1f} ms",
        ],
        [
            "the rest: devhost app, settings, first validation, first request",
            f"{work['rest']:+.1f}",
            f"startup_probe: {o['devhost_app']:.1f} + {o['settings']:.1f} + {o['validation']:.1f} + "
            f"{o['first_call']:.1f}, less the bare app's lifespan and first request "
            f"{b['lifespan']:.1f} + {b['first_call']:.1f} ms",
        ],
        [
            "sum of the parts",
            f"{parts['sum_ms']:.0f}",
            "each part counted in its own process, whose collector runs as usual; ours' start makes far "
            "fewer collections (shared/collector.py), so the parts add up to more than the whole",
        ],
        [
            "measured: ours' server CPU less the bare app's, to the first `tools/call`",
            f"{data['cpu_diff_ms']:.0f}",
            f"median of {data['reps']} repetitions above (CPU time is read in 10 ms ticks)",
        ],
    ]
    return "\n".join(
        [
            f"Where ours' extra CPU goes up to its first authenticated `tools/call` (CPU ms, medians of "
            f"{parts['reps']}):",
            "",
            common.table(["part", "CPU ms", "how"], rows),
            "",
            f"For orientation only (not the target, which stays as measured above): without the "
            f"`azure.functions` + `werkzeug` imports, ours would take "
            f"{data['cpu_ratio_without_azure_functions']:.2f}× the bare app's CPU to its first `tools/call`.",
        ]
    )


def main() -> int:
    options: dict[str, common.Option] = {"reps": (int, 9), "breakdown-reps": (int, 5)}
    return common.run_step("cold_start", __doc__, options, measure, report)


if __name__ == "__main__":
    raise SystemExit(main())
