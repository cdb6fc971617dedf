"""The proxy's policy and pinning as pure functions: path splitting, matching, authorisation, selectors."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openwork.auth.principal import Principal, Role
from openwork.errors import ForbiddenError, ValidationError
from openwork.proxy import policy
from openwork.proxy.pinning import Folder, pin_body, pin_headers, pin_query, resolve_cwd


def who(scope: str, workspaces: frozenset[str] | None = None, role: Role = Role.CLIENT) -> Principal:
    subject = "host" if role is Role.HOST else "client" if scope == "client" else "tok_1"
    return Principal(role=role, subject=subject, scope="owner" if scope == "client" else scope, workspaces=workspaces)


@pytest.mark.parametrize("raw", ["a/../b", "a/./b", "a//b", "a/%2e%2e/b", "a%2Fb", "a%5cb", "a/%00", "a/", "%2F"])
def test_paths_that_could_mean_another_path_are_refused(raw: str) -> None:
    with pytest.raises(ValidationError):
        policy.split_path(raw)


def test_segments_are_decoded_once() -> None:
    assert policy.split_path("api/fs/read/my%20file.txt") == ("api", "fs", "read", "my file.txt")


@given(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=5))
def test_split_path_never_returns_a_segment_with_a_slash_or_dots(parts: list[str]) -> None:
    try:
        segments = policy.split_path("/".join(parts))
    except ValidationError:
        return
    assert all("/" not in s and s not in ("", ".", "..") for s in segments)


@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("GET", "session/status", "/session/status"),
        ("GET", "session/ses_1", "/session/{sessionID}"),
        ("GET", "pty/shells", "/pty/shells"),
        ("GET", "api/session/active", "/api/session/active"),
        ("GET", "api/fs/read/a/b.txt", "/api/fs/read/*"),
        ("POST", "session/ses_1/message", "/session/{sessionID}/message"),
    ],
)
def test_literal_segments_win_over_parameters(method: str, path: str, template: str) -> None:
    op = policy.match(method, tuple(path.split("/")))
    assert op is not None and op.template == template


def test_unknown_operations_are_for_the_host_and_client_token_only() -> None:
    assert policy.match("GET", ("nope",)) is None
    policy.authorize(who("client"), None)
    policy.authorize(who("owner", role=Role.HOST), None)
    for scope in ("owner", "collaborator", "viewer"):
        with pytest.raises(ForbiddenError):
            policy.authorize(who(scope), None)


def test_session_ids_are_found_in_any_position() -> None:
    op = policy.match("DELETE", ("session", "ses_9", "message", "m", "part", "p"))
    assert op is not None and op.session_id(("session", "ses_9", "message", "m", "part", "p")) == "ses_9"
    pty = policy.match("GET", ("pty", "pty_1"))
    assert pty is not None and pty.session_id(("pty", "pty_1")) is None


def test_global_operations_need_an_unlimited_owner() -> None:
    op = policy.match("GET", ("global", "config"))
    policy.authorize(who("owner"), op)
    with pytest.raises(ForbiddenError):
        policy.authorize(who("owner", frozenset({"ws_a"})), op)


def folder(tmp_path: Path) -> Folder:
    (tmp_path / "ws" / "sub").mkdir(parents=True, exist_ok=True)
    return Folder(host=str(tmp_path / "ws"), opencode=str(tmp_path / "ws"))


def test_query_selectors_naming_elsewhere_are_refused_and_the_folder_is_added(tmp_path: Path) -> None:
    f = folder(tmp_path)
    op = policy.match("GET", ("api", "fs", "list"))
    assert pin_query([("path", "x"), ("location[directory]", f.host)], op, f) == [
        ("path", "x"),
        ("location[directory]", f.host),
    ]
    for key in ("location[directory]", "LOCATION.directory", "directory", "workspace", "project", "a[worktree]"):
        with pytest.raises(ForbiddenError):
            pin_query([(key, "/")], op, f)


def test_the_list_cursor_is_re_pinned(tmp_path: Path) -> None:
    f = folder(tmp_path)
    forged = {"directory": "/elsewhere", "project": "p", "anchor": {"id": "s"}}
    cursor = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    ((_, pinned),) = pin_query([("cursor", cursor)], policy.match("GET", ("api", "session")), f)
    decoded = json.loads(base64.urlsafe_b64decode(pinned + "=" * (-len(pinned) % 4)))
    assert decoded == {"anchor": {"id": "s"}, "directory": f.opencode}
    with pytest.raises(ValidationError):
        pin_query([("cursor", "!!notbase64")], policy.match("GET", ("api", "session")), f)


def test_opencode_headers_are_dropped_or_refused(tmp_path: Path) -> None:
    f = folder(tmp_path)
    assert pin_headers([("accept", "x"), ("x-opencode-directory", f.host), ("x-opencode-other", "1")], f) == [
        ("accept", "x")
    ]
    with pytest.raises(ForbiddenError):
        pin_headers([("X-OpenCode-Directory", "/")], f)


def test_body_location_is_pinned_and_cwd_stays_inside(tmp_path: Path) -> None:
    f = folder(tmp_path)
    create = policy.match("POST", ("api", "session"))
    assert create is not None
    assert json.loads(pin_body(create, b"", f)) == {"location": {"directory": f.opencode}}
    with pytest.raises(ForbiddenError):
        pin_body(create, json.dumps({"location": {"directory": "/"}}).encode(), f)
    with pytest.raises(ForbiddenError):
        pin_body(create, json.dumps({"location": {"workspaceID": "wrk_1"}}).encode(), f)
    with pytest.raises(ValidationError):
        pin_body(create, b"[1]", f)
    pty = policy.match("POST", ("pty",))
    assert pty is not None
    assert json.loads(pin_body(pty, b'{"cwd": "sub"}', f))["cwd"] == f.opencode + "/sub"
    unchanged = policy.match("POST", ("log",))
    assert unchanged is not None and pin_body(unchanged, b'{ "a" : 1 }', f) == b'{ "a" : 1 }'


def test_cwd_in_the_sandbox_view_is_checked_against_the_host_folder(tmp_path: Path) -> None:
    f = folder(tmp_path)
    boxed = Folder(host=f.host, opencode="/workspace")
    assert resolve_cwd("/workspace/sub", boxed) == "/workspace/sub"
    assert resolve_cwd("sub/..", boxed) == "/workspace"
    (Path(f.host) / "out").symlink_to(tmp_path)
    for bad in ("/", "/workspace/../etc", "out", "/workspace/out/elsewhere", "", 7):
        with pytest.raises((ForbiddenError, ValidationError)):
            resolve_cwd(bad, boxed)


def test_overlong_utf8_in_a_segment_is_a_400_not_a_500() -> None:
    with pytest.raises(ValidationError):
        policy.split_path("api/fs/read/%C0%AE%C0%AE/secret.txt")
