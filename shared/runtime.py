"""The app's state, built once per process from the environment: settings, validator, MCP bridge.

Built on first use rather than at import, so a bad setting becomes a 503 and a `/health` report
instead of an import error that would hide every function of the app in Azure. The validator and
the MCP server are built only when a request needs them, keeping their imports off the paths of
`/health`, the metadata and unauthenticated 401s (cold start).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from shared.collector import kept_from_collector
from shared.settings import Settings, load_settings

if TYPE_CHECKING:
    from shared.auth.tokens import TokenValidator
    from shared.facade.core import Facade
    from shared.mcp.bridge import McpBridge
    from shared.mcp.permissions import ToolPolicy


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._validator: TokenValidator | None = None
        self._bridge: McpBridge | None = None
        self._facade: Facade | None = None
        self._policy: ToolPolicy | None = None
        self._lock = threading.Lock()

    @property
    def validator(self) -> TokenValidator:
        if self._validator is None:
            with self._lock:
                if self._validator is None:
                    with kept_from_collector():
                        from shared.auth.tokens import TokenValidator

                        self._validator = TokenValidator(self.settings)
        return self._validator

    @property
    def policy(self) -> ToolPolicy:
        """The tools' permissions; imports the tools (and so the SDK) on first use."""
        if self._policy is None:
            with self._lock:
                if self._policy is None:
                    with kept_from_collector():
                        from shared.mcp import tools
                        from shared.mcp.permissions import ToolPolicy

                        self._policy = ToolPolicy(tools.ALL, self.settings)
        return self._policy

    @property
    def bridge(self) -> McpBridge:
        if self._bridge is None:
            policy = self.policy
            with self._lock:
                if self._bridge is None:
                    with kept_from_collector():
                        from shared.mcp.bridge import McpBridge
                        from shared.mcp.server import build_server

                        self._bridge = McpBridge(functools.partial(build_server, policy), self.settings)
        return self._bridge

    @property
    def problems(self) -> tuple[str, ...]:
        """The settings' problems, and the tool permissions' once something has needed them (not built here:
        /health stays off the SDK's imports)."""
        return self.settings.problems + (self._policy.problems if self._policy is not None else ())

    @property
    def facade(self) -> Facade:
        """The OAuth facade (OAUTH_PROXY=true), with every API scope a client may ask for."""
        if self._facade is None:
            with self._lock:
                if self._facade is None:
                    from shared.facade.core import Facade
                    from shared.mcp.permissions import advertised_scopes

                    settings = self.settings
                    extra = (f"{settings.identifier_uri}/{s}" for s in advertised_scopes(settings))
                    self._facade = Facade(settings, tuple(dict.fromkeys((*settings.qualified_scopes, *extra))))
        return self._facade


_current: Runtime | None = None


def current() -> Runtime:
    global _current
    if _current is None:
        _current = Runtime(load_settings(os.environ))
    return _current


def reset(environ: Mapping[str, str] | None = None) -> Runtime:
    """Rebuild from `environ` (default: the process environment); for tests and devhost."""
    global _current
    _current = Runtime(load_settings(os.environ if environ is None else environ))
    return _current
