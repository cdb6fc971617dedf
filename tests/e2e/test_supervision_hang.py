"""A hung opencode (SIGSTOP: alive, silent) is noticed by the liveness probe, killed and replaced."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers import ServerProcess, group_members, pid_alive, wait_for

pytestmark = pytest.mark.e2e

# Deadlines, not measurements: noticing a hang at all is the behaviour (a probe every 5 s, 3 failures,
# each a 2 s request timeout: ~20 s), so the waits below are bounded, with room for a loaded machine.
HUNG_WITHIN = 40.0
REPLACED_WITHIN = 45.0


def test_sigstopped_opencode_is_declared_hung_and_replaced_without_orphans(
    real_server: Callable[..., ServerProcess],
) -> None:
    server = real_server()
    first_pid = server.info["pids"]["opencode"]
    with server.client() as client:

        def opencode() -> dict[str, Any]:
            services = client.get("/system/status").json()["data"]["services"]
            return next(s for s in services if s["name"] == "opencode")  # type: ignore[no-any-return]

        assert opencode()["state"] == "running"
        os.killpg(first_pid, signal.SIGSTOP)  # the whole group: opencode and whatever it started
        try:

            def hung_noticed() -> dict[str, Any] | None:
                data = opencode()
                last = data["lastExit"] or {}
                return data if last.get("reason") == "hung" or data["state"] == "hung" else None

            noticed = wait_for(hung_noticed, timeout=HUNG_WITHIN, what="the hang to be noticed")
            assert noticed["status"] in ("crashed", "restart_scheduled", "starting", "running")

            def replaced() -> dict[str, Any] | None:
                data = opencode()
                fresh = data["state"] == "running" and data["pid"] not in (None, first_pid)
                return data if fresh else None

            data = wait_for(replaced, timeout=REPLACED_WITHIN, what="a new healthy opencode")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(first_pid, signal.SIGCONT)  # never leave a stopped group behind a failed test
        assert data["lastExit"]["reason"] == "hung" and data["lastExit"]["signal"] == "SIGKILL"
        assert data["status"] == "running" and data["consecutiveFailures"] == 1
        assert client.get("/system/opencode/health").json()["data"]["healthy"] is True
        # A restart asked through the API says what it did; the fresh run is a new process.
        host = {"x-openwork-host-token": server.info["hostToken"]}
        asked = client.post("/system/services/opencode/restart", headers=host)
        assert asked.status_code == 200 and asked.json()["data"]["outcome"] == "restarting", asked.text
        wait_for(
            lambda: opencode()["state"] == "running" and opencode()["pid"] not in (data["pid"], None),
            timeout=REPLACED_WITHIN,
            what="the restarted opencode",
        )
    assert not pid_alive(first_pid)
    assert group_members(first_pid) == []  # no orphan of the hung run is left, stopped or not
