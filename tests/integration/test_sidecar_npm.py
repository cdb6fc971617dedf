"""The npm source: integrity checked before anything is unpacked; the real package in an e2e check."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from openwork.errors import IntegrityError
from openwork.sidecars.components import OPENCODE_VERSION
from openwork.sidecars.resolver import Resolver, SidecarSettings
from openwork.sidecars.targets import current_target

FAKE_NPM_DIR = Path(__file__).parent.parent / "fixtures" / "fake-npm"
SCRIPT = f"#!/bin/sh\necho {OPENCODE_VERSION}\n".encode()


def package_tarball(path: Path, binary: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("package/package.json", b"{}"), ("package/bin/opencode", binary)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


@pytest.fixture
def fake_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "npm.log"
    monkeypatch.setenv("PATH", f"{FAKE_NPM_DIR}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_NPM_LOG", str(log))
    return log


def opencode_path(sidecars: Path) -> Path:
    return sidecars / "opencode" / OPENCODE_VERSION / current_target() / "opencode"


def test_npm_package_is_verified_then_installed(
    tmp_path: Path, fake_npm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = package_tarball(tmp_path / "pkg.tgz", SCRIPT)
    monkeypatch.setenv("FAKE_NPM_TARBALL", str(tmp_path / "pkg.tgz"))
    monkeypatch.setenv("FAKE_NPM_INTEGRITY", integrity(data))
    resolved = Resolver(SidecarSettings(sidecar_dir=tmp_path / "sc")).resolve("opencode")
    assert resolved.path == opencode_path(tmp_path / "sc")
    assert resolved.path.read_bytes() == SCRIPT
    assert resolved.reported_version == OPENCODE_VERSION
    calls = [json.loads(line) for line in fake_npm.read_text().splitlines()]
    spec = f"opencode-{current_target()}@{OPENCODE_VERSION}"
    assert calls[0] == ["view", spec, "dist", "--json"]
    assert calls[1][:2] == ["pack", spec]


def test_corrupted_npm_tarball_is_refused(tmp_path: Path, fake_npm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = package_tarball(tmp_path / "good.tgz", SCRIPT)
    package_tarball(tmp_path / "evil.tgz", b"#!/bin/sh\necho evil\n")
    monkeypatch.setenv("FAKE_NPM_TARBALL", str(tmp_path / "evil.tgz"))
    monkeypatch.setenv("FAKE_NPM_INTEGRITY", integrity(good))  # the registry's word for the good one
    with pytest.raises(IntegrityError, match="does not match the registry's integrity"):
        Resolver(SidecarSettings(sidecar_dir=tmp_path / "sc")).resolve("opencode")
    target_dir = opencode_path(tmp_path / "sc").parent
    assert not opencode_path(tmp_path / "sc").exists()
    assert [p.name for p in target_dir.iterdir() if p.name != ".install.lock"] == []


def test_missing_integrity_is_refused(tmp_path: Path, fake_npm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package_tarball(tmp_path / "pkg.tgz", SCRIPT)
    monkeypatch.setenv("FAKE_NPM_TARBALL", str(tmp_path / "pkg.tgz"))
    monkeypatch.setenv("FAKE_NPM_INTEGRITY", "")
    with pytest.raises(IntegrityError, match="no integrity"):
        Resolver(SidecarSettings(sidecar_dir=tmp_path / "sc")).resolve("opencode")
