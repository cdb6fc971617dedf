"""Ask a binary for its version, with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path

from openwork.constants import DEFAULT_VERSION_TIMEOUT

__all__ = ["probe_version"]

_VERSION_RE = re.compile(r"\d+\.\d+\.\d+(?:[-+][\w.]+)?")


async def probe_version(
    binary: Path, *, timeout: float = DEFAULT_VERSION_TIMEOUT, env: dict[str, str] | None = None
) -> str | None:
    """``<binary> --version``'s first version-looking token, or ``None`` on failure or timeout."""
    try:
        proc = await asyncio.create_subprocess_exec(
            str(binary),
            "--version",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
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
    match = _VERSION_RE.search(out.decode(errors="replace"))
    return match.group(0) if match else None
