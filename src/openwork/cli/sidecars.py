"""``openwork sidecars``: fetch and inspect the verified binary cache."""

from __future__ import annotations

import os
from pathlib import Path

import click

from openwork.cli.output import emit
from openwork.config import default_data_dir
from openwork.errors import ValidationError
from openwork.sidecars.opencode import OPENCODE_VERSION, resolve_opencode
from openwork.sidecars.version import probe_version

__all__ = ["sidecars_group"]


def _sidecar_dir(data_dir: Path | None, sidecar_dir: Path | None) -> Path:
    if sidecar_dir:
        return sidecar_dir.expanduser().absolute()
    if os.environ.get("OPENWORK_SIDECAR_DIR"):
        return Path(os.environ["OPENWORK_SIDECAR_DIR"]).expanduser().absolute()
    return ((data_dir.expanduser() if data_dir else default_data_dir()) / "sidecars").absolute()


@click.group("sidecars")
def sidecars_group() -> None:
    """The binaries the stack runs, fetched and verified into a cache under the data dir."""


@sidecars_group.command("fetch")
@click.argument("component", type=click.Choice(["opencode"]))
@click.option("--version", "version", default=OPENCODE_VERSION, show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="OPENWORK_DATA_DIR")
@click.option("--sidecar-dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "json_output", is_flag=True)
def fetch_cmd(component: str, version: str, data_dir: Path | None, sidecar_dir: Path | None, json_output: bool) -> None:
    """Download COMPONENT from the npm registry (verified by its SHA-512 integrity) into the cache."""
    import asyncio

    if component != "opencode":  # pragma: no cover - click.Choice guards this
        raise ValidationError(f"unknown component {component}")
    resolved = resolve_opencode(
        explicit=None,
        sidecar_dir=_sidecar_dir(data_dir, sidecar_dir),
        version=version,
        search_path=False,
        progress=None if json_output else (lambda msg: click.echo(msg, err=True)),
    )
    found = asyncio.run(probe_version(resolved.path))
    data = {**resolved.to_json(), "component": component, "version": found, "pinned": version}
    emit(data, as_json=json_output, text=f"opencode {found} at {resolved.path} (sha256 {resolved.sha256})")
