"""Manifest parsing, URL and member-name rules, and the source rules of the resolver."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openwork.errors import ConfigError, SidecarError
from openwork.sidecars.archive import check_member_name
from openwork.sidecars.manifest import parse_manifest
from openwork.sidecars.resolver import Resolver, SidecarSettings
from openwork.sidecars.targets import current_target
from openwork.sidecars.urls import check_url

SCRIPT = b"#!/bin/sh\necho 1.18.33\n"


def manifest(**component: object) -> str:
    return json.dumps(
        {"schemaVersion": 1, "components": {"opencode": {"version": "1.18.33", "targets": {}, **component}}}
    )


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ("not json", "not valid JSON"),
        ("[]", "must be a JSON object"),
        (json.dumps({"schemaVersion": 2, "components": {}}), "schemaVersion 2"),
        (json.dumps({"schemaVersion": 1, "components": {}, "extra": 1}), "invalid at extra"),
        (manifest(targets={"linux-x64": {"url": "https://h/x", "sha256": "zz"}}), "sha256"),
        (manifest(targets={"linux-x64": {"url": "https://h/x", "archive": "rar"}}), "archive"),
    ],
)
def test_bad_manifests_are_clear_errors(raw: str, match: str) -> None:
    with pytest.raises(SidecarError, match=match):
        parse_manifest(raw, source="test")


def test_relative_urls_resolve_against_the_manifest_url() -> None:
    doc = manifest(targets={"linux-x64": {"url": "bin/opencode", "sha256": "a" * 64}})
    found = parse_manifest(doc, source="https://releases.example/v1/openwork-sidecars.json").artifact(
        "opencode", "linux-x64"
    )
    assert found is not None and found[1].url == "https://releases.example/v1/bin/opencode"


@pytest.mark.parametrize(
    "url", ["https://releases.example/x", "http://127.0.0.1:8080/x", "http://localhost/x", "http://[::1]:1/x"]
)
def test_allowed_urls(url: str) -> None:
    check_url(url)


@pytest.mark.parametrize(
    "url", ["http://example.com/x", "http://10.0.0.1/x", "ftp://h/x", "file:///etc/passwd", "https:///nohost"]
)
def test_refused_urls(url: str) -> None:
    with pytest.raises(SidecarError, match="only https://"):
        check_url(url)


def test_refusal_never_echoes_url_credentials() -> None:
    with pytest.raises(SidecarError) as caught:
        check_url("http://user:s3cret@example.com/x")
    assert "s3cret" not in str(caught.value)


@given(st.text(min_size=1, max_size=80))
def test_accepted_member_names_stay_inside_the_root(name: str) -> None:
    root = Path("/extract/root")
    try:
        member = check_member_name(name)
    except SidecarError:
        return
    resolved = Path(os.path.normpath(root / member))
    assert resolved == root or root in resolved.parents


def bundled_settings(tmp_path: Path, **overrides: object) -> SidecarSettings:
    values: dict[str, object] = {"sidecar_dir": tmp_path / "sc", "bundled_dir": tmp_path / "bundled"}
    values.update(overrides)
    return SidecarSettings(**values)  # type: ignore[arg-type]


def put_bundled(tmp_path: Path, data: bytes = SCRIPT) -> Path:
    path = tmp_path / "bundled" / current_target() / "opencode"
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    path.chmod(0o755)
    return path


def test_auto_prefers_a_bundled_binary(tmp_path: Path) -> None:
    path = put_bundled(tmp_path)
    resolved = Resolver(bundled_settings(tmp_path)).resolve("opencode")
    assert resolved.source == "bundled" and resolved.path == path
    assert resolved.sha256 == hashlib.sha256(SCRIPT).hexdigest()
    assert resolved.reported_version == "1.18.33"


def test_bundled_source_without_a_bundled_binary_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SidecarError, match="no bundled opencode") as caught:
        Resolver(bundled_settings(tmp_path, opencode_source="bundled")).resolve("opencode")
    assert caught.value.hint and "--opencode-source downloaded" in caught.value.hint


def test_bundled_binary_with_the_wrong_version_is_refused(tmp_path: Path) -> None:
    put_bundled(tmp_path, b"#!/bin/sh\necho 0.0.1\n")
    with pytest.raises(SidecarError, match=r"reports version 0\.0\.1"):
        Resolver(bundled_settings(tmp_path)).resolve("opencode")


def test_bundled_binary_not_matching_the_manifest_is_refused(tmp_path: Path) -> None:
    put_bundled(tmp_path)
    doc = tmp_path / "m.json"
    doc.write_text(manifest(targets={current_target(): {"url": "https://h/x", "sha256": "0" * 64}}))
    with pytest.raises(SidecarError, match="does not match the manifest"):
        Resolver(bundled_settings(tmp_path, manifest_path=doc)).resolve("opencode")


def test_external_source_uses_path_only_when_allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "opencode").write_bytes(SCRIPT)
    (bindir / "opencode").chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    with pytest.raises(ConfigError, match="did not verify") as caught:
        Resolver(bundled_settings(tmp_path, opencode_source="external")).resolve("opencode")
    assert caught.value.hint and "--allow-external" in caught.value.hint
    resolved = Resolver(bundled_settings(tmp_path, opencode_source="external", allow_external=True)).resolve("opencode")
    assert resolved.source == "external" and resolved.path == bindir / "opencode"


def test_router_without_any_manifest_entry_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(SidecarError, match="no manifest lists it") as caught:
        Resolver(bundled_settings(tmp_path)).resolve("opencode-router")
    assert caught.value.hint and "--sidecar-manifest" in caught.value.hint


def test_unknown_component_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown sidecar"):
        Resolver(bundled_settings(tmp_path)).resolve("nope")
