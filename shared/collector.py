"""Long-lived objects kept from the garbage collector: built without collections, then frozen.

Used where a process builds what lives as long as it does: devhost's start-up, and the first
authenticated request, which imports the heavy libraries (shared/runtime.py).
"""

from __future__ import annotations

import contextlib
import gc
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def kept_from_collector() -> Iterator[None]:
    """No garbage collection while the block runs; if it imported modules, what it built is frozen after.

    The first authenticated request imports the heavy libraries in such a block (PyJWT and
    cryptography; the MCP SDK, whose pydantic models are most of a cold start): hundreds of
    thousands of objects that live as long as the process. Every collection during those imports
    walked them all again, and, even with collections paused, the ones after would walk them once
    or twice more before leaving them be: a tenth of the first call's CPU for next to no garbage.
    Frozen (`gc.freeze()`), they are never walked again, and still freed by reference counting;
    only the reference cycles the imports left behind (about 1,800 objects, 0.4 MB) are kept for
    good. A block that imports nothing (a Runtime rebuilt in the same process) freezes nothing.
    """
    modules, enabled = len(sys.modules), gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if len(sys.modules) > modules:
            gc.freeze()
        if enabled:
            gc.enable()
