"""4. Memory: resident set size after 10,000 and 20,000 authenticated `tools/call`s, against the bare SDK app.

    python bench/memory.py [--requests 10000] [--refresh 10]

Both servers run at once (devhost `--auth entra` against a LocalAuthority in this process, and
`bench/bare_app.py`); `bench/loadgen.py` sends each `--requests` `tools/call`s, then the same again,
and the RSS of each server process is read (/proc/PID/status) after each batch. Growth is between the two
readings; the ratio is ours over bare after the second batch.

One request in `--fresh-every` carries a token devhost has never seen (as new clients keep
arriving; all the others repeat one token), and devhost runs with JWKS_REFRESH_SECONDS=`--refresh`:
the validator consults its key set on every first-seen token, so it refreshes in the background
during the run, and the key fetches counted at the authority must stay within one per refresh
interval (plus the first), however many requests arrive.
"""

from __future__ import annotations

import math
import time
from typing import Any

import common


def measure(requests: int, refresh: int, concurrency: int, fresh_every: int) -> dict[str, Any]:
    with common.authority(refresh=refresh) as auth:
        token = auth.mint(minutes=60)
        fresh = [auth.mint(minutes=60, claims={"uti": f"fresh-{i}"}) for i in range(2 * requests // fresh_every + 1)]
        batches = [fresh[: len(fresh) // 2], fresh[len(fresh) // 2 :]]
        ours_port, bare_port = common.free_port(), common.free_port()
        with (
            common.server("ours", common.devhost_command(ours_port), common.clean_env(auth.env()), ours_port) as ours,
            common.server("bare", common.bare_command(bare_port), common.clean_env(), bare_port) as bare,
        ):
            started = time.monotonic()
            rss: dict[str, list[float]] = {"ours": [], "bare": []}
            rps: dict[str, list[float]] = {"ours": [], "bare": []}
            rss_idle = {"ours": common.rss_mib(ours.pid), "bare": common.rss_mib(bare.pid)}
            for batch in batches:
                for name, server, tok in (("ours", ours, token), ("bare", bare, None)):
                    run = common.load_run(
                        server.url,
                        tok,
                        concurrency=concurrency,
                        requests=requests,
                        fresh_tokens=batch if tok else (),
                        fresh_every=fresh_every,
                    )
                    rps[name].append(run["rps"])
                    rss[name].append(common.rss_mib(server.pid))
            elapsed = time.monotonic() - started
        fetches = auth.key_fetches()

    growth = {name: (v[1] - v[0]) / v[0] for name, v in rss.items()}
    ratio = rss["ours"][1] / rss["bare"][1]
    fetch_bound = 1 + math.ceil(elapsed / refresh)
    return {
        "requests_per_batch": requests,
        "fresh_every": fresh_every,
        "concurrency": concurrency,
        "rss_idle_mib": rss_idle,
        "rss_mib": rss,
        "rps": rps,
        "growth": growth,
        "ratio": ratio,
        "key_fetches": fetches,
        "refresh_seconds": refresh,
        "seconds": elapsed,
        "key_fetch_bound": fetch_bound,
        "targets": {"growth_max": 0.05, "ratio_max": 1.2},
        "met": {
            "growth": growth["ours"] <= 0.05,
            "ratio": ratio <= 1.2,
            "fetches": fetches <= fetch_bound,
        },
    }


def report(data: dict[str, Any]) -> str:
    rss, idle, n = data["rss_mib"], data["rss_idle_mib"], data["requests_per_batch"]
    rows = [
        [
            name,
            f"{idle[key]:.1f}",
            f"{rss[key][0]:.1f}",
            f"{rss[key][1]:.1f}",
            f"{data['growth'][key]:+.1%}",
            "1.00" if key == "bare" else f"{data['ratio']:.2f}",
        ]
        for name, key in (("bare SDK app on uvicorn", "bare"), ("ours through devhost (authenticated)", "ours"))
    ]
    headers = ["RSS (MiB)", "idle", f"after {n:,}", f"after {2 * n:,}", "growth", "× bare"]
    met = data["met"]
    return "\n".join(
        [
            common.table(headers, rows),
            "",
            f"Growth between {n:,} and {2 * n:,} requests: {data['growth']['ours']:+.1%} (target ≤ 5%): "
            f"{common.verdict(met['growth'])}. RSS {data['ratio']:.2f}× the bare SDK's (target ≤ 1.2×): "
            f"{common.verdict(met['ratio'])}.",
            f"Key fetches with JWKS_REFRESH_SECONDS={data['refresh_seconds']} over {data['seconds']:.0f} s and "
            f"{2 * n:,} requests to devhost (one in {data['fresh_every']} with a first-seen token): "
            f"{data['key_fetches']} (bound: {data['key_fetch_bound']}, one per interval plus the first): "
            f"{common.verdict(met['fetches'])}.",
        ]
    )


def main() -> int:
    options: dict[str, common.Option] = {
        "requests": (int, 10_000),
        "refresh": (int, 10, "JWKS_REFRESH_SECONDS of devhost"),
        "concurrency": (int, 8),
        "fresh-every": (int, 100, "one request in N has a first-seen token"),
    }
    return common.run_step("memory", __doc__, options, measure, report)


if __name__ == "__main__":
    raise SystemExit(main())
