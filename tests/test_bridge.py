"""The MCP bridge's plumbing: the ASGI scope made of a `func.HttpRequest`, the buffered exchange, the managers.

The SDK's answers through the bridge are tested end to end elsewhere (test_functions, test_over_http);
here the session manager is a stand-in that records what it was given.
"""

from __future__ import annotations

import asyncio
from typing import Any

import azure.functions as func
import pytest

from shared.auth.identity import DEVELOPER, current_assertion, current_caller
from shared.mcp.bridge import McpBridge, run_buffered
from shared.settings import load_settings


class RecordingManager:
    """Answers like the session manager, and keeps the scope and body of each request."""

    def __init__(self, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.calls: list[tuple[dict[str, Any], bytes]] = []
        self.seen: list[tuple[object, str | None]] = []
        self.headers = headers or [(b"content-type", b"application/json"), (b"content-length", b"2")]

    async def handle_request(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        message = await receive()
        self.calls.append((scope, message["body"]))
        self.seen.append((current_caller.get(), current_assertion.get()))
        await send({"type": "http.response.start", "status": 202, "headers": self.headers})
        await send({"type": "http.response.body", "body": b"{}"})


class StubBridge(McpBridge):
    """A bridge whose session managers are stand-ins, one per event loop, counted as they are looked up."""

    def __init__(self, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        super().__init__(object, load_settings({}))  # type: ignore[arg-type]
        self.headers = headers
        self.lookups = 0
        self.made: dict[asyncio.AbstractEventLoop, RecordingManager] = {}

    async def _manager(self) -> Any:
        self.lookups += 1
        return self.made.setdefault(asyncio.get_running_loop(), RecordingManager(self.headers))

    @property
    def manager(self) -> RecordingManager:
        return self.made[asyncio.get_running_loop()]


def request(url: str, headers: dict[str, str], body: bytes = b"", method: str = "post") -> func.HttpRequest:
    return func.HttpRequest(method=method, url=url, headers=headers, params={}, route_params={}, body=body)


async def test_the_scope_made_of_a_functions_request() -> None:
    bridge = StubBridge()
    req = request(
        "https://example.test/mcp?a=1&b=%20",
        {"Host": "example.test", "Content-Type": "application/json", "Authorization": "Bearer t"},
        b'{"jsonrpc":"2.0"}',
    )
    response = await bridge.handle(req, DEVELOPER, "t")
    scope, body = bridge.manager.calls[0]
    assert body == b'{"jsonrpc":"2.0"}'
    assert scope["method"] == "POST"
    assert (scope["scheme"], scope["path"], scope["raw_path"]) == ("https", "/mcp", b"/mcp")
    assert scope["query_string"] == b"a=1&b=%20"
    assert scope["headers"] == [
        (b"host", b"example.test"),
        (b"content-type", b"application/json"),
        (b"authorization", b"Bearer t"),
    ]
    assert scope["server"] == ("example.test", 443)
    assert scope["client"] is None and scope["root_path"] == ""
    # The SDK's Content-Length is left to the Functions host.
    assert response.status_code == 202 and response.get_body() == b"{}"
    assert dict(response.headers) == {"content-type": "application/json"}


async def test_the_host_comes_from_the_url_when_the_request_has_none() -> None:
    bridge = StubBridge()
    await bridge.handle(request("http://127.0.0.1:7071/mcp", {"Accept": "*/*"}), DEVELOPER, None)
    await bridge.handle(request("http://localhost/other", {}), DEVELOPER, None)
    first, second = bridge.manager.calls[0][0], bridge.manager.calls[1][0]
    assert first["headers"] == [(b"accept", b"*/*"), (b"host", b"127.0.0.1:7071")]
    assert first["server"] == ("127.0.0.1", 7071)
    # Another URL is parsed on its own, not taken from the first.
    assert (second["path"], second["headers"], second["server"]) == (
        "/other",
        [(b"host", b"localhost")],
        ("localhost", 80),
    )
    assert bridge.manager.calls[1][1] == b""


async def test_repeated_response_headers_keep_the_last_value() -> None:
    bridge = StubBridge([(b"x-a", b"1"), (b"X-A", b"2"), (b"x-a", b"3")])
    response = await bridge.handle(request("http://localhost/mcp", {}), DEVELOPER, None)
    assert list(response.headers.items()) == [("x-a", "3"), ("X-A", "2")]


async def test_the_body_is_given_once_and_then_the_client_waits_for_the_answer() -> None:
    events: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert await receive() == {"type": "http.request", "body": b"payload", "more_body": False}

        async def listen() -> None:
            message = await receive()
            events.append(message["type"])

        listener = asyncio.create_task(listen())
        await asyncio.sleep(0)
        assert events == []  # still waiting: the response is not complete
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-one", b"caf\xe9")]})
        await send({"type": "http.response.body", "body": b"ab", "more_body": True})
        await asyncio.sleep(0)
        assert events == []
        await send({"type": "http.response.body", "body": bytearray(b"cd")})
        await listener
        assert events == ["http.disconnect"]
        # After the response, a receive answers at once.
        assert await receive() == {"type": "http.disconnect"}

    assert await run_buffered(app, {}, b"payload") == (200, [("x-one", "café")], b"abcd")


def listening_app(released: asyncio.Event, error: Exception | None = None) -> Any:
    """An app that reads the body, leaves a task waiting for the disconnect, and answers nothing (or raises)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()

        async def listen() -> None:
            await receive()
            released.set()

        asyncio.get_running_loop().create_task(listen())
        await asyncio.sleep(0)
        if error is not None:
            raise error

    return app


async def test_an_app_that_answers_nothing_is_a_500_and_its_listener_is_released() -> None:
    released = asyncio.Event()
    assert await run_buffered(listening_app(released), {}, b"") == (500, [], b"")
    await asyncio.wait_for(released.wait(), 5)


async def test_a_failing_app_releases_its_listener_and_the_error_goes_on() -> None:
    released = asyncio.Event()
    with pytest.raises(RuntimeError, match="boom"):
        await run_buffered(listening_app(released, RuntimeError("boom")), {}, b"")
    await asyncio.wait_for(released.wait(), 5)


def test_each_event_loop_has_its_own_manager_found_once() -> None:
    bridge = StubBridge()

    async def twice() -> RecordingManager:
        for assertion in ("a", "b"):
            await bridge.handle(request("http://localhost/mcp", {}), DEVELOPER, assertion)
        return bridge.made[asyncio.get_running_loop()]

    first = asyncio.run(twice())
    assert bridge.lookups == 1
    second = asyncio.run(twice())
    assert bridge.lookups == 2 and second is not first
    assert len(first.calls) == len(second.calls) == 2
    # The caller and its assertion are set for the SDK's call, and only for it.
    assert first.seen == [(DEVELOPER, "a"), (DEVELOPER, "b")]
    assert current_caller.get() is None and current_assertion.get() is None
