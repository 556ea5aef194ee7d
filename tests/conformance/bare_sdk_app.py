"""The "bare SDK" baseline: an MCP server built from the SDK alone, with nothing of ours around it.

It is what the conformance tests were developed against before our server existed, and what the
benchmarks compare our server with. One documented tool, stateless Streamable HTTP with JSON responses
at `/mcp`, no auth, served by uvicorn on 127.0.0.1.

    python tests/conformance/bare_sdk_app.py PORT
"""

from __future__ import annotations

import sys

import uvicorn
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette


def build_app() -> Starlette:
    """Return the bare SDK app: `MCPServer("bare")` with one tool, stateless JSON at `/mcp`."""
    server = MCPServer("bare", subscriptions=False)

    @server.tool()
    def add(a: float, b: float) -> float:
        """Add two numbers and return their sum."""
        return a + b

    return server.streamable_http_app(streamable_http_path="/mcp", stateless_http=True, json_response=True)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].isdigit():
        print(f"usage: {argv[0]} PORT", file=sys.stderr)
        return 2
    port = int(argv[1])
    print(f"bare SDK app: http://127.0.0.1:{port}/mcp", flush=True)
    uvicorn.run(build_app(), host="127.0.0.1", port=port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
