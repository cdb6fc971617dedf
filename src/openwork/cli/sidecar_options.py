"""The sidecar flags shared by ``serve``, ``start`` and ``sidecars``: names and env vars as the original."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import click

from openwork.config import default_data_dir
from openwork.sidecars.components import SOURCES, Source
from openwork.sidecars.resolver import SidecarSettings

__all__ = ["pop_sidecar_settings", "sidecar_dir_for", "sidecar_options"]

_KEYS = (
    "sidecar_dir",
    "opencode_source",
    "sidecar_source",
    "sidecar_base_url",
    "sidecar_manifest",
    "allow_external",
    "allow_unverified",
    "opencode_bin",
    "opencode_router_bin",
)


def sidecar_options(func: Callable[..., Any]) -> Callable[..., Any]:
    source = click.Choice(SOURCES)
    options = [
        click.option(
            "--opencode-bin",
            type=click.Path(dir_okay=False, path_type=Path),
            envvar="OPENWORK_OPENCODE_BIN",
            help="Run this opencode binary (needs --allow-external). [env OPENWORK_OPENCODE_BIN]",
        ),
        click.option(
            "--opencode-router-bin",
            type=click.Path(dir_okay=False, path_type=Path),
            envvar="OPENWORK_OPENCODE_ROUTER_BIN",
            help="Run this opencode-router binary (needs --allow-external).",
        ),
        click.option(
            "--opencode-source",
            type=source,
            default="auto",
            show_default=True,
            envvar="OPENWORK_OPENCODE_SOURCE",
            help="Where opencode comes from: bundled, the verified download cache, or external (PATH).",
        ),
        click.option(
            "--sidecar-source",
            type=source,
            default="auto",
            show_default=True,
            envvar="OPENWORK_SIDECAR_SOURCE",
            help="Where the other sidecars (opencode-router) come from.",
        ),
        click.option(
            "--sidecar-dir",
            type=click.Path(file_okay=False, path_type=Path),
            envvar="OPENWORK_SIDECAR_DIR",
            help="Verified binary cache. [default: <data dir>/sidecars; env OPENWORK_SIDECAR_DIR]",
        ),
        click.option(
            "--sidecar-base-url",
            envvar="OPENWORK_SIDECAR_BASE_URL",
            help="Release host serving openwork-sidecars.json (https://, or http:// on loopback).",
        ),
        click.option(
            "--sidecar-manifest",
            type=click.Path(dir_okay=False, exists=True, path_type=Path),
            envvar="OPENWORK_SIDECAR_MANIFEST",
            help="Read the sidecar manifest from this file.",
        ),
        click.option(
            "--allow-external",
            is_flag=True,
            envvar="OPENWORK_ALLOW_EXTERNAL",
            help="Allow binaries openwork did not verify (--*-bin, --*-source external).",
        ),
        click.option(
            "--allow-unverified",
            is_flag=True,
            envvar="OPENWORK_ALLOW_UNVERIFIED",
            help="Allow downloading manifest entries that list no sha256.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def sidecar_dir_for(data_dir: Path | None, sidecar_dir: Path | None) -> Path:
    """``--sidecar-dir`` (or ``OPENWORK_SIDECAR_DIR``, applied by click), else ``<data dir>/sidecars``."""
    if sidecar_dir:
        return sidecar_dir.expanduser().absolute()
    return (data_dir.expanduser() if data_dir else default_data_dir()).absolute() / "sidecars"


def pop_sidecar_settings(kwargs: dict[str, Any], data_dir: Path | None) -> SidecarSettings:
    """Take the sidecar flags out of a command's ``kwargs`` and build the settings."""
    values = {key: kwargs.pop(key) for key in _KEYS}
    explicit = {
        key: (Path(values[key]).expanduser().absolute() if values[key] else None)
        for key in ("opencode_bin", "opencode_router_bin")
    }
    return SidecarSettings(
        sidecar_dir=sidecar_dir_for(data_dir, values["sidecar_dir"]),
        opencode_source=cast(Source, values["opencode_source"]),
        sidecar_source=cast(Source, values["sidecar_source"]),
        allow_external=bool(values["allow_external"]),
        allow_unverified=bool(values["allow_unverified"]),
        manifest_path=values["sidecar_manifest"].absolute() if values["sidecar_manifest"] else None,
        base_url=values["sidecar_base_url"] or None,
        opencode_bin=explicit["opencode_bin"],
        router_bin=explicit["opencode_router_bin"],
    )
