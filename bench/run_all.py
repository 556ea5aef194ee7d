"""Every benchmark in turn, a summary table against the targets, and docs/performance.md.

    python -m bench            (what `make bench` runs; about 5 minutes on 2 cores)
    python bench/run_all.py [--quick] [--only NAME,...]   (NAMEs: BENCHMARKS below)

Each benchmark runs as its own process (`python bench/NAME.py`; 2c on .venv313's Python 3.13), so
none inherits another's imports, caches or memory; each saves its figures to bench/results/NAME.json (ignored by git).
This script then reads them all back and writes docs/performance.md: the machine, the command,
the summary, each benchmark's table, how it was measured, and the analysis in bench/analysis.md.
`--quick` shrinks every benchmark to check that the whole chain works (figures not meaningful);
it does not write docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import common

BENCHMARKS = ("validation", "inprocess", "worker_inprocess", "throughput", "cold_start", "memory", "telemetry")
QUICK_ARGS = {
    "validation": ["--tokens", "50", "--reps", "3"],
    "inprocess": ["--requests", "100", "--reps", "3"],
    "worker_inprocess": ["--requests", "100", "--reps", "3"],
    "throughput": ["--seconds", "1", "--reps", "3", "--flood", "200"],
    "cold_start": ["--reps", "1", "--breakdown-reps", "1"],
    "memory": ["--requests", "1000", "--refresh", "2", "--fresh-every", "50"],
    "telemetry": ["--seconds", "1", "--reps", "2", "--cold-reps", "1"],
}
TITLES = {
    "validation": "1. Token validation",
    "inprocess": "2b. In-process handler cost",
    "worker_inprocess": "2c. In-process through Azure's worker library (Python 3.13)",
    "throughput": "2a. Throughput through devhost",
    "cold_start": "3. Cold start",
    "memory": "4. Memory",
    "telemetry": "6. Telemetry on vs off",
}
DOC = common.ROOT / "docs" / "performance.md"
ANALYSIS = common.ROOT / "bench" / "analysis.md"
COMMAND = "make bench   # = .venv/bin/python -m bench, which runs bench/run_all.py"
PACKAGES = ("mcp", "starlette", "uvicorn", "azure-functions", "PyJWT", "cryptography", "pydantic", "httpx2")


def interpreter(name: str) -> str:
    """The worker library needs Python 3.13: .venv313's, where there is one (else 2c records why it did not run)."""
    if name == "worker_inprocess" and common.WORKER_PYTHON.exists():
        return str(common.WORKER_PYTHON)
    return common.PYTHON


def run(name: str, quick: bool) -> float:
    python = interpreter(name)
    command = [python, str(common.ROOT / "bench" / f"{name}.py"), *(QUICK_ARGS[name] if quick else [])]
    print(f"\n== {TITLES[name]}: {' '.join(Path(c).name if c == python else c for c in command)}", flush=True)
    start = time.monotonic()
    subprocess.run(command, cwd=common.ROOT, check=True)
    return time.monotonic() - start


def machine() -> list[str]:
    def out(*command: str) -> str:
        try:
            return subprocess.run(command, capture_output=True, text=True, check=False).stdout
        except OSError:
            return ""

    lscpu = {}
    for line in out("lscpu").splitlines():
        key, _, value = line.partition(":")
        lscpu[key.strip()] = value.strip()
    memory = next((line.split()[1] for line in out("free", "-m").splitlines() if line.startswith("Mem:")), "?")
    versions = []
    for package in PACKAGES:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    cpu = lscpu.get("Model name", platform.processor() or "?")
    cores = lscpu.get("CPU(s)", str(os.cpu_count()))
    threads = lscpu.get("Thread(s) per core", "?")
    hypervisor = lscpu.get("Hypervisor vendor")
    return [
        f"- CPU: {cpu}, {cores} CPUs ({threads} thread per core){f', {hypervisor} guest' if hypervisor else ''}"
        f" (`lscpu`)",
        f"- Memory: {memory} MiB (`free -m`), no swap limit applied by the benchmarks",
        f"- OS: {platform.platform()}",
        f"- Python: {sys.version.split()[0]} ({platform.python_implementation()}), no uvloop, no httptools "
        "(uvicorn's pure-Python h11 and asyncio, for both servers)",
        f"- Packages: {', '.join(versions)}",
        "- Bytecode: the benchmarks compile our modules first (`compileall`), as pip compiled the SDK's at "
        "install, so both sides load from bytecode"
        + (
            " (this host sets PYTHONDONTWRITEBYTECODE, so Python would not write it on the first start)"
            if os.environ.get("PYTHONDONTWRITEBYTECODE")
            else ""
        ),
    ]


