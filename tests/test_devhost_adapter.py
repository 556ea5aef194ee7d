"""devhost's adapter: what a function sees of an ASGI request, and what the client gets of its `func.HttpResponse`.

Driven at the ASGI level, so every byte of the scope and every message is the test's own: repeated
header names, query strings, route parameters, bodies in several chunks, binary bodies.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from starlette.requests import ClientDisconnect

from devhost.server import build_app

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
LOOP_THREADS: set[int] = set()


def describe(req: func.HttpRequest) -> dict[str, Any]:
    return {
        "method": req.method,
        "url": req.url,
        "headers": dict(req.headers),
        "params": dict(req.params),
        "route_params": dict(req.route_params),
        "body": base64.b64encode(req.get_body()).decode(),
        "thread": threading.get_ident(),
    }


@app.route(route="echo/{name?}", methods=["GET", "POST"])
async def echo(req: func.HttpRequest) -> func.HttpResponse:
    LOOP_THREADS.add(threading.get_ident())
    return func.HttpResponse(json.dumps(describe(req)), mimetype="application/json")


@app.route(route="sync", methods=["PUT"])
def sync(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(describe(req)), mimetype="application/json")


@app.route(route="shape/{kind}", methods=["GET"])
async def shape(req: func.HttpRequest) -> func.HttpResponse:
    kind = req.route_params["kind"]
    if kind == "html":
        return func.HttpResponse("<p>é</p>", mimetype="text/html", charset="utf-8")
    if kind == "own-type":
        return func.HttpResponse(b"x", headers={"Content-Type": "text/csv; charset=latin-1"}, mimetype="text/plain")
    if kind == "own-length":
        return func.HttpResponse(b"four", headers={"Content-Length": "999", "X-Kept": "yes"}, mimetype="text/plain")
    if kind == "no-content":
        return func.HttpResponse(status_code=204)
    if kind == "binary":
        return func.HttpResponse(bytes(range(256)), mimetype="application/octet-stream")
    if kind == "repeated":
        response = func.HttpResponse(b"", headers={"X-Case": "upper"}, mimetype="application/json")
        response.headers.add("x-case", "lower")
        response.headers.add("X-Multi", "first")
        response.headers.add("X-Multi", "second")
        return response
    return func.HttpResponse("plain", status_code=418)


@app.route(route="boom", methods=["GET"])
async def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("boom")


ASGI_APP, _ = build_app(app, Path(__file__).resolve().parent.parent / "host.json")


async def asgi(
    method: str,
    path: str,
    *,
    query: bytes = b"",
    headers: Sequence[tuple[bytes, bytes]] = ((b"host", b"example.test:8080"),),
    chunks: Sequence[bytes] = (b"",),
    disconnect: bool = False,
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """One request as an ASGI server makes it, the body in `chunks`; the status, raw headers and body sent."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": list(headers),
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 7071),
    }
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1} for i, chunk in enumerate(chunks)
    ]
    if disconnect:
        messages = [{"type": "http.request", "body": chunks[0], "more_body": True}, {"type": "http.disconnect"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await ASGI_APP(scope, receive, send)
    start, *bodies = sent
    assert start["type"] == "http.response.start"
    assert [m["type"] for m in bodies] == ["http.response.body"] * len(bodies)
    assert not any(m.get("more_body") for m in bodies)
    return start["status"], list(start["headers"]), b"".join(m.get("body", b"") for m in bodies)


async def test_the_request_a_function_sees() -> None:
    status, _, body = await asgi(
        "POST",
        "/echo/abc",
        query=b"a=1&a=2&b=&c=%20x+y&d=%C3%A9",
        headers=[
            (b"host", b"example.test:8080"),
            (b"x-repeated", b"first"),
            (b"content-type", b"application/octet-stream"),
            (b"x-repeated", b"second"),
            (b"x-latin", b"caf\xe9"),
        ],
        chunks=[bytes(range(128)), b"", bytes(range(128, 256))],
    )
    assert status == 200
    seen = json.loads(body)
    assert seen["method"] == "POST"
    assert seen["url"] == "http://example.test:8080/echo/abc?a=1&a=2&b=&c=%20x+y&d=%C3%A9"
    # One value per header name: the first, as Starlette's `dict(request.headers)` gives.
    assert seen["headers"] == {
        "host": "example.test:8080",
        "x-repeated": "first",
        "content-type": "application/octet-stream",
        "x-latin": "café",
    }
    # One value per parameter: the last, as `dict(request.query_params)` gives.
    assert seen["params"] == {"a": "2", "b": "", "c": " x y", "d": "é"}
    assert seen["route_params"] == {"name": "abc"}
    assert base64.b64decode(seen["body"]) == bytes(range(256))


async def test_an_optional_route_parameter_and_no_host_header() -> None:
    status, _, body = await asgi("GET", "/echo", headers=[])
    assert status == 200
    seen = json.loads(body)
    assert seen["url"] == "http://127.0.0.1:7071/echo"
    assert seen["headers"] == {}
    assert seen["params"] == {} and seen["route_params"] == {}
    assert seen["body"] == ""


async def test_head_is_served_by_a_get_route() -> None:
    status, _, body = await asgi("HEAD", "/echo/x")
    assert status == 200 and json.loads(body)["method"] == "HEAD"


async def test_sync_functions_run_in_a_thread_pool() -> None:
    LOOP_THREADS.clear()
    await asgi("GET", "/echo")
    status, _, body = await asgi("PUT", "/sync", chunks=[b"\x00\xff"])
    assert status == 200
    seen = json.loads(body)
    assert seen["thread"] not in LOOP_THREADS and seen["thread"] != threading.get_ident()
    assert base64.b64decode(seen["body"]) == b"\x00\xff"


async def test_wrong_method_and_unknown_path() -> None:
    status, headers, body = await asgi("DELETE", "/echo/x")
    assert status == 405 and body == b"Method Not Allowed"
    allow = dict(headers)[b"allow"].decode()
    assert set(allow.split(", ")) == {"GET", "HEAD", "POST"}
    status, _, body = await asgi("GET", "/nowhere")
    assert status == 404 and body == b"Not Found"


async def test_a_client_gone_before_the_body_is_not_served() -> None:
    with pytest.raises(ClientDisconnect):
        await asgi("POST", "/echo", chunks=[b"part"], disconnect=True)


@pytest.mark.parametrize(
    ("kind", "status", "headers", "body"),
    [
        (
            "html",
            200,
            [(b"content-length", b"9"), (b"content-type", b"text/html; charset=utf-8")],
            "<p>é</p>".encode(),
        ),
        ("own-type", 200, [(b"content-type", b"text/csv; charset=latin-1"), (b"content-length", b"1")], b"x"),
        # The function's Content-Length is dropped: the length sent is the body's.
        (
            "own-length",
            200,
            [(b"x-kept", b"yes"), (b"content-length", b"4"), (b"content-type", b"text/plain; charset=utf-8")],
            b"four",
        ),
        ("no-content", 204, [(b"content-type", b"text/plain; charset=utf-8")], b""),
        (
            "binary",
            200,
            [(b"content-length", b"256"), (b"content-type", b"application/octet-stream")],
            bytes(range(256)),
        ),
        # Names differing in case stay apart; a name repeated exactly keeps its last value.
        (
            "repeated",
            200,
            [
                (b"x-case", b"upper"),
                (b"x-case", b"lower"),
                (b"x-multi", b"second"),
                (b"content-length", b"0"),
                (b"content-type", b"application/json"),
            ],
            b"",
        ),
        ("other", 418, [(b"content-length", b"5"), (b"content-type", b"text/plain; charset=utf-8")], b"plain"),
    ],
)
async def test_the_response_the_client_gets(
    kind: str, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    assert await asgi("GET", f"/shape/{kind}") == (status, headers, body)


async def test_a_failing_function_is_a_500_and_the_error_goes_on() -> None:
    scope = {"type": "http", "method": "GET", "path": "/boom", "query_string": b"", "root_path": "", "headers": []}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with pytest.raises(RuntimeError, match="boom"):
        await ASGI_APP(scope, receive, send)
    assert sent[0]["status"] == 500 and sent[1]["body"] == b"Internal Server Error"
