"""The bridge between a Functions HTTP request and the SDK's Streamable HTTP session manager.

The SDK's manager must be running (its `run()` holds the task group every request is served
in) before the first request, and `run()` may be entered only once per manager. A cold instance
can receive its first requests together, so the manager is started by whichever request comes
first and the others wait for that same start. One manager serves each event loop; the Functions
worker and devhost each have one loop, tests may have several.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func
from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

from shared.identity import Principal, current_assertion, current_caller
from shared.settings import Settings

LOCAL_HOSTS = ("127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]")
LOCAL_ORIGINS = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """Host and Origin checks against DNS rebinding: loopback, the site's own name, and any configured."""
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*LOCAL_HOSTS, *settings.allowed_hosts],
        allowed_origins=[*LOCAL_ORIGINS, *settings.allowed_origins],
    )


class McpBridge:
    def __init__(self, build_server: Callable[[], MCPServer], settings: Settings) -> None:
        self._server = build_server()
        self._security = transport_security(settings)
        self._managers: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Future[StreamableHTTPSessionManager]
        ]
        self._managers = weakref.WeakKeyDictionary()

    @property
    def server(self) -> MCPServer:
        return self._server

    async def handle(self, req: func.HttpRequest, caller: Principal, assertion: str | None) -> func.HttpResponse:
        manager = await self._manager()
        caller_reset, assertion_reset = current_caller.set(caller), current_assertion.set(assertion)
        try:
            return await _call_asgi(manager, req)
        finally:
            current_caller.reset(caller_reset)
            current_assertion.reset(assertion_reset)

    async def _manager(self) -> StreamableHTTPSessionManager:
        loop = asyncio.get_running_loop()
        started = self._managers.get(loop)
        if started is None:
            # No await between the lookup and this assignment: concurrent first requests on this
            # loop all find the same future.
            started = self._managers[loop] = loop.create_future()
            manager = StreamableHTTPSessionManager(
                app=self._server._lowlevel_server,
                json_response=True,
                stateless=True,
                security_settings=self._security,
            )
            task = loop.create_task(_run_forever(manager, started))
            # The loop keeps only weak references to tasks.
            _RUNNING.add(task)
            task.add_done_callback(_RUNNING.discard)
        return await asyncio.shield(started)


_RUNNING: set[asyncio.Task[None]] = set()


async def _run_forever(
    manager: StreamableHTTPSessionManager, started: asyncio.Future[StreamableHTTPSessionManager]
) -> None:
    try:
        async with manager.run():
            started.set_result(manager)
            await asyncio.Event().wait()
    except BaseException as exc:
        if not started.done():
            started.set_exception(exc if isinstance(exc, Exception) else RuntimeError("the MCP server stopped"))
        raise


async def _call_asgi(manager: StreamableHTTPSessionManager, req: func.HttpRequest) -> func.HttpResponse:
    url = urlsplit(req.url)
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in req.headers.items()]
    if not any(name == b"host" for name, _ in headers):
        headers.append((b"host", url.netloc.encode("latin-1")))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": req.method,
        "scheme": url.scheme,
        "path": url.path,
        "raw_path": url.path.encode("latin-1"),
        "query_string": url.query.encode("latin-1"),
        "root_path": "",
        "headers": headers,
        "client": None,
        "server": (url.hostname or "localhost", url.port or (443 if url.scheme == "https" else 80)),
    }
    status, out_headers, body = await run_buffered(manager.handle_request, scope, req.get_body() or b"")
    # The Functions host sets the length of the body it sends.
    response_headers = {name: value for name, value in out_headers if name.lower() != "content-length"}
    return func.HttpResponse(body, status_code=status, headers=response_headers)


async def run_buffered(
    app: Callable[..., Awaitable[None]], scope: dict[str, Any], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Run an ASGI app for one request whose body is all there, collecting the whole response."""
    answered = asyncio.Event()
    status = 500
    out_headers: list[tuple[str, str]] = []
    chunks: list[bytes] = []
    body_sent = False

    async def receive() -> dict[str, object]:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        # The client of a buffered response is there until the response is complete.
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])  # type: ignore[call-overload]
            raw = message.get("headers") or []
            out_headers.extend((k.decode("latin-1"), v.decode("latin-1")) for k, v in raw)  # type: ignore[union-attr]
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))  # type: ignore[arg-type]
            if not message.get("more_body"):
                answered.set()

    try:
        await app(scope, receive, send)
    finally:
        answered.set()
    return status, out_headers, b"".join(chunks)
