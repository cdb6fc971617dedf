"""The original CLI (npm ``openwork-orchestrator``, pinned) for the compatibility tests: installed once per
machine with npm (which checks the registry's integrity hash), and its native binary checked against the
SHA-256 pinned here, so a changed package can never pass as the one these tests were written against."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

from tests.helpers import npm_install

ORIGINAL_VERSION = "0.18.1"
# sha256 of node_modules/openwork-orchestrator-linux-x64/bin/openwork in 0.18.1
ORIGINAL_SHA256 = "67a58a86e05e5bb24fdf7b710ee867a5955f7858abcc796aa066d1e6a2c6dd22"
OLD_OPENCODE_VERSION = "1.17.11"  # the opencode the original 0.18.1 runs (it never sees 1.18.x healthy)
# Read at import, before a test points HOME at its temp dir: one install per machine.
CACHE = Path.home() / ".cache" / "openwork-tests" / f"original-{ORIGINAL_VERSION}"
CLI_TIMEOUT = 60.0


def original_binary(npm_cache: Path) -> Path:
    binary = CACHE / "node_modules" / "openwork-orchestrator-linux-x64" / "bin" / "openwork"
    if not binary.is_file():
        npm_install(CACHE, [f"openwork-orchestrator@{ORIGINAL_VERSION}"], npm_cache, ignore_scripts=True)
    digest = hashlib.sha256(binary.read_bytes()).hexdigest()
    assert digest == ORIGINAL_SHA256, f"{binary}: sha256 {digest}, expected {ORIGINAL_SHA256}"
    return binary


def old_opencode(npm_cache: Path) -> Path:
    binary = CACHE / "node_modules" / "opencode-linux-x64" / "bin" / "opencode"
    if not binary.is_file():
        npm_install(CACHE, [f"opencode-linux-x64@{OLD_OPENCODE_VERSION}"], npm_cache, ignore_scripts=True)
    installed = json.loads((CACHE / "node_modules" / "opencode-linux-x64" / "package.json").read_text())
    assert installed["version"] == OLD_OPENCODE_VERSION
    return binary


def old_opencode_for_daemon(npm_cache: Path, folder: Path) -> Path:
    """The original's opencode behind a wrapper that answers ``--version`` at once and runs the real binary
    for everything else. The original gives ``opencode --version`` 4 s (`readCliVersion`) and refuses to
    start without an answer: on a loaded machine (the suite under load) the real binary's start-up took
    longer. What the original's daemon is used for in these tests is its data dir, not that probe."""
    real = old_opencode(npm_cache)
    wrapper = folder / "opencode"
    wrapper.write_text(
        f'#!/bin/sh\nif [ "$1" = "--version" ]; then echo {OLD_OPENCODE_VERSION}; exit 0; fi\nexec "{real}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


class Original:
    """Runs the original CLI as its users do: one command, its JSON on stdout."""

    def __init__(self, binary: Path, env: dict[str, str]) -> None:
        self.binary = binary
        self.env = env

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), *args], capture_output=True, text=True, env=self.env, timeout=CLI_TIMEOUT, check=False
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(self.binary), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env
        )

    def serve(self, log: Path, *args: str) -> subprocess.Popen[str]:
        """A long-running command (the original's `daemon run`): its output to ``log``, never to a pipe
        nobody reads (a full pipe would stall it); in a session of its own, so that it and its children can
        be killed together."""
        with log.open("w") as out:
            return subprocess.Popen(
                [str(self.binary), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                env=self.env,
                start_new_session=True,
            )

    def json(self, *args: str) -> Any:
        done = self.run(*args)
        assert done.returncode == 0, f"openwork {' '.join(args)} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
        return json.loads(done.stdout)
