"""2c. One authenticated `tools/call` through Azure's Python worker library, in-process, against the bare SDK app.

    .venv313/bin/python bench/worker_inprocess.py [--requests 1000] [--reps 7]

Runs on Python 3.13 (the worker library needs it; run_all.py starts it with .venv313's interpreter,
and records a skip with the reason where there is none). In this one process and event loop, no sockets:
- bare: the bare SDK app (`bench/bare_app.py`, its Starlette app with its lifespan running), ASGI in
  and ASGI out;
- ours through the worker (the target): what the Python worker process does in Azure with one HTTP
  invocation. The host's InvocationRequest (RpcHttp with the same headers and body, built per
  request as the worker's gRPC layer builds it) into `azure_functions_runtime.invocation_request`,
  which builds the `func.HttpRequest`, runs `function_app.mcp` (bearer token, cached validation, the
  MCP bridge into the SDK) and converts its `func.HttpResponse` into the InvocationResponse;
- ours behind devhost's host side, for information: the same, ASGI in and ASGI out through
  devhost/worker/http.py (routing and the request and response conversions, which the .NET host
  does in Azure, outside the Python process).
Timed in CPU time of the process, in turn inside each repetition; ratios are medians of the
per-repetition ratios, as in 2b. Where valgrind is installed, ours and bare are also counted in
instructions (each side alone in a process under `valgrind --tool=cachegrind`, answering N1 and then N2
requests; (Ir(N2) - Ir(N1)) / (N2 - N1), the authority in this process, outside the count). CPU time
here swings by a quarter from run to run with whatever else the host does, the count by under 0.1%,
so the verdict is taken on the count where there is one (bench/analysis.md).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import common

TARGET = 1.25
HEADERS = ["in-process `tools/call`, Python 3.13", "µs per request (median)", "× bare", "range (µs)"]


def asgi_scope(body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/mcp",
        "raw_path": b"/mcp",
        "query_string": b"",
        "root_path": "",
        "headers": [*raw, (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 7071),
        "state": {},
    }


async def call(app: Any, scope: dict[str, Any], body: bytes) -> tuple[int, bytes]:
    """What an ASGI server does with one buffered request: the status and the body sent."""
    sent: list[dict[str, Any]] = []
    given = False

    async def receive() -> dict[str, Any]:
        nonlocal given
        if given:
            await asyncio.Event().wait()  # a client that stays connected
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(dict(scope), receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def invocation(host: Any, route: Any, body: bytes, headers: dict[str, str]) -> Callable[[], Awaitable[None]]:
    """One InvocationRequest for `function_app.mcp`, as the host sends it, straight into the worker library."""
    from devhost.worker import protocol

    lowered = {name.lower(): value for name, value in headers.items()}
    url = "http://127.0.0.1:7071/mcp"

    async def one() -> None:
        http = protocol.RpcHttp(method="POST", url=url, headers=lowered, body=protocol.TypedData(bytes=body))
        trigger = protocol.ParameterBinding(name=route.binding, data=protocol.TypedData(http=http))
        answer = await host.invoke(route.function_id, [trigger])
        out = answer.return_value.http
        if out.status_code != "200" or common.EXPECTED.encode() not in out.body.bytes:
            raise RuntimeError(f"ours answered {out.status_code}: {out.body.bytes[:300]!r}")

    return one


def bare_side(body: bytes, headers: dict[str, str]) -> tuple[Any, Callable[[], Awaitable[None]]]:
    """The bare app (to run inside its lifespan) and one checked request into it."""
    import bare_app

    bare = bare_app.build_app()
    scope = asgi_scope(body, {k: v for k, v in headers.items() if k != "Authorization"})

    async def one() -> None:
        status, out = await call(bare, scope, body)
        if status != 200 or common.EXPECTED.encode() not in out:
            raise RuntimeError(f"bare answered {status}: {out[:300]!r}")

    return bare, one


async def worker_side() -> tuple[Any, list[Any]]:
    from devhost.server import route_prefix
    from devhost.worker.serve import build_worker_app

    # Started in its own loop, as devhost does before its server's loop runs.
    return await asyncio.to_thread(build_worker_app, common.ROOT, route_prefix(common.ROOT / "host.json"))


async def probe(side: str, requests: int) -> None:
    """What one counted process does: `requests` answers from one side only, then exit (the environment
    names the authority and carries the token)."""
    body = common.CALL_BODY.encode()
    headers = {**common.MCP_HEADERS, "Host": "127.0.0.1:7071", "Authorization": f"Bearer {os.environ['BENCH_TOKEN']}"}
    if side == "bare":
        bare, one = bare_side(body, headers)
        async with bare.router.lifespan_context(bare):
            for _ in range(requests):
                await one()
        return
    app, routes = await worker_side()
    ours = invocation(app.host, next(r for r in routes if r.function_name == "mcp"), body, headers)
    for _ in range(requests):
        await ours()
    app.host.stop()


def count_instructions(env: dict[str, str]) -> dict[str, Any]:
    """Instructions per request of each side, each alone in its counted processes."""
    from instructions import COUNTED, count, per_request

    def counted(side: str) -> Callable[[int], int]:
        script = ["bench/worker_inprocess.py", "--probe", side]
        return lambda n: count([str(common.WORKER_PYTHON), *script, "--requests", str(n)], env)

    per = per_request({side: counted(side) for side in ("ours", "bare")})
    return {"per_request": per, "ratio": per["ours"] / per["bare"], "requests": list(COUNTED)}


async def measure(requests: int, reps: int) -> dict[str, Any]:
    from devhost.worker.host import library_version

    body = common.CALL_BODY.encode()
    with common.authority() as auth:
        os.environ.update(auth.env())
        ours_app = await worker_side()
        token = auth.mint()
        headers = {**common.MCP_HEADERS, "Host": "127.0.0.1:7071", "Authorization": f"Bearer {token}"}
        ours_scope = asgi_scope(body, headers)
        bare, bare_one = bare_side(body, headers)
        ours = invocation(ours_app[0].host, next(r for r in ours_app[1] if r.function_name == "mcp"), body, headers)

        def checked(name: str, app: Any, scope: dict[str, Any]) -> Callable[[], Awaitable[None]]:
            async def one() -> None:
                status, out = await call(app, scope, body)
                if status != 200 or common.EXPECTED.encode() not in out:
                    raise RuntimeError(f"{name} answered {status}: {out[:300]!r}")

            return one

        devhost = checked("devhost", ours_app[0], ours_scope)
        async with bare.router.lifespan_context(bare):
            await common.warm_up(bare_one, ours, devhost)
            fetches_before = auth.key_fetches()
            pair = {"bare": bare_one, "ours": ours}
            results = await common.in_turn(reps, requests, pair, {"devhost": (devhost, requests // 2)})
            fetches = auth.key_fetches() - fetches_before
        ours_app[0].host.stop()
        counted = None
        if shutil.which("valgrind"):
            env = {**common.clean_env(auth.env()), "BENCH_TOKEN": token}
            counted = await asyncio.to_thread(count_instructions, env)
    ratio = common.median([o / b for o, b in zip(results["ours"], results["bare"], strict=True)])
    devhost_ratio = common.median([o / b for o, b in zip(results["devhost"], results["bare"], strict=True)])
    verdict_ratio = counted["ratio"] if counted else ratio
    return {
        "python": sys.version.split()[0],
        "worker": f"azure-functions-runtime {library_version()}",
        "requests": requests,
        "reps": reps,
        "us": {name: common.median(values) for name, values in results.items()},
        "us_all": results,
        "ratio": ratio,
        "instructions": counted,
        "verdict_by": "instructions" if counted else "cpu",
        "verdict_ratio": verdict_ratio,
        "devhost_ratio": devhost_ratio,
        "key_fetches_while_serving": fetches,
        "target_max": TARGET,
        "met": verdict_ratio <= TARGET,
    }


def report(data: dict[str, Any]) -> str:
    if data.get("skipped"):
        return f"Not run: {data['skipped']}."
    us, alls = data["us"], data["us_all"]
    rows = [
        [f"bare SDK app (ASGI in, ASGI out), Python {data['python']}", f"{us['bare']:.0f}", "1.00"],
        [
            f"ours through {data['worker']} (InvocationRequest in, InvocationResponse out)",
            f"{us['ours']:.0f}",
            f"{data['ratio']:.2f}",
        ],
        [
            "  the same behind devhost's host side (ASGI in, ASGI out)",
            f"{us['devhost']:.0f}",
            f"{data['devhost_ratio']:.2f}",
        ],
    ]
    names = ("bare", "ours", "devhost")
    rows = [[*row, common.spread(alls[name])] for row, name in zip(rows, names, strict=True)]
    counted = data.get("instructions")
    by = (
        f"by instructions {counted['ratio']:.2f}× ({counted['per_request']['ours'] / 1e6:.2f} M vs "
        f"{counted['per_request']['bare'] / 1e6:.2f} M per request), by CPU time {data['ratio']:.2f}×"
        if counted
        else f"by CPU time {data['ratio']:.2f}× (no valgrind here to count instructions)"
    )
    return "\n".join(
        [
            common.table(HEADERS, rows),
            "",
            f"Ours through the worker vs bare SDK: {by} (target ≤ {TARGET}×, judged "
            f"{'by instructions' if counted else 'by CPU time'}): {common.verdict(data['met'])}. "
            f"Key fetches while serving: {data['key_fetches_while_serving']}.",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--probe", choices=("ours", "bare"), help="count mode: one side only, then exit")
    args = parser.parse_args()
    # The worker library logs at INFO to the console; httpx's line per key fetch is not this report's.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.probe:
        asyncio.run(probe(args.probe, args.requests))
        return 0
    from devhost.worker import unavailable_reason

    why_not = unavailable_reason()
    data = {"skipped": why_not} if why_not else asyncio.run(measure(args.requests, args.reps))
    common.save("worker_inprocess", data)
    print(report(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
