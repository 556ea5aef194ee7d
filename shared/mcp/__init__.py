"""MCP hosting: the SDK server and its tools (`server`, `tools`), and the bridge that serves a
Functions request through the SDK's stateless Streamable HTTP transport (`bridge`).

Tools learn who calls and with which settings from context variables the bridge sets
(`shared.auth.identity`, `context`), never by importing the runtime or the routes above them.
Imports `shared.graph`, `shared.auth` and `shared.settings`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared import lazy_exports

if TYPE_CHECKING:
    from shared.mcp.bridge import run_buffered

# The package's public names, for devhost and the benchmarks (shared.lazy_exports: loaded on first use).
_PUBLIC = {
    "run_buffered": "shared.mcp.bridge",
}
__all__ = ["run_buffered"]

__getattr__ = lazy_exports(__name__, _PUBLIC)
