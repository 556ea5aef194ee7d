"""shared/collector.py: no collections inside the block, the collector as it was after, a freeze only after imports."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.collector import kept_from_collector

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def collector_as_it_was() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    gc.unfreeze()  # what a test froze is collectable again, as before it ran
    (gc.enable if enabled else gc.disable)()


def test_no_collections_inside_and_the_collector_back_on_after() -> None:
    gc.enable()
    with kept_from_collector():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with kept_from_collector():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_the_collector_is_back_on_after_an_exception() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), kept_from_collector():
        raise RuntimeError("the build failed")
    assert gc.isenabled()


def test_freezes_what_was_built_only_when_modules_were_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gc.unfreeze()
    with kept_from_collector():
        built = [{"n": n} for n in range(100)]
    assert gc.get_freeze_count() == 0, "nothing imported, nothing frozen"
    assert len(built) == 100

    (tmp_path / "collector_probe_module.py").write_text("VALUES = [{'n': n} for n in range(100)]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "collector_probe_module", raising=False)
    with kept_from_collector():
        import collector_probe_module

    assert gc.get_freeze_count() > len(collector_probe_module.VALUES)


def test_the_first_request_builds_leave_the_collector_on_and_their_objects_frozen() -> None:
    # A fresh process, as in Azure: the validator's and the MCP server's imports are frozen after.
    script = """
import gc, json, os
at_start = gc.get_freeze_count()  # 0 on 3.11 and 3.13; Python 3.12 starts with a few hundred frozen
os.environ.update(AZURE_TENANT_ID="11111111-1111-1111-1111-111111111111",
                  AZURE_CLIENT_ID="22222222-2222-2222-2222-222222222222")
from shared import runtime
rt = runtime.current()
before = gc.get_freeze_count()
rt.validator
after_validator = gc.get_freeze_count()
rt.bridge
after_bridge = gc.get_freeze_count()
runtime.reset().bridge  # a rebuild imports nothing: no new freeze
print(json.dumps([gc.isenabled(), at_start, before, after_validator, after_bridge, gc.get_freeze_count()]))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    enabled, at_start, before, after_validator, after_bridge, after_rebuild = json.loads(done.stdout.splitlines()[-1])
    assert enabled
    assert before == at_start  # importing the app froze nothing
    assert after_validator > 10_000  # PyJWT and cryptography
    assert after_bridge > after_validator + 100_000  # the MCP SDK
    # Frozen objects are still freed by reference counting (the old bridge's): the count can only drop.
    assert after_rebuild <= after_bridge


def test_devhost_serves_with_the_collector_on_and_its_start_up_frozen(tmp_path: Path) -> None:
    script = """
import gc, json, sys
import uvicorn
seen = {}
uvicorn.run = lambda app, **kw: seen.update(enabled=gc.isenabled(), frozen=gc.get_freeze_count())
from devhost.__main__ import main
main(["--auth", "off", "--port", "7999"])
print(json.dumps(seen))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "DEVHOST_STATE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["enabled"]
    assert seen["frozen"] > 10_000  # azure.functions, werkzeug, function_app and its routes
