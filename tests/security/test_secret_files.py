"""Stored secrets are held to what we generate (issue 16, finding 10).

A token file under ``<data>/secrets/`` must be a regular file (a symlink is refused, never followed, its
target never chmodded) holding at least 32 visible ASCII characters; a refusal is a ``ConfigError``
naming the file and never quoting it. Tokens the caller passes are the caller's choice and exempt.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openwork.auth.credentials import MIN_STORED_TOKEN_LENGTH, load_credentials, token_paths
from openwork.errors import ConfigError
from tests.helpers import FIXTURES, OPENWORK, serve_args

FAKE = str(FIXTURES / "fake_opencode.py")
VISIBLE = st.characters(min_codepoint=0x21, max_codepoint=0x7E)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _fresh(factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    data = factory.mktemp("data")
    client, host = token_paths(data)
    client.parent.mkdir(mode=0o700)
    return data, client, host


def _assert_refused(exc: ConfigError, path: Path, content: str) -> None:
    text = f"{exc.message} {exc.hint or ''}".replace(str(path), "")
    assert str(path) in exc.message
    if len(content.strip()) >= 6:  # shorter ones occur in any English sentence
        assert content.strip() not in text  # never the secret itself


@settings(max_examples=200, deadline=None)
@given(
    which=st.sampled_from([0, 1]),
    token=st.one_of(
        st.text(VISIBLE, min_size=1, max_size=MIN_STORED_TOKEN_LENGTH - 1),  # too short
        st.text(VISIBLE, min_size=MIN_STORED_TOKEN_LENGTH, max_size=64),  # long enough
        st.text(min_size=1, max_size=64),  # anything at all: spaces, control characters, non-ASCII
    ),
)
def test_a_stored_token_is_used_only_if_it_is_strong(
    tmp_path_factory: pytest.TempPathFactory, which: int, token: str
) -> None:
    data, *paths = _fresh(tmp_path_factory)
    path = paths[which]
    path.write_text(token + "\n", encoding="utf-8")
    before = _open_fds()
    stripped = token.strip()
    strong = (
        token.isascii() and len(stripped) >= MIN_STORED_TOKEN_LENGTH and all(0x21 <= ord(c) <= 0x7E for c in stripped)
    )
    if strong:
        creds = load_credentials(data)
        assert (creds.client_token, creds.host_token)[which] == stripped
    elif token.isascii() and not stripped:
        creds = load_credentials(data)  # an empty file: a new token is generated into it
        assert len((creds.client_token, creds.host_token)[which]) == 43
    else:
        with pytest.raises(ConfigError) as caught:
            load_credentials(data)
        _assert_refused(caught.value, path, token)
    assert _open_fds() == before


def test_caller_chosen_tokens_are_exempt(tmp_path: Path) -> None:
    """``OPENWORK_TOKEN`` / ``OPENWORK_HOST_TOKEN`` (ServerConfig checks them, at least 16 characters)
    win over the files, which are then not even read."""
    data = tmp_path / "d"
    client, host = token_paths(data)
    client.parent.mkdir(parents=True)
    host.write_text("a\n")
    creds = load_credentials(data, client_token="c" * 16, host_token="h" * 16)
    assert (creds.client_token, creds.host_token) == ("c" * 16, "h" * 16)
    assert host.read_text() == "a\n"


@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("dangling", [False, True])
def test_a_symlinked_token_file_is_refused_and_its_target_untouched(tmp_path: Path, which: int, dangling: bool) -> None:
    data = tmp_path / "d"
    paths = token_paths(data)
    paths[0].parent.mkdir(parents=True)
    target = tmp_path / "elsewhere"
    if not dangling:
        target.write_text("x" * 43 + "\n")
        target.chmod(0o644)
    paths[which].symlink_to(target)
    with pytest.raises(ConfigError) as caught:
        load_credentials(data)
    assert "symlink" in caught.value.message and str(paths[which]) in caught.value.message
    if dangling:
        assert not os.path.lexists(target)  # nothing was written through the link
    else:
        assert stat.S_IMODE(target.stat().st_mode) == 0o644  # never chmodded
        assert target.read_text() == "x" * 43 + "\n"
    assert paths[which].is_symlink()


def test_a_symlinked_secrets_folder_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    elsewhere = tmp_path / "shared"
    elsewhere.mkdir(mode=0o755)
    elsewhere.chmod(0o755)
    (data / "secrets").symlink_to(elsewhere)
    with pytest.raises(ConfigError) as caught:
        load_credentials(data)
    assert "symlink" in caught.value.message
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o755
    assert list(elsewhere.iterdir()) == []


def test_a_fifo_or_a_folder_as_token_file_is_refused_without_hanging(tmp_path: Path) -> None:
    for name, make in (("fifo", os.mkfifo), ("dir", os.mkdir)):
        data = tmp_path / name
        client, _ = token_paths(data)
        client.parent.mkdir(parents=True)
        make(client)
        with pytest.raises(ConfigError, match="not a regular file"):
            load_credentials(data)


def test_a_loose_token_file_is_tightened_and_new_ones_are_written_0600(tmp_path: Path) -> None:
    data = tmp_path / "d"
    client, host = token_paths(data)
    client.parent.mkdir(parents=True, mode=0o755)
    client.write_text("k" * 43 + "\n")
    client.chmod(0o644)
    creds = load_credentials(data)
    assert creds.client_token == "k" * 43
    assert stat.S_IMODE(client.stat().st_mode) == 0o600
    assert stat.S_IMODE(host.stat().st_mode) == 0o600 and len(host.read_text().strip()) == 43
    assert stat.S_IMODE(client.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in client.parent.iterdir()) == ["client-token", "host-token"]  # no temp files


def test_serve_refuses_a_weak_host_token_file_clearly(tmp_path: Path, workspace: Path, isolated_env: Path) -> None:
    """The reported failure: a ``host-token`` file holding ``a`` ran the server with that token."""
    _, host = token_paths(isolated_env)
    host.parent.mkdir(parents=True)
    host.write_text("weakling\n")
    done = subprocess.run(
        [*OPENWORK, "serve", *serve_args(workspace, FAKE)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert str(host) in done.stderr and "too weak" in done.stderr
    assert "weakling" not in done.stderr.replace(str(host), "") and "weakling" not in done.stdout
    assert "Traceback" not in done.stderr
