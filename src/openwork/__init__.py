"""openwork-py: the OpenWork host runtime in one Python process."""

import sys

__version__ = "0.1.0"
__all__ = ["__version__"]


def _import_structlog_without_rich() -> None:
    """structlog pulls in rich (~60 ms) at import only to pretty-print exceptions in its console
    renderer, which we do not use. That import sits on the path to spawning opencode, so hide rich
    while structlog loads; rich stays importable afterwards (the dashboard uses it)."""
    if "structlog" in sys.modules or "rich" in sys.modules:
        return
    sys.modules["rich"] = None  # type: ignore[assignment]  # makes `import rich` raise ImportError
    try:
        import structlog  # noqa: F401
    finally:
        del sys.modules["rich"]


_import_structlog_without_rich()
