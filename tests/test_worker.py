"""What Azure's Python worker makes visible, through devhost in worker mode (Python 3.13), beside the adapter.

tests/worker_app/function_app.py is served from its own folder (default route prefix `api`). The worker,
not devhost, decides where a function runs: sync functions on its thread pool with its invocation id
in a context variable, async ones on the event loop, each invocation in its own context. The host's
side (devhost/worker/http.py) gives a raising function the host's 500 with an empty body, joins
repeated headers and query values, and routes by ASP.NET Core's rules.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from support import ROOT, Devhost, devhost_python, start_devhost

APP = Path(__file__).resolve().parent / "worker_app"


def serve(mode: str, tmp: Path) -> Devhost:
    env = {"PYTHONPATH": str(ROOT), "DEVHOST_STATE_DIR": str(tmp)}
    return start_devhost(env, "--auth", "off", cwd=APP, mode=mode, ready_path="/api/echo/literal")


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve("worker", tmp_path_factory.mktemp("worker")) as host:
        yield host.base_url


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve("adapter", tmp_path_factory.mktemp("adapter")) as host:
        yield host.base_url


def test_a_sync_function_runs_on_the_worker_thread_pool_with_its_invocation(worker: str) -> None:
    seen = httpx2.get(f"{worker}/api/sync").json()
    assert seen["thread"].startswith("ThreadPoolExecutor-") and not seen["main_thread"] and not seen["on_loop"]
    # The worker hands `context` to a function that asks for it, and sets its invocation id for the thread.
    assert seen["invocation_id"] and seen["worker_invocation_id"] == seen["invocation_id"]


def test_an_async_function_runs_on_the_loop(worker: str) -> None:
    seen = httpx2.get(f"{worker}/api/async", params={"tag": "one"}).json()
    assert seen["on_loop"] and seen["main_thread"]
    assert seen["worker_invocation_id"] is None  # set only around sync functions
    assert seen["tag"] == "one"


async def test_concurrent_async_invocations_keep_their_own_context(worker: str) -> None:
    async with httpx2.AsyncClient(base_url=worker, timeout=20) as client:
        answers = await asyncio.gather(
            *(client.get("/api/async", params={"tag": f"t{i}", "sleep": "0.2"}) for i in range(8))
        )
    seen = [answer.json() for answer in answers]
    assert [s["tag"] for s in seen] == [f"t{i}" for i in range(8)]
    assert len({s["invocation_id"] for s in seen}) == 8
    # The function's tag stays in its invocation: a sync call afterwards sees the default.
    assert httpx2.get(f"{worker}/api/sync").json()["tag"] == "unset"


def test_a_raising_function_is_the_host_500_with_an_empty_body(worker: str, adapter: str) -> None:
    failed = httpx2.get(f"{worker}/api/boom")
    assert (failed.status_code, failed.content) == (500, b"")
    # devhost's adapter answers as Starlette does: the difference users would meet only in Azure.
    assert httpx2.get(f"{adapter}/api/boom").content == b"Internal Server Error"


def test_context_is_given_by_the_worker_only(worker: str, adapter: str) -> None:
    assert httpx2.get(f"{worker}/api/sync").status_code == 200
    # The adapter calls `handler(req)`: a function asking for `context` fails there.
    assert httpx2.get(f"{adapter}/api/sync").status_code == 500


def test_a_string_return_is_json_when_it_parses(worker: str) -> None:
    as_json = httpx2.get(f"{worker}/api/text", params={"value": '{"a": 1}'})
    assert as_json.headers["content-type"].startswith("application/json") and as_json.json() == {"a": 1}
    plain = httpx2.get(f"{worker}/api/text")
    assert plain.headers["content-type"].startswith("text/plain") and plain.text == "plain"


def test_the_request_the_host_hands_the_worker(worker: str, adapter: str) -> None:
    url = "/api/echo/7/a/b%20c?x=1&x=2&y=&z=%C3%A9"
    headers = [("X-Repeated", "first"), ("X-Repeated", "second"), ("X-Empty", "")]
    seen = httpx2.post(f"{worker}{url}", headers=headers, content=b"body").json()
    assert seen["url"] == f"{worker}{url}"
    assert seen["headers"]["x-repeated"] == "first,second" and seen["headers"]["x-empty"] == ""
    assert seen["params"] == {"x": "1,2", "z": "é"}  # repeated values joined, empty ones dropped
    assert seen["route_params"] == {"id": "7", "rest": "a/b c"}
    assert seen["body"] == "body"
    # The adapter keeps one value of each, as Starlette's dicts do (and has no catch-all routes).
    by_adapter = httpx2.post(f"{adapter}/api/seen?x=1&x=2", headers=headers).json()
    assert by_adapter["headers"]["x-repeated"] == "first" and by_adapter["params"]["x"] == "2"


def test_routes_by_the_host_rules(worker: str) -> None:
    assert httpx2.get(f"{worker}/api/echo/literal").text == "literal"  # a literal before a parameter
    assert httpx2.get(f"{worker}/API/Echo/LITERAL").text == "literal"  # literals ignore case
    assert httpx2.get(f"{worker}/api/echo/abc").text == "name abc"  # {id:int} refuses "abc"
    assert httpx2.get(f"{worker}/api/echo/5/x").json()["route_params"] == {"id": "5", "rest": "x"}
    assert httpx2.get(f"{worker}/echo/literal").status_code == 404  # without the route prefix
    assert httpx2.delete(f"{worker}/api/echo/literal").status_code == 404  # a method the route lacks
    assert httpx2.get(f"{worker}/api/renamed").text == "with cookies"  # the route of a renamed function


def test_head_as_the_host_routes_it(worker: str) -> None:
    """The host adds HEAD to every route that takes GET; a HEAD to a route without GET is its 405."""
    head = httpx2.head(f"{worker}/api/echo/literal")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(b"literal"))
    refused = httpx2.head(f"{worker}/api/seen")  # POST only
    assert refused.status_code == 405 and refused.headers["allow"] == "POST"
    assert httpx2.put(f"{worker}/api/seen").status_code == 404  # any other method: no route


def test_cookies_come_back_as_set_cookie_headers(worker: str) -> None:
    answer = httpx2.get(f"{worker}/api/renamed")
    assert answer.headers.get_list("set-cookie") == ["a=1; Path=/; HttpOnly", "b=2; Secure; SameSite=Strict"]


def test_a_url_over_4_kb_is_refused(worker: str) -> None:
    assert httpx2.get(f"{worker}/api/text", params={"value": "x" * 4100}).status_code == 414


def test_an_app_the_worker_cannot_index_stops_devhost_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "function_app.py").write_text("import azure.functions as func\nimport not_installed_anywhere\n")
    done = subprocess.run(
        [devhost_python("worker"), "-m", "devhost", "--mode", "worker", "--auth", "off", "--port", "0"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "DEVHOST_STATE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "the worker failed WorkerInitRequest: ModuleNotFoundError" in done.stderr
    assert "not_installed_anywhere" in done.stderr and "requirements.txt" in done.stderr  # the worker's advice
