"""MCP hosting: the SDK server and its tools (`server`, `tools`), and the bridge that serves a
Functions request through the SDK's stateless Streamable HTTP transport (`bridge`).

Tools learn who calls and with which settings from context variables the bridge sets
(`shared.auth.identity`, `context`), never by importing the runtime or the routes above them.
Imports `shared.graph`, `shared.auth` and `shared.settings`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.mcp.bridge import run_buffered

# The package's public names, for devhost and the benchmarks. Loaded on first use: every import of
# a submodule imports this package first, and must not pull in PyJWT or the SDK with it (cold start).
_PUBLIC = {
    "run_buffered": "shared.mcp.bridge",
}
__all__ = ["run_buffered"]


def __getattr__(name: str) -> object:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
