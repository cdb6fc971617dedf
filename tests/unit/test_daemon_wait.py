"""`daemon stop` waits for the daemon to exit; an exited daemon its own parent has not reaped yet (a zombie,
as under `daemon run` in someone else's supervisor) counts as gone rather than costing the whole timeout."""

from __future__ import annotations

import subprocess
import sys
import threading

import psutil

from openwork.cli.daemonctl import _wait_gone
from tests.helpers import wait_for


def test_a_zombie_counts_as_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        wait_for(lambda: psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE, timeout=10, what="a zombie")
        # An hour's timeout: only a zombie counted as gone lets the wait end in time. No clock is read;
        # the hour is what not counting it would cost.
        answers: list[bool] = []
        waiter = threading.Thread(target=lambda: answers.append(_wait_gone(child.pid, timeout=3600.0)), daemon=True)
        waiter.start()
        wait_for(lambda: answers, timeout=30, what="the wait to end")
        assert answers == [True]
    finally:
        child.wait(timeout=10)


def test_a_running_process_is_waited_for_until_the_deadline() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not _wait_gone(child.pid, timeout=0.2)
        child.kill()
        child.wait(timeout=10)
        assert _wait_gone(child.pid, timeout=1.0)
    finally:
        child.kill()
        child.wait(timeout=10)
