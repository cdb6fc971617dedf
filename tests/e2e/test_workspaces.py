"""Many workspaces on one real opencode: isolation through the proxy, events, dispose, stable ids."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.helpers import ServerProcess

pytestmark = pytest.mark.e2e


def host_client(server: ServerProcess) -> httpx.Client:
    return httpx.Client(
        base_url=server.url,
        headers={"x-openwork-host-token": server.info["hostToken"]},
        timeout=30.0,
        trust_env=False,
    )


def add(client: httpx.Client, folder: Path) -> str:
    r = client.post("/workspaces/local", json={"folderPath": str(folder)})
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["workspace"]["id"])


def test_two_workspaces_are_isolated_through_the_proxy(
    real_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    a, b = tmp_path / "alpha", tmp_path / "beta"
    a.mkdir()
    b.mkdir()
    server = real_server()
    with host_client(server) as client, server.client() as user:
        ids = {"a": add(client, a), "b": add(client, b)}
        made = {}
        for key, ws_id in ids.items():
            r = user.post(f"/workspaces/{ws_id}/opencode/session", json={})
            assert r.status_code == 200, r.text
            assert "www-authenticate" not in r.headers
            made[key] = r.json()
            assert made[key]["directory"] == str((a if key == "a" else b).resolve())
        for key, ws_id in ids.items():
            # The workspace decides the directory: its own folder spelled out is fine, another is refused.
            own = str((a if key == "a" else b).resolve())
            listed = user.get(f"/workspaces/{ws_id}/opencode/session", params={"directory": own}).json()
            assert [s["id"] for s in listed] == [made[key]["id"]], (key, listed)
            refused = user.get(f"/workspaces/{ws_id}/opencode/session", params={"directory": "/"})
            assert refused.status_code == 403, refused.text

        # Dispose one workspace's instance; the next request brings it back, sessions intact.
        disposed = client.post(f"/workspaces/{ids['a']}/dispose").json()["data"]
        assert disposed["disposed"] is True
        again = user.get(f"/workspaces/{ids['a']}/opencode/session").json()
        assert [s["id"] for s in again] == [made["a"]["id"]]

        activated = client.post(f"/workspaces/{ids['b']}/activate").json()["data"]
        assert activated["activeId"] == ids["b"]

        # Anonymous callers never reach opencode through us.
        assert httpx.get(f"{server.url}/workspaces/{ids['a']}/opencode/session", timeout=10).status_code == 401

    # A restart keeps every id.
    server.stop()
    second = real_server()
    with host_client(second) as client:
        listed = client.get("/workspaces").json()["data"]["items"]
    assert {ids["a"], ids["b"]} <= {w["id"] for w in listed}


def test_workspace_events_stream_opencode_events_with_ids(
    real_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    folder = tmp_path / "evented"
    folder.mkdir()
    server = real_server()
    with host_client(server) as client:
        ws_id = add(client, folder)
    headers = {"authorization": f"Bearer {server.info['clientToken']}"}
    frames: list[str] = []
    with (
        httpx.Client(base_url=server.url, headers=headers, timeout=30.0, trust_env=False) as user,
        user.stream("GET", f"/workspaces/{ws_id}/events") as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        buffer: list[str] = []
        for line in stream.iter_lines():
            if line:
                buffer.append(line)
                continue
            if buffer:
                frames.append("\n".join(buffer))
                buffer = []
            if frames:
                break
    first = frames[0].splitlines()
    assert first[0] == "id: 1"
    assert first[1].startswith("data: ") and '"type":"server.connected"' in first[1]
    assert '"properties"' in first[1]
