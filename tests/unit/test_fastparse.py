"""``openwork.cli.fastparse`` against click itself: whenever the fast reader answers, click agrees.

The early start (``openwork.cli.early``) spawns opencode on the fast reader's word; a disagreement would
only cost a wasted start (the values are compared before use), but a command line click rejects must
never get that far. So: for generated command lines and environments, ``parse`` is either ``None`` or
exactly what click passes the command, and click accepts it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openwork.cli.fastparse import parse
from openwork.cli.flags import DAEMON_RUN_COMMAND_FLAGS, SERVE_COMMAND_FLAGS, START_COMMAND_FLAGS, Flag
from openwork.cli.serve import daemon_run_cmd, serve_cmd, start_cmd

COMMANDS: dict[str, tuple[click.Command, tuple[Flag, ...]]] = {
    "serve": (serve_cmd, SERVE_COMMAND_FLAGS),
    "start": (start_cmd, START_COMMAND_FLAGS),
    "daemon run": (daemon_run_cmd, DAEMON_RUN_COMMAND_FLAGS),
}


@contextmanager
def environment(extra: Mapping[str, str]) -> Iterator[None]:
    """os.environ without OPENWORK_* and with ``extra``, for click to read; restored after."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update({k: v for k, v in saved.items() if not k.startswith("OPENWORK_")}, **extra)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def click_values(command: click.Command, argv: Sequence[str]) -> dict[str, Any] | Exception:
    try:
        return dict(command.make_context("x", list(argv)).params)
    except (click.ClickException, click.exceptions.Exit) as exc:
        return exc


PATHS = ("dir", "file", "missing", "-", "", "unreadable")
WORDS = ("0", "1", "8787", "65536", "-1", "+5", " 5", "1_0", "0x10", "2.5", "true", "False", "yes", "off",
         "json", "pretty", "auto", "manual", "none", "podman", "external", "", "x y", "--json", "a=b")  # fmt: skip


def raw_value(draw: st.DrawFn, flag: Flag, paths: Mapping[str, str], *, valid: bool) -> str:
    if flag.kind in ("dir", "file"):
        return paths[flag.kind if valid else draw(st.sampled_from(PATHS))]
    pool: list[str] = [] if valid and flag.kind != "str" else list(WORDS)
    pool += list(flag.choices)
    if flag.bounds:
        low, high = flag.bounds
        pool += [str(int(low)), str(int(high))] + ([] if valid else [str(int(high) + 1)])
    if flag.kind in ("flag", "switch") and valid:
        pool += ["1", "0", "true", "false", "TRUE"]
    return draw(st.sampled_from(pool))


@st.composite
def command_lines(
    draw: st.DrawFn, flags: tuple[Flag, ...], paths: Mapping[str, str]
) -> tuple[list[str], dict[str, str]]:
    """Half of them well formed (what users type), half with anything the table's words allow."""
    valid = draw(st.booleans())
    argv: list[str] = []
    picks = st.sampled_from(flags)
    chosen = draw(st.lists(picks, max_size=6, unique_by=lambda f: f.name) if valid else st.lists(picks, max_size=6))
    for flag in chosen:
        if not valid and draw(st.integers(0, 10)) == 0:
            argv.append(draw(st.sampled_from(["--help", "extra", "-vw", "--", "--no-such", "-w"])))
        if flag.kind == "switch":
            argv.append(draw(st.sampled_from([flag.opts[0], flag.off or flag.opts[0]])))
        elif flag.kind == "flag":
            argv.append(draw(st.sampled_from(flag.opts)))
        else:
            opt = draw(st.sampled_from(flag.opts))
            value = raw_value(draw, flag, paths, valid=valid)
            argv += [f"{opt}={value}"] if opt.startswith("--") and draw(st.booleans()) else [opt, value]
    env: dict[str, str] = {}
    for flag in draw(st.lists(st.sampled_from([f for f in flags if f.envvar]), max_size=4)):
        assert flag.envvar is not None
        env[flag.envvar] = raw_value(draw, flag, paths, valid=valid)
    return argv, env


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("fastparse")
    (root / "dir").mkdir()
    (root / "file").write_text("x")
    locked = root / "unreadable"
    locked.write_text("x")
    locked.chmod(0)
    return {"dir": str(root / "dir"), "file": str(root / "file"), "missing": str(root / "missing"), "-": "-",
            "": "", "unreadable": str(locked)}  # fmt: skip


@pytest.mark.parametrize("name", list(COMMANDS))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_fast_reader_answers_only_what_click_would(name: str, paths: dict[str, str], data: st.DataObject) -> None:
    command, flags = COMMANDS[name]
    argv, env = data.draw(command_lines(flags, paths))
    with environment(env):
        fast = parse(argv, flags, os.environ)
        slow = click_values(command, argv)
    if fast is not None:
        assert not isinstance(slow, Exception), (argv, env, slow)
        assert fast == slow, (argv, env)


@pytest.mark.parametrize(
    ("name", "argv", "env"),
    [
        ("serve", [], {}),
        (
            "serve",
            ["--json", "--port", "0", "--workspace", "{dir}", "--allow-external", "--opencode-bin", "{file}"],
            {},
        ),
        ("serve", ["-w", "{dir}", "--port=9000", "--no-opencode-hot-reload", "-v"], {"OPENWORK_DEV_MODE": "1"}),
        ("start", ["--no-tui", "--check", "--check-events", "--sandbox", "podman"], {"OPENWORK_LOG_FORMAT": "json"}),
        ("daemon run", ["--data-dir", "{dir}"], {"OPENWORK_ALLOW_EXTERNAL": "true", "OPENWORK_PORT": "0"}),
    ],
)
def test_the_common_command_lines_are_read_fast(
    name: str, argv: list[str], env: dict[str, str], paths: dict[str, str]
) -> None:
    command, flags = COMMANDS[name]
    argv = [a.format(dir=paths["dir"], file=paths["file"]) for a in argv]
    with environment(env):
        fast = parse(argv, flags, os.environ)
        slow = click_values(command, argv)
    assert fast is not None
    assert fast == slow


def test_a_path_of_the_wrong_kind_or_a_missing_manifest_is_left_to_click(paths: dict[str, str]) -> None:
    flags = SERVE_COMMAND_FLAGS
    assert parse(["--workspace", paths["file"]], flags, {}) is None
    assert parse(["--opencode-bin", paths["dir"]], flags, {}) is None
    assert parse(["--sidecar-manifest", paths["missing"]], flags, {}) is None
    assert parse(["--workspace", paths["missing"]], flags, {}) is not None  # click.Path does not check


def test_values_that_click_converts_its_own_way_are_left_to_click() -> None:
    flags = SERVE_COMMAND_FLAGS
    for argv in (
        ["--port", " 5"],
        ["--port", "1_0"],
        ["--port", "+5"],
        ["--run-id", "-x"],
        ["--port", "1", "--port", "2"],
    ):
        assert parse(argv, flags, {}) is None, argv
    assert parse([], flags, {"OPENWORK_DEV_MODE": "yes"}) is None
    assert parse([], flags, {"OPENWORK_DEV_MODE": ""}) == parse([], flags, {})  # empty = unset, as click


def test_paths_are_paths(tmp_path: Path) -> None:
    values = parse(["-w", str(tmp_path)], SERVE_COMMAND_FLAGS, {})
    assert values is not None
    assert values["workspace"] == tmp_path and values["data_dir"] is None and values["sandbox_mounts"] == ()
