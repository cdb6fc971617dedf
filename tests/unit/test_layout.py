"""The source layout keeps the shape issue 19 gave it: a top level of packages and a few shared modules,
modules under 350 lines, no import cycle, and the CLI on top (nothing below it imports it)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "openwork"
TOP_LEVEL_MODULES = {"__init__", "__main__", "errors", "constants", "config", "paths", "wire"}
MAX_LINES = 350


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = ("openwork", *path.relative_to(SRC).with_suffix("").parts)
        found[".".join(parts).removesuffix(".__init__")] = path
    return found


def _imported(node: ast.AST, known: dict[str, Path]) -> set[str]:
    """The openwork modules one import statement names; ``from package import submodule`` names the
    submodule (the package is loaded already)."""
    if isinstance(node, ast.ImportFrom) and node.level:
        raise AssertionError("relative imports are not used here; the analysis below assumes none")
    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("openwork"):
        subs = {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in known}
        return (subs | ({node.module} if len(subs) < len(node.names) else set())) & known.keys()
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name.startswith("openwork")} & known.keys()
    return set()


def _imports(path: Path, known: dict[str, Path], *, deferred: bool = False) -> set[str]:
    """What ``path`` imports when it is imported: every import statement outside function bodies and
    ``if TYPE_CHECKING:`` blocks (those run later or never). ``deferred``: those too."""
    found: set[str] = set()
    pending: list[ast.AST] = [ast.parse(path.read_text())]
    while pending:
        node = pending.pop()
        found |= _imported(node, known)
        for child in ast.iter_child_nodes(node):
            later = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) or (
                isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test)
            )
            if deferred or not later:
                pending.append(child)
    return found


def test_the_top_level_holds_packages_and_the_shared_modules_only() -> None:
    modules = {p.stem for p in SRC.glob("*.py")}
    assert modules <= TOP_LEVEL_MODULES, modules - TOP_LEVEL_MODULES


def test_no_module_is_over_the_limit() -> None:
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_no_import_cycle() -> None:
    known = _modules()
    graph = {name: _imports(path, known) for name, path in known.items()}
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            raise AssertionError("import cycle: " + " -> ".join([*trail[trail.index(name) :], name]))
        if name in done:
            return
        for dep in sorted(graph[name]):
            visit(dep, [*trail, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


def test_nothing_below_the_cli_imports_it() -> None:
    known = _modules()
    below = {name: path for name, path in known.items() if not name.startswith(("openwork.cli", "openwork.__main__"))}
    offenders = {}
    for name, path in below.items():  # deferred imports count too: a layer is a layer at any time
        imported = _imports(path, known, deferred=True)
        if cli := sorted(d for d in imported if d == "openwork.cli" or d.startswith("openwork.cli.")):
            offenders[name] = cli
    assert offenders == {}
