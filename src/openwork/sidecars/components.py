"""What each sidecar is: its executable name, pinned version, and where npm publishes it (if it does)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

__all__ = ["COMPONENTS", "OPENCODE_VERSION", "SOURCES", "ComponentSpec", "Source"]

OPENCODE_VERSION = "1.18.33"  # pinned; the version this runtime is tested against

if TYPE_CHECKING:
    from typing import Literal

    Source = Literal["auto", "bundled", "downloaded", "external"]
SOURCES: tuple[Source, ...] = ("auto", "bundled", "downloaded", "external")


@dataclass(frozen=True, kw_only=True, slots=True)
class ComponentSpec:
    name: str
    executable: str
    pinned: str | None  # None: the manifest says which version
    npm_package: str | None = None  # "{target}" is replaced, e.g. opencode-linux-x64
    npm_member: str | None = None  # the binary inside the npm tarball

    def package_for(self, target: str) -> str | None:
        return self.npm_package.format(target=target) if self.npm_package else None


COMPONENTS = {
    "opencode": ComponentSpec(
        name="opencode",
        executable="opencode",
        pinned=OPENCODE_VERSION,
        npm_package="opencode-{target}",
        npm_member="package/bin/opencode",
    ),
    "opencode-router": ComponentSpec(name="opencode-router", executable="opencode-router", pinned=None),
}
