"""What each HTTP route answers: the handlers `function_app.py` calls, authentication of a request
and its 401/403/503 challenges, JSON answers, the protected-resource metadata, OpenAPI and /docs.

The top layer: may import everything else in `shared`; nothing in `shared` imports it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.web.bearer import authenticate

# The package's public names, for devhost and the benchmarks. Loaded on first use: every import of
# a submodule imports this package first, and must not pull in PyJWT or the SDK with it (cold start).
_PUBLIC = {
    "authenticate": "shared.web.bearer",
}
__all__ = ["authenticate"]


def __getattr__(name: str) -> object:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
