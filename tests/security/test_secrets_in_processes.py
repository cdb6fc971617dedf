"""No secret in logs, in any child's argv, in an unrelated child's environment, or in error bodies."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import httpx
import psutil
import pytest

from tests.helpers import ServerProcess

pytestmark = pytest.mark.e2e


def test_tokens_never_leak(real_server: Callable[..., ServerProcess]) -> None:
    env = {
        **os.environ,
        "OPENWORK_TOKEN": "client-token-from-env-0123456789",
        "OPENWORK_HOST_TOKEN": "host-token-from-env-0123456789ab",
    }
    server = real_server("--verbose", env=env)
    info = server.info
    secrets = [info["clientToken"], info["hostToken"]]
    assert secrets == ["client-token-from-env-0123456789", "host-token-from-env-0123456789ab"]
    opencode = psutil.Process(info["pids"]["opencode"])
    with server.client() as client:
        password = None
        # opencode's own password lives only in its environment
        environ = opencode.environ()
        password = environ["OPENCODE_SERVER_PASSWORD"]
        secrets.append(password)
        for key in ("OPENWORK_TOKEN", "OPENWORK_HOST_TOKEN"):
            assert key not in environ
        assert not any(s in v for v in environ.values() for s in secrets[:2])
        bodies = [
            client.get("/tokens").text,
            client.get("/nope").text,
            client.post("/tokens", content=b"{").text,
            httpx.get(server.url + "/system/status", headers={"authorization": "Bearer " + password}).text,
            client.get("/system/opencode/health").text,
            client.get("/system/status").text,
        ]
    for proc in [psutil.Process(server.proc.pid), opencode, *opencode.children(recursive=True)]:  # type: ignore[union-attr]
        cmdline = " ".join(proc.cmdline())
        assert not any(s in cmdline for s in secrets), proc.pid
    server.signal(signal.SIGTERM)
    server.wait(timeout=30)
    logs = server.logs()
    assert "service.state" in logs  # verbose logs were captured
    for secret in secrets:
        assert secret not in logs
        assert not any(secret in body for body in bodies)
