"""Children started under a terminal: own process group, same session, no controlling terminal.

The same session keeps opencode in the server's scheduling group (Linux autogroups are per session), so
the server's low-priority build thread really yields to opencode's boot; without the terminal, a tool
that opencode runs and that asks /dev/tty for a password fails at once instead of stopping (SIGTTIN) in
a background process group. Run for real under a pseudo-terminal.
"""

from __future__ import annotations

import json
import os
import pty
import sys
import time

CHILD = (
    "import json, os\n"
    "try:\n"
    "    os.close(os.open('/dev/tty', os.O_RDWR)); tty = True\n"
    "except OSError:\n"
    "    tty = False\n"
    "print(json.dumps({'pid': os.getpid(), 'pgrp': os.getpgrp(), 'sid': os.getsid(0), 'tty': tty}), flush=True)\n"
)

PARENT = (
    "import json, os, sys\n"
    "from pathlib import Path\n"
    "import subprocess\nfrom openwork.supervisor.spawn import SpawnSpec, child_options\n"
    "try:\n"
    "    os.close(os.open('/dev/tty', os.O_RDWR)); tty = True\n"
    "except OSError:\n"
    "    tty = False\n"
    "spec = SpawnSpec(name='probe', argv=(sys.executable, '-c', sys.argv[1]), env=dict(os.environ), cwd=Path('.'))\n"
    "child = subprocess.Popen(spec.argv, **child_options(spec))\n"
    "out, _ = child.communicate(timeout=30)\n"
    "result = {'parent': {'sid': os.getsid(0), 'tty': tty}, 'child': json.loads(out)}\n"
    "print('RESULT ' + json.dumps(result), flush=True)\n"
)


def test_a_child_keeps_the_session_and_leaves_the_terminal() -> None:
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child execs at once
        os.execv(sys.executable, [sys.executable, "-c", PARENT, CHILD])
    output = b""
    deadline = time.monotonic() + 60
    try:
        while b"RESULT " not in output or not output.rstrip().endswith(b"}"):
            if time.monotonic() > deadline:
                raise AssertionError(f"no result from the child: {output!r}")
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(fd)
        os.waitpid(pid, 0)
    text = output.decode(errors="replace")
    assert "RESULT " in text, text
    result = json.loads(text[text.index("RESULT ") + len("RESULT ") :].splitlines()[0])
    parent, child = result["parent"], result["child"]
    assert parent["tty"] is True  # the test really ran under a terminal
    assert child["sid"] == parent["sid"]  # same session: same scheduling group
    assert child["pgrp"] == child["pid"]  # its own process group: killed as a group, no Ctrl+C from the tty
    assert child["tty"] is False  # /dev/tty is not reachable from it
