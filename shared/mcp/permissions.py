"""Per-tool permissions: what each tool declares it needs (`@requires`), what TOOL_PERMISSIONS overrides,
and the check made on a `tools/call` before the SDK runs the tool.

The check happens at the HTTP layer, not inside the tool, because the MCP authorization spec's step-up
is an HTTP answer (403 with `insufficient_scope` and every scope the operation needs) that a client
follows by signing in again; a tool error would only tell a person.
"""

from __future__ import annotations

import ast
import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from shared.auth.identity import Principal
from shared.auth.permissions import Shortfall, shortfall
from shared.settings import Settings, ToolPermission

# Where tools/list says, per caller, what a tool they cannot use yet needs (reverse-DNS-style `_meta` key).
META_KEY = "azure-functions-mcp/requires"
_DECLARED = "__tool_permission__"

Tool = TypeVar("Tool", bound=Callable[..., Any])


def requires(*, scopes: Sequence[str] = (), roles: Sequence[str] = ()) -> Callable[[Tool], Tool]:
    """Declare what a tool needs besides the server-wide permission: delegated `scopes` (a user's token
    needs every one), app `roles` (an app's token needs every one). TOOL_PERMISSIONS may override it."""
    permission = ToolPermission(tuple(scopes), tuple(roles))

    def declare(tool: Tool) -> Tool:
        setattr(tool, _DECLARED, permission)
        return tool

    return declare


@dataclass(frozen=True)
class Refusal:
    """A tool call the caller may not make: the answer is 403 with the step-up challenge."""

    tool: str
    lacking: Shortfall
    needs: ToolPermission


@dataclass(frozen=True)
class Mismatch:
    """The `Mcp-Name` header names another tool than the body: the answer is 400, as the SDK gives."""

    request_id: Any
    code: int
    message: str


class ToolPolicy:
    """The tools' requirements for one set of settings: declared, then overridden by TOOL_PERMISSIONS."""

    def __init__(self, tools: Iterable[Callable[..., Any]], settings: Settings) -> None:
        self.identifier_uri = settings.identifier_uri
        declared = {tool.__name__: getattr(tool, _DECLARED, ToolPermission()) for tool in tools}
        overrides = dict(settings.tool_permissions)
        # A misspelt name would silently leave a tool on its declared permission: refused instead.
        self.problems = tuple(
            f"TOOL_PERMISSIONS names {name}, which is not a tool of this server"
            for name in overrides
            if name not in declared
        )
        merged = {**declared, **{name: needs for name, needs in overrides.items() if name in declared}}
        self.table = {name: needs for name, needs in merged.items() if needs.scopes or needs.roles}

    def scopes(self) -> tuple[str, ...]:
        """Every delegated scope some tool needs, sorted."""
        return tuple(sorted({scope for needs in self.table.values() for scope in needs.scopes}))

    def qualified(self, scopes: Iterable[str]) -> list[str]:
        return [f"{self.identifier_uri}/{scope}" for scope in scopes]

    def check(self, body: bytes, headers: Mapping[str, str], caller: Principal) -> Refusal | Mismatch | None:
        # Here, not at the top: this module is also what the metadata route reads (see advertised_scopes).
        from mcp.shared.inbound import MCP_NAME_HEADER, decode_header_value
        from mcp_types.jsonrpc import HEADER_MISMATCH

        calls = _tool_calls(body)
        if not calls:
            return None
        header = headers.get(MCP_NAME_HEADER)
        if header is not None:
            named = decode_header_value(header)
            for request_id, name in calls:
                if name != named:
                    return Mismatch(request_id, HEADER_MISMATCH, "Mcp-Name header does not match the body's 'name'")
        for _, name in calls:
            needs = self.table.get(name)
            if needs is not None and (lacking := shortfall(caller, needs)) is not None:
                return Refusal(name, lacking, needs)
        return None

    def advice(self, tool: str, caller: Principal) -> dict[str, list[str]] | None:
        """For tools/list: what `tool` needs, when `caller` cannot use it yet."""
        needs = self.table.get(tool)
        if needs is None or shortfall(caller, needs) is None:
            return None
        return {"scopes": self.qualified(needs.scopes), "roles": list(needs.roles)}


def _tool_calls(body: bytes) -> list[tuple[Any, str]]:
    """(id, tool name) of each `tools/call` in a message, or in a legacy-era batch.

    Always parsed, never searched as bytes first: JSON may spell the method `tools\\/call` or with
    `\\u` escapes, and the SDK would still run it. Duplicate keys resolve as in the SDK (the last wins).
    """
    try:
        decoded = json.loads(body)
    except ValueError:
        return []  # the SDK answers the parse error
    messages = decoded if isinstance(decoded, list) else [decoded]
    calls = []
    for message in messages:
        if isinstance(message, dict) and message.get("method") == "tools/call":
            params = message.get("params")
            name = params.get("name") if isinstance(params, dict) else None
            if isinstance(name, str):
                calls.append((message.get("id"), name))
    return calls


TOOLS_SOURCE = Path(__file__).with_name("tools.py")


def advertised_scopes(settings: Settings) -> tuple[str, ...]:
    """What `ToolPolicy.scopes()` says, without importing the tools: the protected-resource metadata lists
    every scope a tool needs, and that route stays off the MCP SDK's imports (cold start). The
    declarations are read from the tools' source; tests/test_permissions.py holds the two equal."""
    needs = {**_declared_in_source(TOOLS_SOURCE), **dict(settings.tool_permissions)}
    return tuple(sorted({scope for permission in needs.values() for scope in permission.scopes}))


@functools.cache
def _declared_in_source(path: Path) -> dict[str, ToolPermission]:
    declared = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) == requires.__name__:
                found = {word.arg: ast.literal_eval(word.value) for word in decorator.keywords if word.arg}
                declared[node.name] = ToolPermission(tuple(found.get("scopes", ())), tuple(found.get("roles", ())))
    return declared
