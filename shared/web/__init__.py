"""What each HTTP route answers: the handlers `function_app.py` calls, authentication of a request
and its 401/403/503 challenges, JSON answers, the protected-resource metadata, OpenAPI and /docs.

The top layer: may import everything else in `shared`; nothing in `shared` imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared import lazy_exports

if TYPE_CHECKING:
    from shared.web.bearer import authenticate

# The package's public names, for devhost and the benchmarks (shared.lazy_exports: loaded on first use).
_PUBLIC = {
    "authenticate": "shared.web.bearer",
}
__all__ = ["authenticate"]

__getattr__ = lazy_exports(__name__, _PUBLIC)
