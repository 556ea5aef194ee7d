"""2b. The in-process cost of one authenticated `tools/call`: our function handler against the bare SDK app.

    python bench/inprocess.py [--requests 1000] [--reps 7]

- ours: a `func.HttpRequest` (as the Functions worker builds it) into `function_app.mcp`, which is
  `shared.web.handlers.mcp`: bearer token, validator (a token seen before, so the result cache answers,
  as for every request of a connected client but its first), authorization, the MCP bridge into the
  SDK's session manager, and a `func.HttpResponse` out;
- bare: the same JSON-RPC as an ASGI request into the bare SDK app (`bench/bare_app.py`, its
  Starlette app with its lifespan running), the response collected from `send`.

No sockets and no HTTP server: only what each side does with a request. Both run in this one
process and event loop, in turn inside each repetition, timed in CPU time of the process
(`time.process_time_ns`, which a neighbour taking the core does not inflate). The ratio is the
median of the per-repetition ratios. Two more rows split our cost: authentication alone
(`shared.web.authenticate`) and the bridge alone (`McpBridge.handle`). The last row is the same
request through devhost's Starlette app (devhost/server.py around the handler), ASGI in and out like
the bare app: what devhost adds, which the throughput benchmark also pays (the Functions host does
that conversion itself in Azure).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

import common

PORT = 7071  # only named in the URL and Host header: nothing listens


def asgi_request(path: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", PORT),
        "state": {},
    }


async def call_asgi(app: Any, scope: dict[str, Any], body: bytes) -> tuple[int, bytes]:
    """What an ASGI server does for one buffered request (the bridge's own runner); the status and body."""
    from shared.mcp import run_buffered

    status, _, out = await run_buffered(app, dict(scope), body)
    return status, out


async def measure(requests: int, reps: int) -> dict[str, Any]:
    import azure.functions as func

    from shared import runtime as runtime_module
    from shared.web import authenticate

    body = common.CALL_BODY.encode()
    url = f"http://127.0.0.1:{PORT}/mcp"
    with common.authority() as auth:
        os.environ.update(auth.env())
        runtime = runtime_module.reset(auth.env())
        import function_app

        token = auth.mint()
        headers = {**common.MCP_HEADERS, "Host": f"127.0.0.1:{PORT}", "Authorization": f"Bearer {token}"}

        def functions_request() -> func.HttpRequest:
            # What the Functions worker hands the function: built per request, as the worker does.
            return func.HttpRequest(method="POST", url=url, headers=headers, params={}, route_params={}, body=body)

        # The registered callable, exactly what devhost and the Functions worker call. (The app's
        # functions can be listed once only: azure-functions refuses a second `get_functions()`.)
        from devhost.server import build_app as build_devhost

        devhost_app, table = build_devhost(function_app.app, common.ROOT / "host.json")
        ours_fn = next(fn.handler for _, fn in table if fn.name == "mcp")

        async def ours() -> None:
            response = await ours_fn(functions_request())
            if response.status_code != 200 or common.EXPECTED.encode() not in response.get_body():
                raise RuntimeError(f"ours answered {response.status_code}: {response.get_body()[:300]!r}")

        auth_request = functions_request()

        async def ours_auth() -> None:
            caller = await authenticate(auth_request, runtime)
            if isinstance(caller, func.HttpResponse):
                raise RuntimeError("authentication failed")

        caller = await authenticate(functions_request(), runtime)
        assert not isinstance(caller, func.HttpResponse)

        async def ours_bridge() -> None:
            await runtime.bridge.handle(functions_request(), caller, token)

        import bare_app

        bare = bare_app.build_app()
        bare_scope = asgi_request("/mcp", body, {k: v for k, v in headers.items() if k != "Authorization"})
        bare_scope["headers"].append((b"content-length", str(len(body)).encode()))

        devhost_scope = asgi_request("/mcp", body, headers)
        devhost_scope["headers"].append((b"content-length", str(len(body)).encode()))

        async def devhost_call() -> None:
            status, out = await call_asgi(devhost_app, devhost_scope, body)
            if status != 200 or common.EXPECTED.encode() not in out:
                raise RuntimeError(f"devhost answered {status}: {out[:300]!r}")

        async def bare_call() -> None:
            status, out = await call_asgi(bare, bare_scope, body)
            if status != 200 or common.EXPECTED.encode() not in out:
                raise RuntimeError(f"bare answered {status}: {out[:300]!r}")

        async with bare.router.lifespan_context(bare):
            await common.warm_up(bare_call, ours, ours_auth, ours_bridge, devhost_call)
            fetches_before = auth.key_fetches()
            after = {
                "ours_auth": (ours_auth, requests),
                "ours_bridge": (ours_bridge, requests // 2),
                "devhost": (devhost_call, requests // 2),
            }
            results = await common.in_turn(reps, requests, {"bare": bare_call, "ours": ours}, after)
            fetches = auth.key_fetches() - fetches_before
        with contextlib.suppress(Exception):
            await asyncio.sleep(0)

    ratio = common.median([o / b for o, b in zip(results["ours"], results["bare"], strict=True)])
    devhost_ratio = common.median([o / b for o, b in zip(results["devhost"], results["bare"], strict=True)])
    return {
        "requests": requests,
        "reps": reps,
        "us": {name: common.median(values) for name, values in results.items()},
        "us_all": results,
        "ratio": ratio,
        "devhost_ratio": devhost_ratio,
        "key_fetches_while_serving": fetches,
        "target_max": 1.15,
        "met": ratio <= 1.15,
    }


def report(data: dict[str, Any]) -> str:
    us, alls = data["us"], data["us_all"]
    rows = [
        ["bare SDK app (ASGI in, ASGI out)", f"{us['bare']:.0f}", "1.00", common.spread(alls["bare"])],
        [
            "ours: `func.HttpRequest` → `handlers.mcp` → `func.HttpResponse`",
            f"{us['ours']:.0f}",
            f"{data['ratio']:.2f}",
            common.spread(alls["ours"]),
        ],
        ["  of which authentication (cached token)", f"{us['ours_auth']:.1f}", "", common.spread(alls["ours_auth"])],
        ["  of which the MCP bridge", f"{us['ours_bridge']:.0f}", "", common.spread(alls["ours_bridge"])],
        [
            "ours behind devhost's Starlette adapter (ASGI in, ASGI out)",
            f"{us['devhost']:.0f}",
            f"{data['devhost_ratio']:.2f}",
            common.spread(alls["devhost"]),
        ],
    ]
    return "\n".join(
        [
            common.table(["in-process `tools/call`", "µs per request (median)", "× bare", "range (µs)"], rows),
            "",
            f"Ours vs bare SDK: {data['ratio']:.2f}× (target ≤ 1.15×): {common.verdict(data['met'])}. "
            f"Key fetches while serving: {data['key_fetches_while_serving']}.",
        ]
    )


def main() -> int:
    options: dict[str, common.Option] = {"requests": (int, 1000), "reps": (int, 7)}
    return common.run_step("inprocess", __doc__, options, measure, report)


if __name__ == "__main__":
    raise SystemExit(main())
