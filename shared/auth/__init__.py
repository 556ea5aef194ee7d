"""The token-validation module, the app's security boundary: what a bearer token proves about its caller.

Owns the signing keys and their fetching (`keys`, `fetch`), validation and authorization
(`tokens`), and the caller (`identity`). Imports only `shared.settings`: no HTTP framework, no
MCP, so it reads and tests on its own. Turning its verdicts into HTTP answers is `shared.web`'s job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared import lazy_exports

if TYPE_CHECKING:
    from shared.auth.fetch import tls_context
    from shared.auth.tokens import TokenValidator

# The package's public names, for devhost and the benchmarks (shared.lazy_exports: loaded on first use).
_PUBLIC = {
    "TokenValidator": "shared.auth.tokens",
    "tls_context": "shared.auth.fetch",
}
__all__ = ["TokenValidator", "tls_context"]

__getattr__ = lazy_exports(__name__, _PUBLIC)
