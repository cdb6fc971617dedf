"""Ask a binary for its version, with a deadline, and hold it to the version we expect."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import subprocess
from pathlib import Path

from openwork.constants import DEFAULT_VERSION_TIMEOUT
from openwork.errors import SidecarError

__all__ = ["parse_version", "probe_version", "probe_version_sync", "raise_for", "version_problem"]

_VERSION_RE = re.compile(r"\d+\.\d+\.\d+(?:[-+][\w.]+)?")


def parse_version(output: str) -> str | None:
    match = _VERSION_RE.search(output)
    return match.group(0) if match else None


async def probe_version(
    binary: Path, *, timeout: float = DEFAULT_VERSION_TIMEOUT, env: dict[str, str] | None = None, niceness: int = 0
) -> str | None:
    """``<binary> --version``'s first version-looking token, or ``None`` on failure or timeout.
    ``niceness``: added to the child's nice value (a background check yields the CPU)."""
    import asyncio  # not at import time: the resolver (sync) is on the start-up path

    try:
        proc = await asyncio.create_subprocess_exec(
            str(binary),
            "--version",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
            preexec_fn=functools.partial(os.nice, niceness) if niceness else None,
        )
    except OSError:
        return None
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return None
    return parse_version(out.decode(errors="replace"))


def probe_version_sync(binary: Path, *, timeout: float = DEFAULT_VERSION_TIMEOUT) -> str | None:
    """The same, for the resolver's worker thread."""
    try:
        done = subprocess.run(
            [str(binary), "--version"], stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_version(done.stdout.decode(errors="replace"))


def version_problem(name: str, expected: str | None, reported: str | None) -> str | None:
    """A sentence describing the mismatch, or ``None`` when the versions agree (or none is expected)."""
    if expected is None:
        return None
    if reported is None:
        return f"{name} did not report a version within {DEFAULT_VERSION_TIMEOUT:g}s (expected {expected})"
    if reported != expected:
        return f"{name} reports version {reported}, expected {expected}"
    return None


def raise_for(problem: str | None) -> None:
    if problem:
        raise SidecarError(problem)
