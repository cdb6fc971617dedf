"""Locating, fetching and verifying the binaries the stack runs (opencode, the router)."""

from openwork.sidecars.components import OPENCODE_VERSION
from openwork.sidecars.resolver import ResolvedBinary, Resolver, SidecarSettings

__all__ = ["OPENCODE_VERSION", "ResolvedBinary", "Resolver", "SidecarSettings"]
