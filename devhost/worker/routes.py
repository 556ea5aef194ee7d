"""The host's HTTP routing, from the worker's function metadata: routePrefix, templates, precedence.

The Functions host turns every httpTrigger binding into an ASP.NET Core route: `routePrefix` (host.json
`extensions.http.routePrefix`, default `api`) + "/" + the binding's `route` (default: the function's
name), with the binding's `methods` (all methods when absent). Templates are ASP.NET Core's: literal
segments matched case-insensitively, `{name}`, `{name?}` (optional, trailing only), `{name:constraint}`,
`{*name}` (catch-all). Among the routes that match, the most specific wins (ASP.NET Core's route
precedence: literal before constrained parameter before parameter before catch-all, segment by
segment). A path no route matches, or a method the matched route does not allow, is a 404.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

PARAMETER = re.compile(r"^\{(\*{0,2})([A-Za-z_][A-Za-z0-9_]*)(\?)?((?::[^:}]+(?:\([^)]*\))?)*)\}$")

# ASP.NET Core's inline constraints that devhost checks; any other fails at start-up, saying so.
CONSTRAINTS: dict[str, Callable[[str, str], bool]] = {
    "int": lambda v, _: re.fullmatch(r"-?\d+", v) is not None and -(2**31) <= int(v) < 2**31,
    "long": lambda v, _: re.fullmatch(r"-?\d+", v) is not None and -(2**63) <= int(v) < 2**63,
    "bool": lambda v, _: v.lower() in ("true", "false"),
    "alpha": lambda v, _: re.fullmatch(r"[A-Za-z]+", v) is not None,
    "guid": lambda v, _: _is_guid(v),
    "double": lambda v, _: re.fullmatch(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", v) is not None,
    "minlength": lambda v, a: len(v) >= int(a),
    "maxlength": lambda v, a: len(v) <= int(a),
    "length": lambda v, a: len(v) == int(a) if "," not in a else int(a.split(",")[0]) <= len(v) <= int(a.split(",")[1]),
    "regex": lambda v, a: re.search(a, v, re.IGNORECASE) is not None,
    "min": lambda v, a: _number(v) is not None and _number(v) >= int(a),  # type: ignore[operator]
    "max": lambda v, a: _number(v) is not None and _number(v) <= int(a),  # type: ignore[operator]
    "range": lambda v, a: _number(v) is not None and int(a.split(",")[0]) <= _number(v) <= int(a.split(",")[1]),  # type: ignore[operator]
}
CONSTRAINTS["float"] = CONSTRAINTS["decimal"] = CONSTRAINTS["double"]


def _number(value: str) -> int | None:
    return int(value) if re.fullmatch(r"-?\d+", value) else None


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Segment:
    literal: str | None  # None for a parameter
    name: str = ""
    optional: bool = False
    catch_all: bool = False
    constraints: tuple[tuple[str, str], ...] = ()

    def rank(self) -> int:
        """ASP.NET Core's inbound precedence digit: lower is more specific."""
        if self.literal is not None:
            return 1
        if self.catch_all:
            return 5
        return 3 if self.constraints else 4

    def accepts(self, value: str) -> bool:
        if self.literal is not None:
            return value.lower() == self.literal.lower()
        return all(CONSTRAINTS[name](value, argument) for name, argument in self.constraints)


@dataclass(frozen=True)
class HttpRoute:
    function_name: str
    function_id: str
    binding: str  # the trigger parameter's name, which the invocation's input carries
    template: str  # prefix and route, as matched
    methods: frozenset[str] | None  # None: every method; HEAD wherever GET is, as the host adds it
    auth_level: str
    segments: tuple[Segment, ...]
    declared: tuple[str, ...] = ()  # the trigger's methods, in its order: a 405's Allow

    def match(self, parts: list[str]) -> dict[str, str] | None:
        """Route values of a decoded path's segments, or None when the template does not match them."""
        values: dict[str, str] = {}
        for i, segment in enumerate(self.segments):
            if segment.catch_all:
                rest = "/".join(parts[i:])
                if rest:
                    values[segment.name] = rest
                return values
            if i >= len(parts):
                # Only trailing optional parameters may be missing; they are left out of the values.
                return values if all(s.optional or s.catch_all for s in self.segments[i:]) else None
            if not segment.accepts(parts[i]):
                return None
            if segment.literal is None:
                values[segment.name] = parts[i]
        return values if len(parts) == len(self.segments) else None

    def precedence(self) -> tuple[int, ...]:
        return tuple(segment.rank() for segment in self.segments)


def parse_template(template: str) -> tuple[Segment, ...]:
    segments = []
    for part in template.strip("/").split("/") if template.strip("/") else []:
        if "{" not in part and "}" not in part:
            segments.append(Segment(literal=part))
            continue
        found = PARAMETER.match(part)
        if found is None:
            raise ValueError(f"route {template!r}: devhost cannot serve {part!r} (one parameter per segment)")
        stars, name, optional, constraint_text = found.groups()
        constraints = []
        for constraint in re.findall(r":([^:(]+)(?:\(([^)]*)\))?", constraint_text):
            if constraint[0] not in CONSTRAINTS:
                raise ValueError(f"route {template!r}: devhost does not know the constraint {constraint[0]!r}")
            constraints.append((constraint[0], constraint[1]))
        segments.append(Segment(None, name, bool(optional), bool(stars), tuple(constraints)))
    return tuple(segments)


def http_routes(prefix: str, functions: list[tuple[str, str, list[dict[str, Any]]]]) -> list[HttpRoute]:
    """The routes of the worker's functions (name, id, raw bindings), most specific first."""
    routes = []
    for name, function_id, bindings in functions:
        trigger = next((b for b in bindings if str(b.get("type", "")).lower() == "httptrigger"), None)
        if trigger is None:
            continue
        route = str(trigger.get("route") or name).strip("/")
        template = "/".join(part for part in (prefix.strip("/"), route) if part)
        declared = tuple(str(m).upper() for m in trigger.get("methods") or ())
        methods = set(declared)
        if "GET" in methods:
            methods.add("HEAD")  # the host's BuildConstraintMethods
        routes.append(
            HttpRoute(
                function_name=name,
                function_id=function_id,
                binding=str(trigger["name"]),
                template="/" + template,
                methods=frozenset(methods) if declared else None,
                auth_level=str(trigger.get("authLevel", "FUNCTION")).lower(),
                segments=parse_template(template),
                declared=declared,
            )
        )
    return sorted(routes, key=HttpRoute.precedence)


def path_segments(path: str) -> list[str]:
    """The request path's segments, percent-decoded (a trailing slash ignored, as ASP.NET Core's routing does)."""
    trimmed = path.strip("/")
    return [unquote(part) for part in trimmed.split("/")] if trimmed else []


def find_route(routes: list[HttpRoute], method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | str | None:
    """The most specific route for `method` and `path`, with its route values; or, for a HEAD to a route
    that takes neither GET nor HEAD, the methods it takes (the host answers 405 with them as `Allow`).

    As the Functions host's routing (azure-functions-host, WebScriptHostHttpRoutesManager): a route's
    methods are a constraint, so any other method matches nothing and is a 404; the one exception is the
    host's HEAD shadow route, registered beside each route that takes neither GET nor HEAD."""
    parts = path_segments(path)
    for route in routes:
        if route.methods is not None and method not in route.methods:
            if method == "HEAD" and route.match(parts) is not None:
                return ", ".join(route.declared)
            continue
        values = route.match(parts)
        if values is not None:
            return route, values
    return None
