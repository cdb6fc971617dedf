"""Locating and fetching the binaries the stack runs (opencode today; the router later)."""

from openwork.sidecars.opencode import OPENCODE_VERSION, ResolvedBinary, resolve_opencode
from openwork.sidecars.version import probe_version

__all__ = ["OPENCODE_VERSION", "ResolvedBinary", "probe_version", "resolve_opencode"]
