"""openwork-py: the OpenWork host runtime in one Python process."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not `from typing`: ~4 ms on the way to spawning opencode

if TYPE_CHECKING:
    import importlib.machinery
    import types
    from collections.abc import Sequence

__version__ = "0.1.0"
__all__ = ["__version__"]


class _WithoutRich:  # a meta path finder (importlib.abc is not imported: it costs ~30 ms)
    """structlog and httpx import rich (~60 ms each) only for features we do not use: structlog's
    console exception renderer and httpx's command line. Both imports sit on latency-critical paths
    (spawning opencode; the thin CLI), so while either package's top module executes, ``import rich``
    fails and they fall back to their plain paths. rich itself stays importable (the dashboard uses it).
    """

    packages = frozenset({"structlog", "httpx"})

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.packages or "rich" in sys.modules:
            return None
        import importlib.util

        sys.meta_path.remove(self)  # find the real spec without recursing into ourselves
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        real_exec = spec.loader.exec_module

        def exec_module(module: types.ModuleType) -> None:
            blocked = "rich" not in sys.modules
            if blocked:
                sys.modules["rich"] = None  # type: ignore[assignment]  # `import rich` -> ImportError
            try:
                real_exec(module)
            finally:
                if blocked:
                    sys.modules.pop("rich", None)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


sys.meta_path.insert(0, _WithoutRich())
