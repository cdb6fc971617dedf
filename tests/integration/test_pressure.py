"""``/system/health`` names the resources close to their limit (real fds and threads in a child)."""

from __future__ import annotations

import subprocess
import sys

_CHILD = """
import os, resource, threading, time
from openwork.runtime.pressure import degraded
print(degraded(opencode_port=None))
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
held = [os.open("/dev/null", os.O_RDONLY) for _ in range(60 - len(os.listdir("/proc/self/fd")))]
print(degraded(opencode_port=None))
for fd in held:
    os.close(fd)
stop = threading.Event()
threads = [threading.Thread(target=stop.wait) for _ in range(230)]
for t in threads:
    t.start()
print(degraded(opencode_port=None))
stop.set()
for t in threads:
    t.join()
print(degraded(opencode_port=None))
"""


def test_fds_and_threads_past_80_percent_are_reported_and_clear_again() -> None:
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.splitlines() == ["[]", "['fds']", "['threads']", "[]"]
