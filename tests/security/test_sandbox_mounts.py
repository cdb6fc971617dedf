"""Bad sandbox mount specs are refused by `openwork serve` itself, before any engine is called."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import OPENWORK, serve_args


@pytest.fixture
def recorder(tmp_path: Path) -> tuple[Path, Path]:
    """A container-engine stand-in that records every call it gets."""
    calls = tmp_path / "engine-calls.log"
    engine = tmp_path / "podman"
    engine.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit 0\n')
    engine.chmod(0o755)
    return engine, calls


@pytest.mark.parametrize(
    "spec",
    ["{t}/shared/.ssh:keys", "{t}/elsewhere:x", "{t}/shared/data:/etc", "{t}/shared/data:..", "relative:x"],
)
def test_bad_mount_is_refused_before_the_engine_runs(
    tmp_path: Path, workspace: Path, recorder: tuple[Path, Path], spec: str
) -> None:
    for folder in ("shared/data", "shared/.ssh", "elsewhere"):
        (tmp_path / folder).mkdir(parents=True)
    allowlist = tmp_path / "allow.json"
    allowlist.write_text(json.dumps({"allowedRoots": [str(tmp_path / "shared")]}))
    engine, calls = recorder
    env = {**os.environ, "OPENWORK_SANDBOX_MOUNT_ALLOWLIST": str(allowlist)}
    done = subprocess.run(
        [
            *OPENWORK,
            "serve",
            *serve_args(workspace, tmp_path / "never-run-opencode"),
            "--sandbox",
            "podman",
            "--sandbox-engine",
            str(engine),
            "--sandbox-mount",
            spec.format(t=tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 2
    assert f"error: --sandbox-mount '{spec.format(t=tmp_path)}'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not calls.exists(), f"the engine was called: {calls.read_text()}"
