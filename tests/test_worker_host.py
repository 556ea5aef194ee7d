"""devhost/worker's own parts, in-process on any Python: the protocol messages, the routing, the conversions.

The worker library itself runs only on 3.13 (tests/test_worker.py); these parts are ours and are
checked here against a stand-in worker that records the invocation it is sent and answers as told.
"""

from __future__ import annotations

from typing import Any

import pytest

from devhost.worker import protocol
from devhost.worker.http import FunctionsHttp, set_cookie
from devhost.worker.routes import find_route, http_routes, parse_template


def test_messages_have_protobuf_defaults_oneofs_and_strict_types() -> None:
    data = protocol.TypedData()
    assert data.WhichOneof("data") is None and data.string == "" and data.http.headers == {}
    assert not data.HasField("http")  # reading an unset message does not set it
    with pytest.raises(AttributeError, match="read-only"):
        data.http.method = "GET"  # protobuf would set `http`; ours says to set it whole
    data.string = "text"
    data.bytes = b"raw"  # a oneof keeps one member
    assert data.WhichOneof("data") == "bytes" and not data.HasField("string")
    with pytest.raises(TypeError, match="bytes is needed, not str"):
        protocol.TypedData(bytes="text")
    with pytest.raises(TypeError, match="str is needed, not bytes"):
        protocol.RpcHttp(headers={"a": b"b"})
    with pytest.raises(AttributeError, match="no field 'nope'"):
        protocol.RpcHttp(nope="x")
    assert protocol.ParameterBinding(name="req", data=protocol.TypedData(json="{}")).WhichOneof("rpc_data") == "data"
    assert getattr(protocol.BindingInfo, "in") == 0 and protocol.BindingInfo.out == 1
    assert getattr(protocol.RpcHttpCookie.SameSite, "None") == 0


@pytest.mark.parametrize(
    ("path", "method", "function", "values"),
    [
        ("/api/items/literal", "GET", "literal", {}),
        ("/API/Items/LITERAL", "GET", "literal", {}),
        ("/api/items/42", "GET", "by_id", {"id": "42"}),
        ("/api/items/abc", "GET", "by_name", {"name": "abc"}),
        ("/api/items/a%20b", "GET", "by_name", {"name": "a b"}),
        ("/api/files", "GET", "files", {}),
        ("/api/files/a/b/c", "GET", "files", {"path": "a/b/c"}),
        ("/api/docs", "GET", "docs", {}),
        ("/api/docs/", "GET", "docs", {}),
        ("/api/docs/page", "GET", "docs", {"page": "page"}),
        ("/api/anything", "PATCH", "anything", {}),
    ],
)
def test_routes_match_as_the_host_does(path: str, method: str, function: str, values: dict[str, str]) -> None:
    found = find_route(ROUTES, method, path)
    assert found is not None
    assert (found[0].function_name, found[1]) == (function, values)


@pytest.mark.parametrize(
    ("path", "method"),
    [("/items/42", "GET"), ("/api/items/42", "POST"), ("/api/items/1/2", "GET"), ("/api/docs/a/b", "GET")],
)
def test_no_route_matches(path: str, method: str) -> None:
    assert find_route(ROUTES, method, path) is None


def test_templates_devhost_cannot_serve_fail_at_start_up() -> None:
    with pytest.raises(ValueError, match="one parameter per segment"):
        parse_template("files/{name}.{ext}")
    with pytest.raises(ValueError, match="does not know the constraint 'unheard'"):
        parse_template("items/{id:unheard}")
    assert parse_template("items/{id:int:range(1,5)}")[1].constraints == (("int", ""), ("range", "1,5"))


class StandInWorker:
    """What FunctionsHttp needs of WorkerHost: the capabilities, and invoke()."""

    def __init__(self, answer: protocol.InvocationResponse) -> None:
        self.capabilities = {"RawHttpBodyBytes": "true"}
        self.answer = answer
        self.sent: list[protocol.ParameterBinding] = []

    async def invoke(self, function_id: str, inputs: list[protocol.ParameterBinding], trace: str) -> Any:
        self.sent = inputs
        return self.answer


def success(value: protocol.TypedData | None) -> protocol.InvocationResponse:
    ok = protocol.StatusResult(status=protocol.StatusResult.Success)
    return protocol.InvocationResponse(invocation_id="1", result=ok, return_value=value)


async def call(app: FunctionsHttp, path: str, *, query: bytes = b"", body: bytes = b"", **headers: str) -> Any:
    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
        "server": ("127.0.0.1", 7071),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]


