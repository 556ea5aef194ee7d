"""The baseline server of the benchmarks: tests/conformance/bare_sdk_app.py, built the same way, logged like ours.

    python bench/bare_app.py PORT

The app is the conformance baseline's own `build_app()` (MCPServer, one `add` tool, stateless
JSON at `/mcp`, on uvicorn), imported from its file rather than copied. One difference: the
SDK's per-request INFO lines ("Terminating session: None") are turned down to WARNING, as our
server does in shared/mcp_server.py, so neither side pays for writing a log line per request.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path

BARE = Path(__file__).resolve().parents[1] / "tests" / "conformance" / "bare_sdk_app.py"


def build_app():
    spec = importlib.util.spec_from_file_location("bare_sdk_app", BARE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = module.build_app()
    for name in ("mcp.server", "mcp.shared"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return app


def main(argv: list[str]) -> int:
    import uvicorn

    if len(argv) != 2 or not argv[1].isdigit():
        print(f"usage: {argv[0]} PORT", file=sys.stderr)
        return 2
    uvicorn.run(build_app(), host="127.0.0.1", port=int(argv[1]), log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
