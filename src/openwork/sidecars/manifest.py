"""The sidecar manifest: per component and target, where a binary comes from and what it must hash to.

Schema (``schemaVersion`` 1)::

    {"schemaVersion": 1,
     "components": {"opencode": {"version": "1.18.33",
                                 "targets": {"linux-x64": {"url": "...", "sha256": "...", "size": 123,
                                                           "archive": "tar.gz", "binary": "package/bin/opencode"}}}}}

``url`` may be relative to the manifest's own URL. ``archive`` is ``none`` (the URL is the binary),
``tar.gz`` or ``zip``; ``binary`` names the member to install from an archive.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Literal
from urllib.parse import urljoin

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from openwork.errors import SidecarError
from openwork.sidecars.urls import check_url, display_url

__all__ = [
    "MANIFEST_NAME",
    "SCHEMA_VERSION",
    "Artifact",
    "Component",
    "Manifest",
    "bundled_manifest",
    "check_url",
    "display_url",
    "parse_manifest",
]

SCHEMA_VERSION = 1
MANIFEST_NAME = "openwork-sidecars.json"  # what --sidecar-base-url serves
MAX_MANIFEST_BYTES = 1024 * 1024

ArchiveKind = Literal["none", "tar.gz", "zip"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Artifact(_Strict):
    url: str = Field(min_length=1, max_length=4096)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    size: int | None = Field(default=None, ge=0)
    archive: ArchiveKind = "none"
    binary: str | None = Field(default=None, max_length=512)  # member path inside an archive


class Component(_Strict):
    version: str = Field(min_length=1, max_length=64)
    targets: dict[str, Artifact]


class Manifest(_Strict):
    schemaVersion: int
    components: dict[str, Component]
    source: str = ""  # where it was read from: URLs in it resolve against this

    def artifact(self, component: str, target: str) -> tuple[str, Artifact] | None:
        """``(version, artifact)`` with an absolute URL, or ``None`` when not listed."""
        entry = self.components.get(component)
        if entry is None or target not in entry.targets:
            return None
        artifact = entry.targets[target]
        if self.source and "://" in self.source:
            artifact = artifact.model_copy(update={"url": urljoin(self.source, artifact.url)})
        return entry.version, artifact


def parse_manifest(raw: bytes | str, *, source: str) -> Manifest:
    if len(raw) > MAX_MANIFEST_BYTES:
        raise SidecarError(f"sidecar manifest {source} is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise SidecarError(f"sidecar manifest {source} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SidecarError(f"sidecar manifest {source} must be a JSON object")
    version = data.get("schemaVersion")
    if version != SCHEMA_VERSION:
        raise SidecarError(
            f"sidecar manifest {source} has schemaVersion {version!r}; this openwork reads {SCHEMA_VERSION}"
        )
    try:
        return Manifest.model_validate({**data, "source": source})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SidecarError(f"sidecar manifest {source} is invalid at {where}: {first['msg']}") from exc


def bundled_manifest() -> Manifest:
    """The manifest shipped with this package."""
    raw = resources.files("openwork.sidecars").joinpath("manifest.json").read_bytes()
    return parse_manifest(raw, source="bundled")


def read_manifest_file(path: Path) -> Manifest:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SidecarError(f"cannot read sidecar manifest {path}: {exc.strerror}") from exc
    return parse_manifest(raw, source=str(path))
