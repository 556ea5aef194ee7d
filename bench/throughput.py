"""2a. Authenticated `tools/call` requests per second through devhost, against the bare SDK app on uvicorn.

    python bench/throughput.py [--seconds 4] [--reps 5] [--concurrency 8]

Both servers run at once, each one uvicorn process on 127.0.0.1 (devhost with `--auth entra`
against a LocalAuthority in this process; the bare app as `bench/bare_app.py`). The load is
`bench/loadgen.py` in its own process, the same for both: `--concurrency` keep-alive connections
sending the same `tools/call`, every answer checked for a 200 and the tool's result. Each
repetition loads the two servers in turn (alternating which goes first) for `--seconds` each,
after a warm-up; the ratio is the median of the per-repetition ratios.

Also counted at the authority: key fetches during the whole run (the hot path must make none),
and, at the end, a flood of tokens signed by a key the authority never published (unknown `kid`),
which may force at most one refresh per JWKS_MIN_REFRESH_SECONDS.
"""

from __future__ import annotations

import os
import time
from typing import Any

import common


def measure(seconds: float, reps: int, concurrency: int, flood: int) -> dict[str, Any]:
    from devhost.authority import SigningKey

    with common.authority() as auth:
        token = auth.mint(minutes=60)
        ours_port, bare_port = common.free_port(), common.free_port()
        ours_env = common.clean_env(auth.env())
        ours_log = common.RESULTS / "throughput-devhost.log"
        common.RESULTS.mkdir(parents=True, exist_ok=True)
        with (
            common.server("ours", common.devhost_command(ours_port), ours_env, ours_port, ours_log) as ours,
            common.server("bare", common.bare_command(bare_port), common.clean_env(), bare_port) as bare,
        ):
            targets = {"ours": (ours, token), "bare": (bare, None)}
            for server, tok in targets.values():  # warm-up: imports, first key fetch, caches
                common.load_run(server.url, tok, concurrency=concurrency, requests=500)
            fetches_after_warmup = auth.key_fetches()
            started = time.monotonic()
            runs: dict[str, list[dict[str, Any]]] = {"ours": [], "bare": []}
            for rep in range(reps):
                order = ["bare", "ours"] if rep % 2 == 0 else ["ours", "bare"]
                for name in order:
                    server, tok = targets[name]
                    runs[name].append(
                        common.load_run(
                            server.url, tok, concurrency=concurrency, duration=seconds, server_pid=server.pid
                        )
                    )
            load_seconds = time.monotonic() - started
            fetches_under_load = auth.key_fetches() - fetches_after_warmup

            # Unknown `kid`s: refused with 401, and at most one refresh per JWKS_MIN_REFRESH_SECONDS.
            stranger = SigningKey.generate()
            forged = auth.local.mint(auth.tenant, auth.client, key=stranger)
            before = auth.key_fetches()
            flood_run = common.load_run(
                ours.url, forged, concurrency=concurrency, requests=flood, expect="invalid_token", status=401
            )
            fetches_unknown_kid = auth.key_fetches() - before
        total_fetches = auth.key_fetches()

    rps = {name: [r["rps"] for r in values] for name, values in runs.items()}
    ratio = common.median([o / b for o, b in zip(rps["ours"], rps["bare"], strict=True)])
    cpu = {name: [r["server_cpu_us"] for r in values] for name, values in runs.items()}
    # Requests per second a whole core would give, from the CPU each request cost the server.
    cpu_ratio = common.median([b / o for o, b in zip(cpu["ours"], cpu["bare"], strict=True)])
    return {
        "seconds": seconds,
        "reps": reps,
        "concurrency": concurrency,
        "rps": {name: common.median(v) for name, v in rps.items()},
        "rps_all": rps,
        "client_cpu": {name: common.median([r["client_cpu"] for r in v]) for name, v in runs.items()},
        "latency_ms": {name: common.median([r["latency_ms_median"] for r in v]) for name, v in runs.items()},
        "ratio": ratio,
        "server_cpu_us": {name: common.median(v) for name, v in cpu.items()},
        "server_cpu_us_all": cpu,
        "cpu_ratio": cpu_ratio,
        "load_average": os.getloadavg(),
        "target_min": 0.8,
        "met": ratio >= 0.8,
        "met_cpu": cpu_ratio >= 0.8,
        "key_fetches": {
            "total": total_fetches,
            "under_load": fetches_under_load,
            "load_seconds": load_seconds,
            "unknown_kid_requests": flood_run["requests"],
            "unknown_kid_fetches": fetches_unknown_kid,
        },
        "met_fetches": fetches_under_load == 0 and fetches_unknown_kid == 0,
    }


def report(data: dict[str, Any]) -> str:
    rps, alls = data["rps"], data["rps_all"]
    cpu = data["server_cpu_us"]
    rows = [
        [
            "bare SDK app on uvicorn",
            f"{rps['bare']:.0f}",
            "1.00",
            common.spread(alls["bare"]),
            f"{data['latency_ms']['bare']:.1f}",
            f"{cpu['bare']:.0f}",
            "1.00",
        ],
        [
            "ours through devhost (authenticated)",
            f"{rps['ours']:.0f}",
            f"{data['ratio']:.2f}",
            common.spread(alls["ours"]),
            f"{data['latency_ms']['ours']:.1f}",
            f"{cpu['ours']:.0f}",
            f"{data['cpu_ratio']:.2f}",
        ],
    ]
    headers = [
        "`tools/call` over HTTP",
        "req/s (median)",
        "× bare",
        "range",
        "median latency (ms)",
        "server CPU µs/request",
        "× bare (by CPU)",
    ]
    fetches = data["key_fetches"]
    return "\n".join(
        [
            common.table(headers, rows),
            "",
            f"Devhost vs bare SDK: {data['ratio']:.2f}× by requests per second (target ≥ 0.8×): "
            f"{common.verdict(data['met'])}; {data['cpu_ratio']:.2f}× by server CPU per request "
            f"(1 / CPU µs, immune to neighbours): {common.verdict(data['met_cpu'])}. "
            f"Load average during the run: {' '.join(f'{x:.1f}' for x in data['load_average'])}. "
            f"{data['concurrency']} connections, {data['reps']} × {data['seconds']:g} s each; the load generator "
            f"used {max(data['client_cpu'].values()):.0%} of a core at most.",
            f"Key fetches: {fetches['under_load']} during {fetches['load_seconds']:.0f} s of load, "
            f"{fetches['unknown_kid_fetches']} for {fetches['unknown_kid_requests']} tokens with an unknown `kid` "
            f"(all refused with 401), {fetches['total']} in all (the first, at start-up): "
            f"{common.verdict(data['met_fetches'])}.",
        ]
    )


def main() -> int:
    options: dict[str, common.Option] = {
        "seconds": (float, 4.0),
        "reps": (int, 5),
        "concurrency": (int, 8),
        "flood": (int, 2000, "requests with an unknown `kid`"),
    }
    return common.run_step("throughput", __doc__, options, measure, report)


if __name__ == "__main__":
    raise SystemExit(main())
