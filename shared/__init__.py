"""The app behind `function_app.py`, one package per concern; imports point down this list only.

- `shared.web`: the HTTP routes' answers (handlers, challenges, metadata, OpenAPI, the docs page).
- `shared.runtime`: the per-process state (settings, validator, MCP bridge), built on first use.
- `shared.mcp`: the MCP server, its tools, and the bridge from a Functions request to the SDK.
- `shared.graph`: Microsoft Graph on the caller's behalf (on-behalf-of, the call, its errors).
- `shared.auth`: the security boundary: signing keys, token validation, the caller. No HTTP framework.
- `shared.settings`, `shared.collector`: the app settings, and the garbage-collector helper.

The import-linter contracts in pyproject.toml hold this order; `make test` checks them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

__version__ = "1.0.0"


def lazy_exports(package: str, public: Mapping[str, str]) -> Callable[[str], object]:
    """A package's `__getattr__` for its public names (name -> defining module), each loaded on first use:
    every import of a submodule imports its package first, and must not pull in PyJWT or the SDK with it."""

    def load(name: str) -> object:
        if name not in public:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(public[name]), name)

    return load
