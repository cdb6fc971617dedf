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


def _imports(path: Path, known: dict[str, Path]) -> set[str]:
    """What ``path`` imports when it is imported: module-level statements only (``if TYPE_CHECKING`` and
    imports inside functions run later or never). ``from package import submodule`` names the submodule."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("openwork"):
            subs = {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in known}
            found |= subs
            if len(subs) < len(node.names):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("openwork")}
    return found & known.keys()


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
    for name, path in below.items():
        if cli := sorted(d for d in _imports(path, known) if d.startswith("openwork.cli")):
            offenders[name] = cli
    assert offenders == {}
