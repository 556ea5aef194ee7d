"""devhost on Azure's own Python worker library (`azure_functions_runtime`, Python 3.13+). See docs/devhost.md.

protocol.py  the host protocol's messages, our classes
host.py      what the Functions host does with the worker: init, index, load, invoke
routes.py    the host's HTTP routing from the worker's function metadata
http.py      the host's side of an HTTP trigger: the request into an invocation, its answer into a response
serve.py     the ASGI app devhost serves, and its banner
"""

from __future__ import annotations

import importlib.util
import sys

LIBRARY = "azure-functions-runtime"


def unavailable_reason() -> str | None:
    """Why devhost cannot serve through the worker library here, or None when it can.

    Cheap on purpose: devhost's adapter asks at every start.
    """
    if sys.version_info < (3, 13):
        return f"{LIBRARY} needs Python 3.13 or newer (this is {sys.version.split()[0]})"
    if importlib.util.find_spec("azure_functions_runtime") is None:
        return f"{LIBRARY} is not installed (pip install -r requirements.txt)"
    return None
