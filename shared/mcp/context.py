"""What the bridge hands the tools for one request, beside the caller (`shared.auth.identity`).

Tools read the app's settings from here rather than from `shared.runtime`, which sits above the
MCP layer: the server can then be built and tested without the runtime that hosts it.
"""

from __future__ import annotations

from contextvars import ContextVar

from shared.settings import Settings

current_settings: ContextVar[Settings | None] = ContextVar("current_settings", default=None)