def git_state() -> str:
    def out(*command: str) -> str:
        return subprocess.run(command, cwd=common.ROOT, capture_output=True, text=True, check=False).stdout.strip()

    commit = out("git", "rev-parse", "--short", "HEAD") or "?"
    # The report being rewritten is not a change to what was measured.
    dirty = out("git", "status", "--porcelain", "--untracked-files=no", "--", ".", f":!{DOC.relative_to(common.ROOT)}")
    return f"{commit}{' with uncommitted changes' if dirty else ''}"


def summary(results: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows: list[list[str]] = []
    v, i, wi, t, c, m, tel = (results.get(name) for name in BENCHMARKS)
    if v:
        rows.append(
            [
                "Validator, first-seen token",
                f"{v['us']['first_seen']:.0f} µs vs PyJWT {v['us']['pyjwt']:.0f} µs",
                f"{v['first_seen_vs_pyjwt']:.2f}× PyJWT",
                "≤ 1.2× PyJWT",
                common.verdict(v["met"]["first_seen"]),
            ]
        )
        rows.append(
            [
                "Validator, repeated token",
                f"{v['us']['repeated']:.2f} µs",
                f"{v['ratio_to_floor']['repeated']:.3f}× floor",
                "≤ 5 µs",
                common.verdict(v["met"]["repeated"]),
            ]
        )
    if i:
        rows.append(
            [
                "In-process handler vs bare SDK ASGI",
                f"{i['us']['ours']:.0f} µs vs {i['us']['bare']:.0f} µs",
                f"{i['ratio']:.2f}×",
                "≤ 1.15×",
                common.verdict(i["met"]),
            ]
        )
    if wi and not wi.get("skipped"):
        rows.append(
            [
                "In-process through Azure's worker library vs bare SDK ASGI (Python 3.13)",
                f"{wi['us']['ours']:.0f} µs vs {wi['us']['bare']:.0f} µs",
                f"{wi['verdict_ratio']:.2f}× by instructions (by CPU: {wi['ratio']:.2f}×)"
                if wi.get("instructions")
                else f"{wi['ratio']:.2f}×",
                f"≤ {wi['target_max']}×",
                common.verdict(wi["met"]),
            ]
        )
    elif wi:
        rows.append(["In-process through Azure's worker library", f"not run: {wi['skipped']}", "", "≤ 1.25×", ""])
    if t:
        rows.append(
            [
                "Throughput, devhost vs bare SDK on uvicorn",
                f"{t['rps']['ours']:.0f} vs {t['rps']['bare']:.0f} req/s",
                f"{t['ratio']:.2f}× (by CPU: {t['cpu_ratio']:.2f}×)",
                "≥ 0.8×",
                common.verdict(t["met"]),
            ]
        )
    if c:
        rows.append(
            [
                "Cold start, first `/health` vs bare's first `tools/call`",
                f"{c['ms']['ours_health']:.0f} ms vs {c['ms']['bare_call']:.0f} ms",
                f"{c['health_ratio']:.2f}× (by CPU: {c['cpu_ratio']['health']:.2f}×)",
                "≤ 0.5×",
                common.verdict(c["met"]["health"]),
            ]
        )
        rows.append(
            [
                "Cold start, first authenticated `tools/call` vs bare's",
                f"{c['ms']['ours_call']:.0f} ms vs {c['ms']['bare_call']:.0f} ms",
                f"{c['instructions']['ratio']:.3f}× by instructions (by wall time: {c['call_ratio']:.2f}×)"
                if c.get("instructions")
                else f"{c['call_ratio']:.2f}× (by CPU: {c['cpu_ratio']['call']:.2f}×)",
                "≤ 1.1×",
                common.verdict(c["met"]["call"]),
            ]
        )
    if c and c.get("worker"):
        rows.append(
            [
                "Cold start through the worker, first authenticated `tools/call` vs bare's (Python 3.13)",
                f"{c['ms']['worker_call']:.0f} ms vs {c['ms']['bare313_call']:.0f} ms",
                f"{c['worker']['call_ratio']:.2f}× (by CPU: {c['worker']['cpu_ratio']:.2f}×)",
                "reported",
                "",
            ]
        )
    if m:
        n = m["requests_per_batch"]
        rows.append(
            [
                f"RSS growth, {n:,} → {2 * n:,} requests",
                f"{m['rss_mib']['ours'][0]:.1f} → {m['rss_mib']['ours'][1]:.1f} MiB",
                f"{m['growth']['ours']:+.1%}",
                "≤ 5%",
                common.verdict(m["met"]["growth"]),
            ]
        )
        rows.append(
            [
                "RSS vs bare SDK",
                f"{m['rss_mib']['ours'][1]:.1f} vs {m['rss_mib']['bare'][1]:.1f} MiB",
                f"{m['ratio']:.2f}×",
                "≤ 1.2×",
                common.verdict(m["met"]["ratio"]),
            ]
        )
    if tel:
        rows += [
            [
                "Telemetry on (at most 5 traces/s, as deployed): throughput vs off",
                f"{tel['server_cpu_us']['on']:.0f} vs {tel['server_cpu_us']['off']:.0f} µs",
                f"{tel['instructions']['throughput_ratio']:.2f}× by instructions "
                f"(by CPU: {tel['throughput_ratio']:.2f}×)"
                if tel.get("instructions")
                else f"{tel['throughput_ratio']:.2f}× (by CPU)",
                "≥ 0.9×",
                common.verdict(tel["met"]["throughput"]),
            ],
            [
                "Telemetry on, every trace exported: throughput vs off",
                f"{tel['server_cpu_us']['every']:.0f} vs {tel['server_cpu_us']['off']:.0f} µs",
                f"{tel['instructions']['every_ratio']:.2f}× by instructions (by CPU: {tel['every_ratio']:.2f}×)"
                if tel.get("instructions")
                else f"{tel['every_ratio']:.2f}× (by CPU)",
                "reported",
                "",
            ],
            [
                "Telemetry on: cold start vs off",
                "first authenticated `tools/call`",
                f"{tel['cold_ratio']:.2f}×",
                "≤ 1.10×",
                common.verdict(tel["met"]["cold_start"]),
            ],
            [
                "Telemetry on: RSS vs off",
                f"{tel['rss_mib']['on']:.1f} vs {tel['rss_mib']['off']:.1f} MiB",
                f"{tel['rss_delta_mib']:+.1f} MiB",
                "≤ +15 MiB",
                common.verdict(tel["met"]["rss"]),
            ],
        ]
    fetch_notes, fetch_ok = [], True
    if v:
        fetch_notes.append(f"{v['key_fetches_while_validating']} while validating")
        fetch_ok &= v["met"]["no_fetches"]
    if i:
        fetch_notes.append(f"{i['key_fetches_while_serving']} in-process")
        fetch_ok &= i["key_fetches_while_serving"] == 0
    if wi and not wi.get("skipped"):
        fetch_notes.append(f"{wi['key_fetches_while_serving']} through the worker")
        fetch_ok &= wi["key_fetches_while_serving"] == 0
    if t:
        k = t["key_fetches"]
        fetch_notes.append(
            f"{k['under_load']} under load, {k['unknown_kid_fetches']} for {k['unknown_kid_requests']} unknown `kid`s"
        )
        fetch_ok &= t["met_fetches"]
    if m:
        fetch_notes.append(
            f"{m['key_fetches']} in {m['seconds']:.0f} s at refresh {m['refresh_seconds']} s (≤ {m['key_fetch_bound']})"
        )
        fetch_ok &= m["met"]["fetches"]
    if fetch_notes:
        rows.append(
            [
                "Key fetches on the hot path",
                "; ".join(fetch_notes),
                "",
                "0; ≤ 1 per refresh interval",
                common.verdict(fetch_ok),
            ]
        )
    return rows


def write_doc(
    results: dict[str, dict[str, Any]], seconds: float, started: str, load: tuple[float, ...], names: list[str]
) -> None:
    sections = []
    for name in BENCHMARKS:
        data = results.get(name)
        if data is None:
            continue
        module = importlib.import_module(name)
        doc = (module.__doc__ or "").strip().split("\n")
        # The module docstring without its first line and usage line: how it was measured.
        how = "\n".join(line for line in doc[1:] if not line.strip().startswith("python ")).strip()
        sections += [f"## {TITLES[name]}", "", module.report(data), "", "How:", "", how, ""]
    analysis = ANALYSIS.read_text().strip() if ANALYSIS.exists() else ""
    lines = [
        "# Performance",
        "",
        "<!-- Written by bench/run_all.py (`make bench`): edit bench/analysis.md or the benchmarks, not this file. -->",
        "",
        "Our server (function_app.py through devhost, Entra ID validation on) side by side with the MCP SDK's own",
        "stateless JSON app (tests/conformance/bare_sdk_app.py: the same `add` tool, no auth, on uvicorn), always",
        "in the same run; every figure is a median of repetitions and every ratio is taken within one run.",
        "",
        f"Run on {started} UTC at commit {git_state()}, in {seconds / 60:.1f} minutes, with:"
        if len(names) == len(BENCHMARKS)
        else f"Sections {', '.join(TITLES[n] for n in names)} run on {started} UTC at commit {git_state()}; the "
        "others are from the previous full run. Full run:"
        if names
        else f"Rewritten at commit {git_state()} from the last results of each benchmark (none run). Full run:",
        "",
        "```",
        COMMAND,
        "```",
        "",
        "Machine:",
        "",
        *machine(),
        f"- Load average when the run started: {' '.join(f'{x:.2f}' for x in load)} (other work shares these 2 "
        "cores; see 'Noise' below)",
        "",
        "## Summary",
        "",
        common.table(["measure", "figures", "ratio", "target", "verdict"], summary(results)),
        "",
        *sections,
        "## Method",
        "",
        METHOD.strip(),
        "",
        analysis,
        "",
    ]
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text("\n".join(lines))


METHOD = """
- **Load generator**: `bench/loadgen.py`, a keep-alive HTTP/1.1 client on raw asyncio sockets, run in
  its own process, the same for both servers. Chosen over `wrk` because it needs nothing outside the
  venv, can send an exact number of requests (the memory test needs 10,000 and 20,000, `wrk` only
  runs for a duration), and checks every response (status 200 and the tool's result in the body:
  `wrk` counts only non-2xx, so a JSON-RPC error would pass as a success). It does not bottleneck:
  each request is pre-encoded bytes written and read by Content-Length, and it reports its own CPU
  use (about 0.1 core at ~800 req/s, so ten times more headroom than one uvicorn worker needs).
  Checked against `wrk -t1 -c8` with a Lua POST body on the same devhost, three runs in turn: 549-642
  req/s with this client, 602-854 with wrk, the same within this machine's noise.
- **Servers**: one uvicorn worker each, on 127.0.0.1, with asyncio and h11 (no uvloop or httptools
  installed). The bare app is `bench/bare_app.py`: the conformance baseline's own `build_app()`, with
  the SDK's per-request INFO log line turned down to WARNING as ours does, so neither side writes a
  log line per request.
- **Time**: in-process figures (validation, handler) are CPU time of the process
  (`time.process_time_ns`), so a neighbour taking the core away does not count; HTTP figures are wall
  time (requests per second, time to first 200), with the server's own CPU time per request or until
  its first answer reported beside them (read from /proc), which neighbours do not inflate either.
- **Repetitions**: the two sides are measured in turn inside each repetition (alternating which goes
  first for the HTTP runs); a ratio is the median of the per-repetition ratios, a figure the median of
  the repetitions, and the range is the smallest and largest repetition.
- **Noise**: these 2 cores are shared with other work (the load average is in the machine list
  above). Wall-time figures swing by ±30% from one run to the next when the load average is above 2;
  the CPU-time columns are the ones to compare across runs.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the chain; no docs written")
    parser.add_argument("--only", help="comma-separated subset of: " + ",".join(BENCHMARKS))
    args = parser.parse_args()
    names = [n for n in BENCHMARKS if not args.only or n in args.only.split(",")]
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
    load = os.getloadavg()
    start = time.monotonic()
    for name in names:
        common.RESULTS.joinpath(f"{name}.json").unlink(missing_ok=True)
        run(name, args.quick)
    seconds = time.monotonic() - start
    results = {name: data for name in BENCHMARKS if (data := common.load(name)) is not None}
    print("\n== Summary\n")
    print(common.table(["measure", "figures", "ratio", "target", "verdict"], summary(results)))
    if not args.quick:
        write_doc(results, seconds, started, load, names)
        print(f"\nWrote {DOC.relative_to(common.ROOT)} ({seconds / 60:.1f} minutes in all)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
