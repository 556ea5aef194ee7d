"""The token-validation module, the app's security boundary: what a bearer token proves about its caller.

Owns the signing keys and their fetching (`keys`, `fetch`), validation and authorization
(`tokens`), and the caller (`identity`). Imports only `shared.settings`: no HTTP framework, no
MCP, so it reads and tests on its own. Turning its verdicts into HTTP answers is `shared.web`'s job.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.auth.fetch import tls_context
    from shared.auth.tokens import TokenValidator

# The package's public names, for devhost and the benchmarks. Loaded on first use: every import of
# a submodule imports this package first, and must not pull in PyJWT or the SDK with it (cold start).
_PUBLIC = {
    "TokenValidator": "shared.auth.tokens",
    "tls_context": "shared.auth.fetch",
}
__all__ = ["TokenValidator", "tls_context"]


def __getattr__(name: str) -> object:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
