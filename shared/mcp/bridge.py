"""The bridge between a Functions HTTP request and the SDK's Streamable HTTP session manager.

The SDK's manager must be running (its `run()` holds the task group every request is served
in) before the first request, and `run()` may be entered only once per manager. A cold instance
can receive its first requests together, so the manager is started by whichever request comes
first and the others wait for that same start. One manager serves each event loop; the Functions
worker and devhost each have one loop, tests may have several.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func
from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

from shared.auth.identity import Principal, current_assertion, current_caller
from shared.mcp.context import current_settings
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
        self._settings = settings
        self._security = transport_security(settings)
        self._managers: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Future[StreamableHTTPSessionManager]
        ]
        self._managers = weakref.WeakKeyDictionary()
        # The loop whose manager answered last, and that manager: every request but the first on a
        # loop finds it here, without the weak dictionary's lookup and a wait on a finished future.
        self._last: tuple[weakref.ref[asyncio.AbstractEventLoop], StreamableHTTPSessionManager] | None = None

    @property
    def server(self) -> MCPServer:
        return self._server

    async def handle(self, req: func.HttpRequest, caller: Principal, assertion: str | None) -> func.HttpResponse:
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0]() is loop:
            manager = last[1]
        else:
            manager = await self._manager()
            self._last = (weakref.ref(loop), manager)
        scope = _scope(req)
        caller_reset, assertion_reset = current_caller.set(caller), current_assertion.set(assertion)
        settings_reset = current_settings.set(self._settings)
        try:
            status, headers, body = await run_buffered(manager.handle_request, scope, req.get_body() or b"")
        finally:
            current_caller.reset(caller_reset)
            current_assertion.reset(assertion_reset)
            current_settings.reset(settings_reset)
        return _response(status, headers, body)

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


# The ASGI scope's fields that come from a request's URL: scheme, path, raw_path, query_string,
# the Host header to send when the request has none, and server.
_Target = tuple[str, str, bytes, bytes, bytes, tuple[str, int]]


@functools.lru_cache(maxsize=64)
def _target(url: str) -> _Target:
    """Parsed once per URL, as `urlsplit` caches its own results: a client posts every request to the same one."""
    parts = urlsplit(url)
    server = (parts.hostname or "localhost", parts.port or (443 if parts.scheme == "https" else 80))
    path = parts.path
    return (
        parts.scheme,
        path,
        path.encode("latin-1"),
        parts.query.encode("latin-1"),
        parts.netloc.encode("latin-1"),
        server,
    )


def _scope(req: func.HttpRequest) -> dict[str, Any]:
    """The ASGI scope of a Functions request."""
    scheme, path, raw_path, query_string, host, server = _target(req.url)
    request_headers = req.headers
    headers = [(k.lower().encode("latin-1"), request_headers[k].encode("latin-1")) for k in request_headers]
    if "host" not in request_headers:
        headers.append((b"host", host))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": req.method,
        "scheme": scheme,
        "path": path,
        "raw_path": raw_path,
        "query_string": query_string,
        "root_path": "",
        "headers": headers,
        "client": None,
        "server": server,
    }


def _response(status: int, headers: list[tuple[str, str]], body: bytes) -> func.HttpResponse:
    # The Functions host sets the length of the body it sends.
    kept = {name: value for name, value in headers if name.lower() != "content-length"}
    return func.HttpResponse(body, status_code=status, headers=kept)


async def run_buffered(
    app: Callable[..., Awaitable[None]], scope: dict[str, Any], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Run an ASGI app for one request whose body is all there, collecting the whole response."""
    exchange = _BufferedExchange(body)
    try:
        await app(scope, exchange.receive, exchange.send)
    finally:
        exchange.complete()
    return exchange.status, exchange.headers, b"".join(exchange.chunks)


class _BufferedExchange:
    """The `receive` and `send` of one buffered request: one object rather than closures and their cells."""

    __slots__ = ("_answered", "_body", "_body_sent", "_complete", "chunks", "headers", "status")

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._body_sent = False
        self._complete = False
        # Made only if the app listens for a disconnect, which a JSON response does not.
        self._answered: asyncio.Event | None = None
        self.status = 500
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []

    async def receive(self) -> dict[str, object]:
        if not self._body_sent:
            self._body_sent = True
            return {"type": "http.request", "body": self._body, "more_body": False}
        # The client of a buffered response is there until the response is complete.
        if not self._complete:
            if self._answered is None:
                self._answered = asyncio.Event()
            await self._answered.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])  # type: ignore[call-overload]
            raw = message.get("headers") or []
            self.headers.extend((k.decode("latin-1"), v.decode("latin-1")) for k, v in raw)  # type: ignore[union-attr]
        elif message["type"] == "http.response.body":
            self.chunks.append(bytes(message.get("body", b"")))  # type: ignore[arg-type]
            if not message.get("more_body"):
                self.complete()

    def complete(self) -> None:
        self._complete = True
        if self._answered is not None:
            self._answered.set()