async def test_the_invocation_carries_the_host_http_data() -> None:
    worker = StandInWorker(success(None))
    app = FunctionsHttp(worker, ROUTES)  # type: ignore[arg-type]
    await call(app, "/api/items/7", query=b"a=1&a=2&b=", host="example.test", x_trace="t")
    [binding] = worker.sent
    http = binding.data.http
    assert binding.name == "req" and http.method == "GET" and http.url == "http://example.test/api/items/7?a=1&a=2&b="
    assert http.headers == {"host": "example.test", "x-trace": "t"}
    assert http.query == {"a": "1,2"} and http.params == {"id": "7"}
    assert not http.HasField("body")  # no body, none sent
    [anonymous] = http.identities
    assert not anonymous.authentication_type.HasField("value") and anonymous.claims == []
    await call(app, "/api/items/7", body=b"\x00\xff", content_length="2")
    assert worker.sent[0].data.http.body.bytes == b"\x00\xff"
    await call(app, "/api/items/7", body=b"chunked", transfer_encoding="chunked")
    assert not worker.sent[0].data.http.HasField("body")  # the host sends a body only with Content-Length


async def test_answers_the_host_gives() -> None:
    failed = protocol.InvocationResponse(
        result=protocol.StatusResult(status=protocol.StatusResult.Failure, exception=protocol.RpcException(message="x"))
    )
    assert await call(FunctionsHttp(StandInWorker(failed), ROUTES), "/api/items/7") == (
        500,
        {b"content-length": b"0"},
        b"",
    )  # type: ignore[arg-type]
    nothing = FunctionsHttp(StandInWorker(success(None)), ROUTES)  # type: ignore[arg-type]
    assert await call(nothing, "/api/items/7") == (204, {}, b"")
    assert (await call(nothing, "/nowhere"))[0] == 404
    assert (await call(nothing, "/api/items/7", query=b"q=" + b"x" * 4096))[0] == 414
    small = FunctionsHttp(StandInWorker(success(None)), ROUTES, max_body=3)  # type: ignore[arg-type]
    assert (await call(small, "/api/items/7", body=b"four"))[0] == 413
    assert (await call(small, "/api/items/7", content_length="4"))[0] == 413  # refused before reading
    http = protocol.RpcHttp(status_code="201", headers={"X-A": "1", "Content-Length": "99"})
    http.body = protocol.TypedData(bytes=b"made")
    made = FunctionsHttp(StandInWorker(success(protocol.TypedData(http=http))), ROUTES)  # type: ignore[arg-type]
    assert await call(made, "/api/items/7") == (201, {b"x-a": b"1", b"content-length": b"4"}, b"made")


def test_cookies_as_set_cookie() -> None:
    cookie = protocol.RpcHttpCookie(
        name="a",
        value="1",
        domain=protocol.NullableString(value=""),
        path=protocol.NullableString(value="/"),
        expires=protocol.NullableTimestamp(value=protocol.Timestamp(seconds=0)),
        http_only=protocol.NullableBool(value=True),
        same_site=protocol.RpcHttpCookie.SameSite.Lax,
    )
    assert set_cookie(cookie) == "a=1; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax"


def trigger(route: str, *methods: str) -> list[dict[str, Any]]:
    return [{"type": "httpTrigger", "name": "req", "route": route, "methods": list(methods) or None}]


ROUTES = http_routes(
    "api",
    [
        ("by_name", "1", trigger("items/{name}", "GET")),
        ("by_id", "2", trigger("items/{id:int}", "GET")),
        ("literal", "3", trigger("items/literal", "GET")),
        ("files", "4", trigger("files/{*path}", "GET")),
        ("docs", "5", trigger("docs/{page?}", "GET")),
        ("anything", "6", trigger("anything")),
    ],
)


def test_head_routes_and_the_banner_lists_the_triggers_methods() -> None:
    from devhost.worker.serve import banner_lines

    routes = http_routes(
        "api", [("read", "1", trigger("items", "GET")), ("write", "2", trigger("submit", "POST", "PUT"))]
    )
    found = find_route(routes, "HEAD", "/api/items")
    assert not isinstance(found, str) and found is not None and found[0].function_name == "read"
    assert find_route(routes, "HEAD", "/api/submit") == "POST, PUT"  # the host's 405, with its Allow
    assert find_route(routes, "DELETE", "/api/submit") is None
    lines = banner_lines("http://h", [*routes, *ROUTES])
    assert any(line.startswith("  GET ") and line.split()[1] == "http://h/api/items" for line in lines)
    assert any(line.startswith("  POST,PUT ") for line in lines)
    assert any(line.startswith("  * ") and "/api/anything" in line for line in lines)
