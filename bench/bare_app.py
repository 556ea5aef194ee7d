"""The baseline server of the benchmarks: tests/conformance/bare_sdk_app.py, built the same way, logged like ours.

    python bench/bare_app.py PORT [--preload=MODULE ...]

The app is the conformance baseline's own `build_app()` (MCPServer, one `add` tool, stateless
JSON at `/mcp`, on uvicorn), imported from its file rather than copied. One difference: the
SDK's per-request INFO lines ("Terminating session: None") are turned down to WARNING, as our
server does in shared/mcp/server.py, so neither side pays for writing a log line per request.

With `--preload`, the named modules are imported first: with common.REQUIRED_LIBRARIES, the bare app
paying for the libraries our app cannot start without, and for nothing of ours.
"""

from __future__ import annotations

import importlib
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
    # Parsed by hand: argparse is a module the baseline would not otherwise import.
    port, *options = argv or [""]
    preload = [option.removeprefix("--preload=") for option in options]
    if not port.isdigit() or any(not name or name == option for option, name in zip(options, preload, strict=True)):
        print("usage: bench/bare_app.py PORT [--preload=MODULE ...]", file=sys.stderr)
        return 2
    for name in preload:
        importlib.import_module(name)

    import uvicorn

    uvicorn.run(build_app(), host="127.0.0.1", port=int(port), log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
