"""The tools: the seed's math server, `echo`, and `whoami`.

Every failure a caller can cause (division by zero, the root of a negative, overflow, a result
that is not a finite number) is a `ToolError`: the client gets `isError: true` and a message
saying what was wrong, never an HTTP 500 or a bare "Error executing tool".
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from shared.auth.identity import current_assertion, current_caller
from shared.graph.schema import GraphProfile
from shared.mcp.context import current_settings
from shared.mcp.permissions import requires

# JSON has no NaN or infinity, but Python's parser accepts them: refuse them at the schema.
Number = Annotated[float, Field(allow_inf_nan=False)]


def _finite(operation: str, value: float | complex) -> float:
    if isinstance(value, complex):
        raise ToolError(f"the result of {operation} is not a real number")
    if not math.isfinite(value):
        raise ToolError(f"the result of {operation} overflows: it is not a finite number")
    return value


def add(a: Number, b: Number) -> float:
    """Add two numbers: a + b."""
    return _finite("add", a + b)


def subtract(a: Number, b: Number) -> float:
    """Subtract b from a: a - b."""
    return _finite("subtract", a - b)


def multiply(a: Number, b: Number) -> float:
    """Multiply two numbers: a * b."""
    return _finite("multiply", a * b)


def divide(a: Number, b: Number) -> float:
    """Divide a by b: a / b. b must not be zero."""
    if b == 0:
        raise ToolError("division by zero: b must not be 0")
    return _finite("divide", a / b)


def power(base: Number, exponent: Number) -> float:
    """Raise base to exponent: base ** exponent."""
    try:
        return _finite("power", base**exponent)
    except ZeroDivisionError:
        raise ToolError("zero cannot be raised to a negative power") from None
    except OverflowError:
        raise ToolError("the result of power overflows: it is not a finite number") from None


def sqrt(x: Number) -> float:
    """Square root of x. x must not be negative."""
    if x < 0:
        raise ToolError(f"the square root of a negative number ({x}) is not a real number")
    return math.sqrt(x)


def echo(message: Annotated[str, Field(max_length=100_000)]) -> str:
    """Return the message unchanged."""
    return message


def whoami() -> dict[str, Any]:
    """Who is calling: the identity from the caller's validated access token (the same data as GET /me)."""
    caller = current_caller.get()
    if caller is None:
        raise ToolError("no caller identity reached this tool")
    return caller.to_dict()


@requires(scopes=["Profile.Read"])
async def graph_profile() -> GraphProfile:
    """Your Microsoft Graph profile (GET /v1.0/me): display name, mail, job title, user principal name, id and more.

    Fetched as you, through the OAuth 2.0 on-behalf-of flow with the delegated User.Read permission;
    needs a signed-in user's token with this API's Profile.Read scope (app-only callers cannot use it).
    """
    # Imported here: the on-behalf-of machinery stays off the cold start of every other tool.
    from shared.graph.errors import GraphError
    from shared.graph.profile import fetch_profile

    caller, settings = current_caller.get(), current_settings.get()
    if caller is None or settings is None:
        raise ToolError("no caller identity reached this tool")
    try:
        profile = await fetch_profile(settings, caller, current_assertion.get())
    except GraphError as exc:
        raise ToolError(exc.tool_message()) from None
    return profile  # type: ignore[return-value]


ALL = (add, subtract, multiply, divide, power, sqrt, echo, whoami, graph_profile)
