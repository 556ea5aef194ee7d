"""The layout's rules hold: no import circle in `shared/` (lazy imports included), the security boundary
free of HTTP frameworks, devhost, client and bench on the public surface only, and the import-linter
contracts able to fail."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = {
    "function_app",
    "shared",
    "shared.settings",
    "shared.runtime",
    "shared.collector",
    "shared.auth",
    "shared.graph",
    "shared.mcp",
    "shared.web",
    "shared.facade",
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, root: Path) -> Iterator[tuple[str, int]]:
    """Every module an import statement in `path` names, wherever it stands (functions and TYPE_CHECKING too).

    `from package import name` counts as `package.name` where that is a module of ours, else `package`.
    """
    here = module_name(path, root)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                is_module = (root / Path(*candidate.split("."))).with_suffix(".py").exists() or (
                    root / Path(*candidate.split(".")) / "__init__.py"
                ).exists()
                yield (candidate if is_module else base), node.lineno


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = {module_name(p, root): p for p in (root / "shared").rglob("*.py")}
    return {
        name: {target for target, _ in imported(path, root) if target in modules and target != name}
        for name, path in modules.items()
    }


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_in_shared_is_imported_by_a_module_it_imports() -> None:
    graph = import_graph(ROOT)
    assert "shared.web.handlers" in graph and "shared.auth.tokens" in graph["shared.runtime"]
    assert circles(graph) == []


def test_the_circle_check_sees_a_lazy_import(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "shared", tmp_path / "shared")
    keys = tmp_path / "shared" / "auth" / "keys.py"
    keys.write_text(keys.read_text() + "\n\ndef late():\n    from shared.auth import tokens\n\n    return tokens\n")
    assert ["shared.auth.keys", "shared.auth.tokens"] in circles(import_graph(tmp_path))


@pytest.mark.parametrize("package", ["shared/auth", "shared/graph", "shared/settings.py"])
def test_validation_and_graph_do_not_import_the_functions_sdk(package: str) -> None:
    target = ROOT / package
    for path in [target] if target.is_file() else sorted(target.rglob("*.py")):
        for name, line in imported(path, ROOT):
            assert not name.startswith(("azure.functions", "mcp", "starlette")), f"{path}:{line} imports {name}"


@pytest.mark.parametrize("folder", ["devhost", "client", "bench"])
def test_hosts_clients_and_benchmarks_use_only_the_public_surface(folder: str) -> None:
    uses = 0
    for path in sorted((ROOT / folder).rglob("*.py")):
        for name, line in imported(path, ROOT):
            if name == "shared" or name.startswith("shared."):
                uses += 1
                assert name in PUBLIC, f"{path.relative_to(ROOT)}:{line} imports {name}, not the public surface"
    assert uses or folder == "client"


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(command), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120, env={"PYTHONPATH": "."}
    )


def test_the_import_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_forbidden_import_breaks_the_contracts(tmp_path: Path) -> None:
    for name in ("shared", "devhost", "client"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    # The validator reaching up to the routes, lazily: the kind of circle issue #12 removed.
    tokens = tmp_path / "shared" / "auth" / "tokens.py"
    late = "\n\ndef late():\n    from shared.web import responses\n\n    return responses\n"
    tokens.write_text(tokens.read_text() + late)
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "shared.auth.tokens -> shared.web.responses" in result.stdout


def test_the_readme_layout_names_every_module_of_the_app() -> None:
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("## Layout") :]
    layout = layout[: layout.index("\n## ")] if "\n## " in layout else layout
    block = layout[layout.index("```\n") + 4 : layout.index("\n```", layout.index("```\n") + 4)]
    named, folder = set(), ""
    for line in block.splitlines():
        path = line.split()[0] if line.strip() else ""
        if line.startswith("  ") and path:
            named.add(folder + path)
        elif path:
            folder = path if path.endswith("/") else ""
            named.add(path)
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "shared").rglob("*.py") if p.name != "__init__.py"}
    assert modules <= named, f"README Layout lacks {sorted(modules - named)}"
    stale = {path for path in named if path.startswith("shared/") and not (ROOT / path).exists()}
    assert not stale, f"README Layout names what is not in the tree: {sorted(stale)}"
