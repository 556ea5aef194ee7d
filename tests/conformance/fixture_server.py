"""Our app, authentication off, served by devhost, plus the one fixture tool the conformance suite calls.

The 2026-07-28 `server-stateless` scenario calls `test_missing_capability`, a tool of the suite's "everything
server" that needs the client's `sampling` capability, without declaring that capability; it expects JSON-RPC
-32021 with HTTP 400. The product has no such tool and should not list one. Registering it here, on the real
MCP server behind the real Functions bridge, lets the check test what matters to us: that the SDK's capability
error crosses our bridge with the status the spec requires.

    python tests/conformance/fixture_server.py PORT [adapter|worker]

`worker` serves through Azure's Python worker library (Python 3.13+, devhost/worker/); the tool is
registered before the worker imports function_app.py, on the same process-wide runtime.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ["ENABLE_AUTH"] = "false"

import uvicorn  # noqa: E402
from mcp.server.mcpserver.resolve import Resolve, Sample  # noqa: E402
from mcp_types import CreateMessageResult, SamplingMessage, TextContent  # noqa: E402

import function_app  # noqa: E402
from devhost.server import build_app  # noqa: E402
from shared import runtime  # noqa: E402


def ask_the_model() -> Sample:
    return Sample([SamplingMessage(role="user", content=TextContent(type="text", text="Say hello"))], max_tokens=16)


def test_missing_capability(answer: Annotated[CreateMessageResult, Resolve(ask_the_model)]) -> str:
    """Conformance fixture: answers with what the client's model said (needs the sampling capability)."""
    return str(answer.content)


def main(port: int, mode: str) -> None:
    runtime.current().bridge.server.add_tool(test_missing_capability)
    if mode == "worker":
        from devhost.server import route_prefix
        from devhost.worker.serve import build_worker_app

        app: Any = build_worker_app(ROOT, route_prefix(ROOT / "host.json"))[0]
    else:
        app = build_app(function_app.app, ROOT / "host.json")[0]
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "adapter")
