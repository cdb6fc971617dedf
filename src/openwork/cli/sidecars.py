"""``openwork sidecars list|fetch|verify|prune``: the verified binary cache."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from openwork.cli.options import json_option, sidecar_dir_option, sidecar_options
from openwork.cli.output import emit
from openwork.cli.progress import TerminalProgress
from openwork.cli.serveconfig import sidecar_dir_for, sidecar_settings
from openwork.sidecars import cache
from openwork.sidecars.components import COMPONENTS
from openwork.sidecars.resolver import Resolver
from openwork.sidecars.targets import KNOWN_TARGETS, current_target

__all__ = ["sidecars_group"]

# Taken and ignored, for scripts written when the cache lived in the data dir: it is one per user now.
_old_data_dir = click.option("--data-dir", hidden=True, expose_value=False, help="Ignored: the cache is shared.")


@click.group("sidecars")
def sidecars_group() -> None:
    """The binaries the stack runs, verified into a cache every data dir shares.

    \b
    openwork sidecars fetch opencode                  pinned opencode for this machine
    openwork sidecars fetch opencode --target linux-arm64   (e.g. for a sandbox image)
    openwork sidecars list | verify | prune
    """


@sidecars_group.command("fetch")
@click.argument("component", type=click.Choice(sorted(COMPONENTS)))
@click.option("--version", "version", help="Version to fetch [default: the pinned one, or the manifest's].")
@click.option("--target", type=click.Choice(KNOWN_TARGETS), help="Target triple [default: this machine].")
@sidecar_options
@_old_data_dir
@json_option
def fetch_cmd(component: str, version: str | None, target: str | None, json_output: bool, **flags: Any) -> None:
    """Fetch COMPONENT into the cache (or find it there), verified, and print where it is."""
    settings = sidecar_settings(flags)
    with TerminalProgress(quiet=json_output) as progress:
        resolved = Resolver(settings, progress).resolve(component, version=version, target=target)
    data = {**resolved.to_json(), "pinned": resolved.version}
    emit(
        data,
        as_json=json_output,
        text=f"{component} {data['version'] or '?'} ({resolved.target}) at {resolved.path}\n"
        f"  sha256 {resolved.sha256 or '(not computed: external)'}\n  {resolved.how}",
    )


@sidecars_group.command("list")
@sidecar_dir_option
@_old_data_dir
@json_option
def list_cmd(sidecar_dir: Path | None, json_output: bool) -> None:
    """Show the cached binaries (no hashing: use `verify` for that)."""
    root = sidecar_dir_for(sidecar_dir)
    entries = [
        {**e.to_json(), "pinned": COMPONENTS[e.component].pinned == e.version if e.component in COMPONENTS else False}
        for e in cache.list_entries(root)
    ]
    lines = [f"sidecar cache {root} (this machine: {current_target()})"]
    lines += [f"  {e['component']} {e['version']} {e['target']}{'  (pinned)' if e['pinned'] else ''}" for e in entries]
    if not entries:
        lines.append("  (empty)")
    emit(
        {"sidecarDir": str(root), "target": current_target(), "entries": entries},
        as_json=json_output,
        text="\n".join(lines),
    )


@sidecars_group.command("verify")
@sidecar_dir_option
@_old_data_dir
@json_option
def verify_cmd(sidecar_dir: Path | None, json_output: bool) -> None:
    """Re-hash every cached binary against its record. Exit 1 if any fails (it is re-fetched on next use)."""
    root = sidecar_dir_for(sidecar_dir)
    results = []
    for entry in cache.list_entries(root):
        ok = cache.verify(entry.path) is not None
        results.append({**entry.to_json(), "ok": ok})
    bad = [r for r in results if not r["ok"]]
    text = (
        "\n".join(
            f"  {'ok      ' if r['ok'] else 'TAMPERED'} {r['component']} {r['version']} {r['target']}" for r in results
        )
        or "  (cache is empty)"
    )
    emit({"sidecarDir": str(root), "results": results, "ok": not bad}, as_json=json_output, text=text)
    if bad:
        sys.exit(1)


@sidecars_group.command("prune")
@sidecar_dir_option
@click.option("--keep", multiple=True, metavar="COMPONENT@VERSION", help="Also keep this version (repeatable).")
@_old_data_dir
@json_option
def prune_cmd(sidecar_dir: Path | None, keep: tuple[str, ...], json_output: bool) -> None:
    """Remove cached versions other than the pinned ones (and --keep); a version a process runs stays."""
    root = sidecar_dir_for(sidecar_dir)
    keep_map: dict[str, set[str]] = {name: {spec.pinned} if spec.pinned else set() for name, spec in COMPONENTS.items()}
    for item in keep:
        name, sep, version = item.partition("@")
        if not sep or not name or not version:
            raise click.BadParameter(f"{item!r} is not COMPONENT@VERSION", param_hint="--keep")
        keep_map.setdefault(name, set()).add(version)
    removed = [e.to_json() for e in cache.prune(root, keep_map)]
    text = (
        "\n".join(f"  removed {e['component']} {e['version']} {e['target']}" for e in removed) or "  nothing to prune"
    )
    emit({"sidecarDir": str(root), "removed": removed}, as_json=json_output, text=text)
