"""The MCP TypeScript SDK's client (npm @modelcontextprotocol/sdk, pinned in tests/conformance/package.json)
registers by DCR, signs in through the OAuth proxy, calls tools and refreshes: tests/facade/ts_client.mjs
on Node 22 from .tools, the browser step done here as a person would."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from facade_support import Proxy, consent_and_sign_in, running_proxy

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"
NODE = TOOLS / "node_modules" / ".bin" / "node"
SDK = TOOLS / "node_modules" / "@modelcontextprotocol" / "sdk" / "package.json"
SCRIPT = ROOT / "tests" / "facade" / "ts_client.mjs"
REDIRECT = "http://127.0.0.1:40555/ts-callback"


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    if not NODE.exists() or not SDK.exists():
        pytest.skip(f"Node 22 or @modelcontextprotocol/sdk is not in {TOOLS}; run `make tools`")
    with running_proxy(tmp_path_factory.mktemp("facade-ts")) as running:
        yield running


def test_the_typescript_sdk_signs_in_with_dcr_calls_tools_and_refreshes(proxy: Proxy) -> None:
    # Beside .tools/node_modules, so Node resolves the SDK the manifest pinned.
    script = TOOLS / "facade_ts_client.mjs"
    shutil.copy(SCRIPT, script)
    process = subprocess.Popen(
        [str(NODE), str(script), proxy.mcp_url, REDIRECT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdin is not None
        asked = json.loads(process.stdout.readline() or "{}")
        assert "authorize" in asked, process.stderr.read() if process.stderr else ""
        url = httpx2.URL(asked["authorize"])
        assert str(url).startswith(f"{proxy.base}/authorize?") and url.params["code_challenge_method"] == "S256"
        journey = consent_and_sign_in(httpx2.Client(base_url=proxy.base, timeout=30), asked["authorize"])
        assert "TypeScript SDK test client" in journey.consent_page
        assert journey.to_client.startswith(REDIRECT)
        process.stdin.write(json.dumps({"code": journey.answer["code"]}) + "\n")
        process.stdin.flush()
        done = json.loads(process.stdout.readline() or "{}")
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    outcome = done.get("done")
    assert outcome is not None, process.stderr.read() if process.stderr else ""
    assert outcome["client_id"].startswith("mcp-")
    assert outcome["added"] == {"result": 5} and outcome["multiplied"] == {"result": 42}
    assert outcome["refreshed"] is True
