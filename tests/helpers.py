"""Test helpers: deadline polling and a real `openwork serve` child process."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil

T = TypeVar("T")

OPENWORK = [sys.executable, "-m", "openwork"]
READY_TIMEOUT = 60.0  # resolve + start opencode on a busy CI machine
FIXTURES = Path(__file__).parent / "fixtures" / "bin"


def serve_args(workspace: Path | str, opencode_bin: Path | str, *extra: str) -> list[str]:
    """`openwork serve` arguments for a test: any free port for the server and for opencode (no test
    asks for the default 4096, so parallel runs and a developer's own server never collide), the
    given opencode allowed as external."""
    ports = ["--port", "0", "--opencode-port", "0"]
    return ["--workspace", str(workspace), *ports, "--allow-external", "--opencode-bin", str(opencode_bin), *extra]


@contextlib.contextmanager
def refused_url() -> Iterator[str]:
    """An ``http://127.0.0.1:<port>`` URL that refuses connections while the block runs: its port is
    bound (nobody else can take it) and never listened on. Never a literal port that might be served."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports on 127.0.0.1 that were free a moment ago (held together while chosen, so
    two of them can never be the same)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]


def wait_for(condition: Callable[[], T], *, timeout: float, interval: float = 0.05, what: str = "condition") -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = condition()
        except Exception as exc:  # conditions may race with process start-up
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last={last!r}")


def pid_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class ServerProcess:
    """`python -m openwork serve --json` (or ``command``, e.g. ``("daemon", "run")``) as a child; parses its
    connect info."""

    def __init__(
        self,
        args: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        command: tuple[str, ...] = ("serve",),
    ) -> None:
        self.args = args
        self.command = command
        self.env = env or dict(os.environ)
        self.cwd = cwd
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}
        self.stderr_path: Path | None = None

    def start(self, *, log_file: Path, wait_ready: bool = True) -> ServerProcess:
        self.stderr_path = log_file
        self._stderr = log_file.open("w")
        self.proc = subprocess.Popen(
            [*OPENWORK, *self.command, "--json", *self.args],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=self.env,
            cwd=self.cwd,
        )
        if wait_ready:
            self.wait_ready()
        return self

    def wait_ready(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT
        line = ""
        os.set_blocking(self.proc.stdout.fileno(), False)
        while time.monotonic() < deadline:
            chunk = self.proc.stdout.readline()
            if chunk:
                line += chunk
                if line.endswith("\n"):
                    self.info = json.loads(line)
                    return self.info
            elif self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode} before ready:\n{self.logs()}")
            else:
                time.sleep(0.05)
        raise AssertionError(f"server not ready within {READY_TIMEOUT}s:\n{self.logs()}")

    def logs(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path else ""

    @property
    def url(self) -> str:
        return str(self.info["openworkUrl"])

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"authorization": f"Bearer {token or self.info['clientToken']}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10.0, trust_env=False)

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        if hasattr(self, "_stderr"):
            self._stderr.close()


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group ``pgid``: what a stopped service must not leave."""
    members = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc.pid)
    return members


NPM_TIMEOUT = 600  # a cold npm install of a package with a native binary


def npm_install(prefix: Path, packages: list[str], npm_cache: Path, *, ignore_scripts: bool = False) -> None:
    """``npm install`` into ``prefix`` (npm checks the registry's integrity hash); fails with npm's stderr."""
    npm = shutil.which("npm")
    assert npm, "npm is required for the tests that drive real JS clients (the README's prerequisites)"
    prefix.mkdir(parents=True, exist_ok=True)
    flags = ["--no-audit", "--no-fund", *(["--ignore-scripts"] if ignore_scripts else [])]
    done = subprocess.run(
        [npm, "install", *flags, "--prefix", str(prefix), *packages],
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT,
        env={**os.environ, "npm_config_cache": str(npm_cache)},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def folder(parent: Path, name: str) -> Path:
    """A new folder ``parent/name``, resolved (the registry stores real paths)."""
    path = parent / name
    path.mkdir()
    return path.resolve()
