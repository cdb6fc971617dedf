"""Whether the router runs: flag > env > the workspace's openwork.json (the original's key first) > configured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openwork.runtime.router import router_enabled, router_paths


def _workspace(tmp_path: Path, config: object | None) -> Path:
    folder = tmp_path / "ws"
    (folder / ".opencode").mkdir(parents=True)
    if config is not None:
        (folder / ".opencode" / "openwork.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"messaging": {"enabled": True}}, True),  # the original's key
        ({"messaging": {"enabled": False}, "opencodeRouter": {"enabled": True}}, False),  # it wins
        ({"opencodeRouter": {"enabled": True}}, True),  # ours, still read
        ({"messaging": {"enabled": "yes"}, "opencodeRouter": {"enabled": True}}, True),  # not a bool: next key
        ({"messaging": "on"}, False),  # not an object: ignored
        (None, False),
    ],
)
def test_the_workspace_file_decides_when_nothing_else_does(tmp_path: Path, config: object, expected: bool) -> None:
    enabled, _why = router_enabled(flag=None, env={}, workspace=_workspace(tmp_path, config), data_dir=tmp_path)
    assert enabled is expected


def test_flag_then_env_override_the_workspace_file(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, {"messaging": {"enabled": True}})
    env_on, env_off = {"OPENWORK_OPENCODE_ROUTER": "1"}, {"OPENWORK_OPENCODE_ROUTER": "off"}
    assert router_enabled(flag=False, env=env_on, workspace=ws, data_dir=tmp_path)[0] is False
    assert router_enabled(flag=None, env=env_off, workspace=ws, data_dir=tmp_path)[0] is False


def test_a_router_config_enables_it_by_default(tmp_path: Path) -> None:
    config_file, _ = router_paths(tmp_path)
    config_file.parent.mkdir(parents=True)
    config_file.write_text("{}")
    enabled, why = router_enabled(flag=None, env={}, workspace=_workspace(tmp_path, None), data_dir=tmp_path)
    assert enabled is True and str(config_file) in why
