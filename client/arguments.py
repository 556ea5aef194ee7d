"""`key=value` words typed by a tool's JSON Schema: `add a=1 b=2.5`, `echo message=hi`, `f opts={"x":1}`.

Each value is read as the type its property declares: number, integer and boolean from their JSON
spelling, object and array as JSON, string as the raw text (so `message=42` stays "42"). A property
that allows several types (`anyOf`, a type list) takes the first that parses, string last. Unknown,
repeated, missing and ill-typed arguments are refused here, with the argument named, before any
request is sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# The order in which a value is tried against the types a property allows: string last, since any text is one.
TYPE_ORDER = ("null", "boolean", "integer", "number", "object", "array", "string")
TYPE_NAMES = {
    "null": "null",
    "boolean": "true or false",
    "integer": "an integer",
    "number": "a number",
    "object": "a JSON object",
    "array": "a JSON array",
    "string": "a string",
}


class ArgumentError(ValueError):
    """A tool argument on the command line that does not fit the tool's input schema."""


def parse_arguments(tool: str, schema: Mapping[str, Any], words: Sequence[str]) -> dict[str, Any]:
    properties: Mapping[str, Any] = schema.get("properties") or {}
    # JSON Schema allows unknown keys by default, but a typo is far more likely than a wanted extra.
    extras_allowed = bool(schema.get("additionalProperties", False))
    values: dict[str, Any] = {}
    for word in words:
        key, sep, raw = word.partition("=")
        if not sep or not key:
            raise ArgumentError(f"argument {word!r} is not key=value (for example a=1)")
        if key in values:
            raise ArgumentError(f"argument {key!r} is given twice")
        if key not in properties and not extras_allowed:
            known = ", ".join(properties) or "none"
            raise ArgumentError(f"{tool} has no argument {key!r}; its arguments are: {known}")
        values[key] = convert(tool, key, raw, properties.get(key) or {}, schema)
    missing = [name for name in schema.get("required") or () if name not in values]
    if missing:
        wanted = ", ".join(f"{name}=<{describe(types_of(properties.get(name) or {}, schema))}>" for name in missing)
        raise ArgumentError(f"{tool} needs {wanted}")
    return values


def convert(tool: str, key: str, raw: str, prop: Mapping[str, Any], root: Mapping[str, Any]) -> Any:
    types = types_of(prop, root)
    if not types:  # an unconstrained property: JSON if it parses, else the text itself
        try:
            value: Any = _json(raw)
        except ValueError:
            value = raw
    else:
        for kind in types:
            try:
                value = PARSERS[kind](raw)
                break
            except ValueError:
                continue
        else:
            raise ArgumentError(f"argument {key!r} of {tool} must be {describe(types)}, not {raw!r}")
    choices = _resolved(prop, root).get("enum")
    if isinstance(choices, list) and value not in choices:
        allowed = ", ".join(json.dumps(choice) for choice in choices)
        raise ArgumentError(f"argument {key!r} of {tool} must be one of {allowed}, not {raw!r}")
    return value


def types_of(prop: Mapping[str, Any], root: Mapping[str, Any], depth: int = 0) -> list[str]:
    """The JSON types a property allows, in the order values are tried; [] when unconstrained."""
    if depth > 8:  # a self-referencing schema; give up on typing rather than recurse forever
        return []
    found: list[str] = []
    if isinstance(prop.get("$ref"), str):
        found += types_of(_resolve(prop["$ref"], root), root, depth + 1)
    declared = prop.get("type")
    found += [declared] if isinstance(declared, str) else list(declared or ())
    for keyword in ("anyOf", "oneOf", "allOf"):
        for option in prop.get(keyword) or ():
            found += types_of(option, root, depth + 1)
    if "const" in prop or "enum" in prop:
        found += [_json_type(v) for v in ([prop["const"]] if "const" in prop else prop["enum"])]
    return [kind for kind in TYPE_ORDER if kind in found]


def describe(types: Iterable[str]) -> str:
    return " or ".join(TYPE_NAMES[kind] for kind in types) or "any JSON value"


def _resolved(prop: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """The property with a `$ref` replaced by its target (pydantic puts enums in `$defs`)."""
    ref = prop.get("$ref")
    return {**_resolve(ref, root), **{k: v for k, v in prop.items() if k != "$ref"}} if isinstance(ref, str) else prop


def _resolve(ref: str, root: Mapping[str, Any]) -> Mapping[str, Any]:
    """A local `#/$defs/Name` reference (what pydantic emits); anything else is treated as unconstrained."""
    node: Any = root
    if not ref.startswith("#/"):
        return {}
    for part in ref[2:].split("/"):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}


def _json(raw: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    # Python's parser accepts NaN and Infinity; JSON (and the server) does not.
    return json.loads(raw, parse_constant=refuse)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return {dict: "object", list: "array"}.get(type(value), "string")


def _null(raw: str) -> None:
    if raw != "null":
        raise ValueError(raw)


def _boolean(raw: str) -> bool:
    if raw not in ("true", "false"):
        raise ValueError(raw)
    return raw == "true"


def _integer(raw: str) -> int:
    value = _json(raw)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(raw)
    return value


def _number(raw: str) -> int | float:
    value = _json(raw)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(raw)
    return value


def _object(raw: str) -> dict[str, Any]:
    value = _json(raw)
    if not isinstance(value, dict):
        raise ValueError(raw)
    return value


def _array(raw: str) -> list[Any]:
    value = _json(raw)
    if not isinstance(value, list):
        raise ValueError(raw)
    return value


PARSERS = {
    "null": _null,
    "boolean": _boolean,
    "integer": _integer,
    "number": _number,
    "object": _object,
    "array": _array,
    "string": str,
}
