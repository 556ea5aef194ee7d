"""Offline checks of the Bicep templates in infra/: parsing, and resource bodies against the official type schemas.

No Bicep compiler runs here, so the templates are parsed with pycep-parser (the parser Checkov uses) and each
resource body is compared with the Bicep type definitions that the compiler itself uses: Azure's
(Azure/bicep-types-az) and the Microsoft Graph extension's (microsoftgraph/msgraph-bicep-types). The few type
files the templates need are vendored under tests/infra_types/, trimmed to the resource types used (and without
descriptions), so the tests run from a clean clone; `python tests/infra_schema.py [BICEP_TYPES_DIR]` rewrites
them from a full copy of those definitions (default: ../shared/bicep-types beside the repository).

Format of a type file: a JSON array of types that reference each other as {"$ref": "#/N"}; a ResourceType names
"Provider/type@apiVersion" and points at the body's ObjectType. Property flags: 1 required, 2 read-only,
4 write-only, 8 deploy-time constant, 16 identifier.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pycep import BicepParser
from pycep.transformer import BicepElement

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
TYPES_DIR = Path(__file__).resolve().parent / "infra_types"
SHARED_TYPES_DIR = ROOT.parent / "shared" / "bicep-types"

REQUIRED, READ_ONLY = 1, 2
# Keys of a resource declaration that Bicep itself consumes; they are not part of the resource body.
BICEP_RESOURCE_KEYWORDS = frozenset({"scope", "parent", "dependsOn"})

# pycep-parser 0.5.1, the version Checkov pins, predates Bicep's `extension` statement (it names the Microsoft
# Graph extension, nothing else). It is blanked, keeping line numbers, and is the only text ever changed.
EXTENSION_STATEMENT = re.compile(r"^extension[ \t]+\w+[ \t]*$", re.MULTILINE)

_PARSER = BicepParser()


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def parse_bicep(text: str) -> dict[str, Any]:
    """Parse Bicep source with pycep-parser; raises on a syntax error."""
    return _PARSER.parse(text=EXTENSION_STATEMENT.sub("", text))


@functools.cache
def parse_file(path: Path) -> dict[str, Any]:
    """The parsed template (cached: treat it as read-only)."""
    return parse_bicep(path.read_text())


# ---------------------------------------------------------------------------------------------------------------
# Values as pycep-parser returns them
# ---------------------------------------------------------------------------------------------------------------


def is_expression(value: Any) -> bool:
    """True for a value only known at deployment: a reference, a function call, an operator, an interpolation."""
    if isinstance(value, BicepElement):
        return True
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, dict) and len(value) == 1:
        ((key, inner),) = value.items()
        return key in ("function", "operator") and isinstance(inner, dict) and "type" in inner
    return False


def is_loop(value: Any) -> bool:
    return isinstance(value, dict) and "loop_type" in value and "config" in value


def is_condition(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"condition", "config"}


def unwrap(config: Any) -> Any:
    """The body of a resource or module declaration, through `if (...)` and `[for ...: ...]`."""
    while is_loop(config) or is_condition(config):
        config = config["config"]
    return config


def key_name(key: str) -> str | None:
    """An object key without its quotes, or None for an interpolated (computed) key."""
    if key.startswith("'") and key.endswith("'"):
        key = key[1:-1]
    return None if "${" in key else key


# ---------------------------------------------------------------------------------------------------------------
# The type definitions
# ---------------------------------------------------------------------------------------------------------------


def _refs(node: Any) -> Iterator[int]:
    if isinstance(node, dict):
        if set(node) == {"$ref"}:
            yield int(node["$ref"].rsplit("/", 1)[1])
        else:
            for value in node.values():
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _renumber(node: Any, mapping: dict[int, int]) -> Any:
    if isinstance(node, dict):
        if set(node) == {"$ref"}:
            return {"$ref": f"#/{mapping[int(node['$ref'].rsplit('/', 1)[1])]}"}
        # A property definition's "description" is documentation; a property *named* description stays.
        is_property = isinstance(node.get("type"), dict) and "flags" in node
        return {k: _renumber(v, mapping) for k, v in node.items() if not (is_property and k == "description")}
    if isinstance(node, list):
        return [_renumber(v, mapping) for v in node]
    return node


def trim_types(types: list[dict[str, Any]], resource_names: Iterable[str]) -> list[dict[str, Any]]:
    """The ResourceTypes named (case-insensitively) and every type they reach, renumbered, without descriptions."""
    wanted = {name.lower() for name in resource_names}
    roots = [i for i, t in enumerate(types) if t["$type"] == "ResourceType" and t["name"].lower() in wanted]
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        index = stack.pop()
        if index not in seen:
            seen.add(index)
            stack.extend(_refs(types[index]))
    order = sorted(seen)
    mapping = {old: new for new, old in enumerate(order)}
    return [_renumber(types[i], mapping) for i in order]


@dataclass(frozen=True)
class Schema:
    """Resource types by lower-cased "Provider/type@apiVersion", each with the type array it lives in."""

    resources: dict[str, tuple[list[dict[str, Any]], int]]

    @classmethod
    def load(cls, directory: Path = TYPES_DIR) -> Schema:
        resources: dict[str, tuple[list[dict[str, Any]], int]] = {}
        for path in sorted(directory.rglob("*.json")):
            types = json.loads(path.read_text())
            if not isinstance(types, list):
                continue
            for entry in types:
                if isinstance(entry, dict) and entry.get("$type") == "ResourceType":
                    resources.setdefault(entry["name"].lower(), (types, _ref(entry["body"])))
        return cls(resources)


def _ref(node: dict[str, str]) -> int:
    return int(node["$ref"].rsplit("/", 1)[1])


# ---------------------------------------------------------------------------------------------------------------
# The checker
# ---------------------------------------------------------------------------------------------------------------


class _Checker:
    def __init__(self, types: list[dict[str, Any]], errors: list[str]) -> None:
        self.types = types
        self.errors = errors
        self.methods = {
            "AnyType": self.check_any,
            "BooleanType": self.check_bool,
            "IntegerType": self.check_int,
            "StringType": self.check_string,
            "StringLiteralType": self.check_literal,
            "UnionType": self.check_union,
            "ArrayType": self.check_array,
            "ObjectType": self.check_object,
            "DiscriminatedObjectType": self.check_object,
        }

    def fail(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    def check(self, value: Any, ref: int, path: str, *, existing: bool = False) -> None:
        if value is None:
            return  # null leaves a property unset
        if is_expression(value):
            operator = value.get("operator") if isinstance(value, dict) else None
            if operator and operator.get("type") == "conditional":
                operands = operator["operands"]
                self.check(operands["true_value"], ref, f"{path}(true)")
                self.check(operands["false_value"], ref, f"{path}(false)")
            return
        kind = self.types[ref]["$type"]
        if is_loop(value):
            if kind != "ArrayType":
                self.fail(path, f"a `for` loop builds an array, but the schema expects {self.describe(ref)}")
            else:
                self.check(value["config"], _ref(self.types[ref]["itemType"]), f"{path}[for]")
            return
        method = self.methods.get(kind)
        if method is None:
            self.fail(path, f"schema type {kind} is not supported by this checker")
        else:
            method(value, self.types[ref], path, existing)

    def describe(self, ref: int) -> str:
        t = self.types[ref]
        if t["$type"] == "StringLiteralType":
            return repr(t["value"])
        if t["$type"] == "UnionType":
            return " | ".join(self.describe(_ref(e)) for e in t["elements"])
        if t["$type"] == "ObjectType":
            return f"object {t.get('name', '')}".strip()
        return {"StringType": "string", "IntegerType": "int", "BooleanType": "bool", "ArrayType": "array"}.get(
            t["$type"], t["$type"]
        )

    def check_any(self, value: Any, t: dict[str, Any], path: str, existing: bool) -> None:
        return

    def check_bool(self, value: Any, t: dict[str, Any], path: str, existing: bool) -> None:
        if not isinstance(value, bool):
            self.fail(path, f"expected a bool, got {value!r}")

    def check_int(self, value: Any, t: dict[str, Any], path: str, existing: bool) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"expected an int, got {value!r}")
        elif not t.get("minValue", value) <= value <= t.get("maxValue", value):
            self.fail(path, f"{value} is outside [{t.get('minValue')}, {t.get('maxValue')}]")

    def check_string(self, value: Any, t: dict[str, Any], path: str, existing: bool) -> None:
        if not isinstance(value, str):
            self.fail(path, f"expected a string, got {value!r}")
        elif not t.get("minLength", 0) <= len(value) <= t.get("maxLength", len(value)):
            self.fail(path, f"{value!r} has a length outside [{t.get('minLength')}, {t.get('maxLength')}]")
        elif "pattern" in t and not re.search(t["pattern"], value):
            self.fail(path, f"{value!r} does not match {t['pattern']!r}")

    def check_literal(self, value: Any, t: dict[str, Any], path: str, existing: bool) -> None:
        if value != t["value"]:
            self.fail(path, f"expected {t['value']!r}, got {value!r}")

    def check_union(self, value: Any, t: dict[str, Any], path: str, existing: bool) -> None:
        members = [_ref(e) for e in t["elements"]]
        literals = [self.types[m]["value"] for m in members if self.types[m]["$type"] == "StringLiteralType"]
        if isinstance(value, str) and literals:
            # Stricter than Bicep for open ("extensible") enums, whose union also admits any string: a literal
            # in our templates must be one of the values the schema names.
            if value not in literals:
                close = difflib.get_close_matches(value, literals, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.fail(path, f"{value!r} is not one of {literals}{hint}")
            return
        for member in members:
            attempt: list[str] = []
            _Checker(self.types, attempt).check(value, member, path, existing=existing)
            if not attempt:
                return
        self.fail(path, f"{value!r} matches none of {' | '.join(self.describe(m) for m in members)}")

    def check_array(self, value: Any, t: dict[str, Any], path: str, existing: bool) -> None:
        if not isinstance(value, list):
            self.fail(path, f"expected an array, got {value!r}")
            return
        if not t.get("minLength", 0) <= len(value) <= t.get("maxLength", len(value)):
            self.fail(path, f"{len(value)} items, outside [{t.get('minLength')}, {t.get('maxLength')}]")
        item = _ref(t["itemType"])
        for index, element in enumerate(value):
            self.check(element, item, f"{path}[{index}]")

    def shape(self, value: dict[str, Any], t: dict[str, Any], path: str) -> tuple[dict[str, Any], Any] | None:
        """The properties and additionalProperties of an object type; a discriminated one by its tag's value."""
        if t["$type"] == "ObjectType":
            return t["properties"], t.get("additionalProperties")
        tag = value.get(t["discriminator"])
        if is_expression(tag):
            return None
        if tag not in t["elements"]:
            self.fail(path, f"{t['discriminator']}={tag!r} is not one of {sorted(t['elements'])}")
            return None
        element = self.types[_ref(t["elements"][tag])]
        return {**t["baseProperties"], **element["properties"]}, element.get("additionalProperties")

    def check_object(
        self, value: Any, t: dict[str, Any], path: str, existing: bool, keywords: frozenset[str] = frozenset()
    ) -> None:
        if not isinstance(value, dict):
            self.fail(path, f"expected an object, got {value!r}")
            return
        if (shape := self.shape(value, t, path)) is None:
            return
        properties, additional = shape
        for raw_key, item in value.items():
            key = key_name(raw_key)
            where = f"{path}.{key if key is not None else raw_key}"
            if key in keywords:
                continue
            if key in properties:
                flags = properties[key].get("flags", 0)
                if flags & READ_ONLY and not flags & REQUIRED:
                    self.fail(where, "is read-only")
                self.check(item, _ref(properties[key]["type"]), where)
            elif additional is not None:
                self.check(item, _ref(additional), where)
            elif key is None:
                self.fail(where, "a computed key, but the object has only fixed properties")
            else:
                close = difflib.get_close_matches(key, list(properties), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.fail(where, f"unknown property{hint}")
        if existing:
            return
        present = {key_name(k) for k in value}
        for name, prop in properties.items():
            flags = prop.get("flags", 0)
            if flags & REQUIRED and not flags & READ_ONLY and name not in present:
                self.fail(f"{path}.{name}", "required property missing")


def check_resources(parsed: dict[str, Any], schema: Schema, source: str = "") -> list[str]:
    """Errors in the resource bodies of one parsed template: names, nesting, literal types and enum values."""
    errors: list[str] = []
    for symbol, resource in parsed.get("resources", {}).items():
        full_type = f"{resource['type']}@{resource['api_version']}"
        path = f"{source}:{symbol}" if source else symbol
        if full_type.lower() not in schema.resources:
            errors.append(f"{path}: no type definition for {full_type}")
            continue
        types, body = schema.resources[full_type.lower()]
        existing = bool(resource.get("existing"))
        config = unwrap(resource["config"])
        _Checker(types, errors).check_object(config, types[body], path, existing, keywords=BICEP_RESOURCE_KEYWORDS)
    return errors


def allowed_values(param: dict[str, Any]) -> list[Any] | None:
    """The values of a parameter's @allowed([...]) decorator, if it has one."""
    for decorator in param["decorators"]:
        if decorator["type"] == "allowed":
            return decorator["argument"]
    return None


def check_module_calls(parsed: dict[str, Any], base: Path, source: str = "") -> list[str]:
    """Errors in the module calls of one parsed template: unknown or missing parameters, disallowed literals."""
    errors: list[str] = []
    for symbol, module in parsed.get("modules", {}).items():
        path = f"{source}:{symbol}" if source else symbol
        target = base / module["detail"]["path"]
        if not target.is_file():
            errors.append(f"{path}: module file {module['detail']['path']} not found")
            continue
        declared = parse_file(target)["parameters"]
        passed = unwrap(module["config"]).get("params", {})
        for name, value in passed.items():
            if name not in declared:
                errors.append(f"{path}.params.{name}: {target.name} declares no such parameter")
                continue
            allowed = allowed_values(declared[name])
            if allowed is not None and not is_expression(value) and value not in allowed:
                errors.append(f"{path}.params.{name}: {value!r} is not one of {allowed}")
        for name, spec in declared.items():
            # pycep reads no default and `= null` alike (None): a `= null` default would count as required here.
            if spec.get("default") is None and name not in passed:
                errors.append(f"{path}.params.{name}: required by {target.name} but not passed")
    return errors


def used_resource_types(files: Iterable[Path]) -> set[str]:
    return {f"{r['type']}@{r['api_version']}" for f in files for r in parse_file(f).get("resources", {}).values()}


def trimmed_type_files(source_dir: Path, resource_names: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """{relative path: trimmed types} for every type file of `source_dir` that defines one of `resource_names`."""
    wanted = {name.lower() for name in resource_names}
    result: dict[str, list[dict[str, Any]]] = {}
    found: set[str] = set()
    for path in sorted(source_dir.rglob("*.json")):
        types = json.loads(path.read_text())
        if not isinstance(types, list):
            continue
        names = {t["name"].lower() for t in types if isinstance(t, dict) and t.get("$type") == "ResourceType"}
        here = (wanted & names) - found
        if here:
            found |= here
            result[path.relative_to(source_dir).as_posix()] = trim_types(types, here)
    if missing := wanted - found:
        raise LookupError(f"no type definition in {source_dir} for {sorted(missing)}")
    return result


def dump_types(types: list[dict[str, Any]]) -> str:
    """One type a line, so that a regeneration reads as a small diff."""
    return "[\n" + ",\n".join(json.dumps(t, separators=(",", ":"), sort_keys=True) for t in types) + "\n]\n"


def main(argv: list[str]) -> int:
    source = Path(argv[0]) if argv else SHARED_TYPES_DIR
    files = trimmed_type_files(source, used_resource_types(bicep_files()))
    for old in TYPES_DIR.rglob("*.json"):
        old.unlink()
    for relative, types in files.items():
        target = TYPES_DIR / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dump_types(types))
        print(f"{target.relative_to(ROOT)}: {len(types)} types")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
