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
per-repetition ratios, as in 2b.
"""

from __future__ import annotations

import argparse
import asyncio
import os
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


async def measure(requests: int, reps: int) -> dict[str, Any]:
    from devhost.server import route_prefix
    from devhost.worker.host import library_version
    from devhost.worker.serve import build_worker_app

    body = common.CALL_BODY.encode()
    with common.authority() as auth:
        os.environ.update(auth.env())
        # Started in its own loop, as devhost does before its server's loop runs.
        ours_app = await asyncio.to_thread(build_worker_app, common.ROOT, route_prefix(common.ROOT / "host.json"))
        headers = {**common.MCP_HEADERS, "Host": "127.0.0.1:7071", "Authorization": f"Bearer {auth.mint()}"}
        ours_scope = asgi_scope(body, headers)
        bare_scope = asgi_scope(body, {k: v for k, v in headers.items() if k != "Authorization"})

        import bare_app

        bare = bare_app.build_app()

        def checked(name: str, app: Any, scope: dict[str, Any]) -> Callable[[], Awaitable[None]]:
            async def one() -> None:
                status, out = await call(app, scope, body)
                if status != 200 or common.EXPECTED.encode() not in out:
                    raise RuntimeError(f"{name} answered {status}: {out[:300]!r}")

            return one

        devhost, bare_one = checked("devhost", ours_app[0], ours_scope), checked("bare", bare, bare_scope)
        ours = invocation(ours_app[0].host, next(r for r in ours_app[1] if r.function_name == "mcp"), body, headers)
        results: dict[str, list[float]] = {"bare": [], "ours": [], "devhost": []}
        async with bare.router.lifespan_context(bare):
            for one in (bare_one, ours, devhost):  # warm up: imports, caches, the first key fetch
                for _ in range(50):
                    await one()
            fetches_before = auth.key_fetches()
            for rep in range(reps):
                order = [("bare", bare_one), ("ours", ours)]
                for name, one in order if rep % 2 == 0 else reversed(order):
                    results[name].append(await common.per_request_us(requests, one))
                results["devhost"].append(await common.per_request_us(requests // 2, devhost))
            fetches = auth.key_fetches() - fetches_before
        ours_app[0].host.stop()
    ratio = common.median([o / b for o, b in zip(results["ours"], results["bare"], strict=True)])
    devhost_ratio = common.median([o / b for o, b in zip(results["devhost"], results["bare"], strict=True)])
    return {
        "python": sys.version.split()[0],
        "worker": f"azure-functions-runtime {library_version()}",
        "requests": requests,
        "reps": reps,
        "us": {name: common.median(values) for name, values in results.items()},
        "us_all": results,
        "ratio": ratio,
        "devhost_ratio": devhost_ratio,
        "key_fetches_while_serving": fetches,
        "target_max": TARGET,
        "met": ratio <= TARGET,
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
    return "\n".join(
        [
            common.table(HEADERS, rows),
            "",
            f"Ours through the worker vs bare SDK: {data['ratio']:.2f}× (target ≤ {TARGET}×): "
            f"{common.verdict(data['met'])}. Key fetches while serving: {data['key_fetches_while_serving']}.",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    from devhost.worker import unavailable_reason

    why_not = unavailable_reason()
    data = {"skipped": why_not} if why_not else asyncio.run(measure(args.requests, args.reps))
    common.save("worker_inprocess", data)
    print(report(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
