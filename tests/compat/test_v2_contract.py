"""Our answers carry the V2 contract's required fields with its types (tests/compat/v2_contract.py), on the
real opencode: every route V2 clients call, with a local and a remote workspace registered."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.compat.v2_contract import ENVELOPE, ISO, ROUTES, STR, Opt, problems
from tests.helpers import ServerProcess

pytestmark = pytest.mark.e2e


def test_the_checker_names_what_is_missing_or_mistyped() -> None:
    spec = {"a": STR, "b": Opt({"c": ISO}), "d": [("x", "y")]}
    assert problems({"a": "s", "b": None, "d": ["x"]}, spec) == []
    assert problems({"b": {"c": "yesterday"}, "d": ["z", "x"]}, spec) == [
        "data.a: missing",
        "data.b.c: 'yesterday' is not iso",
        "data.d[0]: 'z' is not one of ('x', 'y')",
    ]
    assert problems({"a": 1, "b": {"c": "2026-12-02T03:00:00.000Z"}, "d": "x"}, spec) == [
        "data.a: 1 is not str",
        "data.d: expected an array, got str",
    ]
    assert problems(True, (1,)) != []  # a constant is matched with its type: True is not 1


def test_every_route_v2_clients_call_answers_the_contract(
    real_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = real_server()
    local = tmp_path / "second"
    local.mkdir()
    with server.client(token=server.info["hostToken"]) as host:
        assert host.post("/workspaces/local", json={"folderPath": str(local)}).status_code == 201
        remote = {"baseUrl": "https://example.invalid", "directory": "/srv/project"}
        assert host.post("/workspaces/remote", json=remote).status_code == 201
        found = {}
        for path, spec in ROUTES.items():
            r = host.get(path)
            assert r.status_code == 200, (path, r.text)
            body = r.json()
            found[path] = problems(body, ENVELOPE, path) + problems(body["data"], spec, path)
    assert found == {path: [] for path in ROUTES}
    listed = {w["backend"]["kind"] for w in body["data"]["items"]}  # the last route: /workspaces
    assert listed == {"local_opencode", "remote_openwork"}
