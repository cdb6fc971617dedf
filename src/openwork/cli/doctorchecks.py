"""``openwork doctor``: what on this machine would make a start fail, each with the fix.

Every check is a function returning a :class:`Check`. None of them changes anything, downloads a binary
(the opencode check looks in the cache; only a ``--sidecar-base-url`` manifest is read over the network) or
waits without a named deadline.
"""

from __future__ import annotations

import functools
import os
import platform
import shlex
import shutil
import stat
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

# The server check is a client of the server, as `openwork status` is: it uses the thin CLI's client.
from openwork.cli.client import ServerTarget, request, server_record
from openwork.constants import DEFAULT_PORT
from openwork.errors import ConfigError, NotCached, OpenworkError
from openwork.runtime.envstore import env_store_path, load_env_store
from openwork.runtime.ports import is_free, listener
from openwork.sidecars.components import OPENCODE_VERSION
from openwork.sidecars.resolver import Resolver, SidecarSettings
from openwork.sidecars.version import parse_version

__all__ = [
    "ENGINE_TIMEOUT",
    "HEALTH_TIMEOUT",
    "VERSION_TIMEOUT",
    "Check",
    "DoctorSettings",
    "check_container_engine",
    "check_data_dir",
    "check_disk",
    "check_env_store",
    "check_opencode",
    "check_port",
    "check_proxy",
    "check_python",
    "check_server",
    "run_checks",
]

Status = Literal["ok", "warn", "fail"]

VERSION_TIMEOUT = 15.0  # `opencode --version`: a cold start of a 180 MB binary on a slow disk
ENGINE_TIMEOUT = 15.0  # `podman version` / `docker version`: a daemon that is starting answers late
HEALTH_TIMEOUT = 3.0  # GET /system/health of a running server on loopback: a slower one is hung
DISK_WARN_BYTES = 1024**3  # room for opencode, an upgrade beside it, the database and logs
DISK_FAIL_BYTES = 200 * 1024**2  # opencode alone is ~180 MB: less and the first start cannot install it
MIN_PYTHON = (3, 11)
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY")
_LOOPBACK_NAMES = {"127.0.0.1", "localhost"}
_BROKEN_BINARY_FIX = "openwork sidecars verify, or pass --opencode-bin with a working binary"


@dataclass(frozen=True, slots=True)
class Check:
    """One check's result; ``fix`` is set for ``warn`` and ``fail``. Positional: there are many."""

    name: str
    status: Status
    detail: str
    fix: str | None = None
    found: str | None = field(default=None, compare=False)  # a version, for `openwork diagnose`

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


@dataclass(frozen=True, kw_only=True, slots=True)
class DoctorSettings:
    data_dir: Path  # absolute (``DataDir.at(...).root``)
    sidecars: SidecarSettings
    port: int = DEFAULT_PORT
    opencode_port: int = 0
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    # A holder's command line may carry another program's secrets: shown to the user at the terminal,
    # left out of a bundle that leaves the machine.
    show_cmdline: bool = True


def _q(path: Path | str) -> str:
    return shlex.quote(str(path))


def check_python(version: tuple[int, ...] | None = None, plat: str = sys.platform, machine: str = "") -> Check:
    version = version or tuple(sys.version_info[:3])
    dotted = ".".join(map(str, version))
    found = f"Python {dotted} on {plat} ({machine or platform.machine()})"
    if version[:2] < MIN_PYTHON:
        return Check("python", "fail", found, "install Python 3.11 or newer, then reinstall openwork")
    return Check("python", "ok", found, found=dotted)


def check_data_dir(root: Path) -> Check:
    try:
        info = root.stat()
    except FileNotFoundError:
        return Check("data-dir", "warn", f"{root} does not exist: created on first start", "none needed")
    except OSError as exc:
        return Check("data-dir", "fail", f"cannot inspect {root}: {exc.strerror}", "check its parents' permissions")
    if not stat.S_ISDIR(info.st_mode):
        return Check("data-dir", "fail", f"{root} is not a directory", "remove it, or pass --data-dir DIR")
    if info.st_uid != os.getuid():
        detail = f"{root} is owned by uid {info.st_uid}, not by you (uid {os.getuid()})"
        return Check("data-dir", "fail", detail, f"sudo chown -R {os.getuid()} {_q(root)}, or pass --data-dir DIR")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o022:  # others could plant a server record or swap the cached binary
        return Check("data-dir", "fail", f"{root} has mode {mode:04o}: others may write to it", f"chmod 700 {_q(root)}")
    return Check("data-dir", "ok", f"{root} (yours, mode {mode:04o})")


def check_disk(root: Path, *, warn_below: int = DISK_WARN_BYTES, fail_below: int = DISK_FAIL_BYTES) -> Check:
    where = root
    while not where.exists() and where != where.parent:  # the data dir may not exist yet
        where = where.parent
    try:
        free = shutil.disk_usage(where).free
    except OSError as exc:
        return Check("disk", "warn", f"cannot measure the space on {where}: {exc.strerror}", f"df -h {_q(where)}")
    detail = f"{free / 1024**3:.2f} GiB free on {where}"
    fix = "free space on that filesystem, or pass --data-dir DIR on another one"
    if free < fail_below:
        return Check("disk", "fail", f"{detail}: opencode alone needs ~180 MB", fix)
    if free < warn_below:
        return Check("disk", "warn", f"{detail}: less than 1 GiB", fix)
    return Check("disk", "ok", detail)


def check_port(
    port: int, *, name: str, flag: str, record: Mapping[str, Any] | None, taken: Status = "fail", cmdline: bool = True
) -> Check:
    """``taken``: the status when another program holds it (opencode's port only costs its stable URL)."""
    if port == 0:
        return Check(name, "ok", "0: any free port is chosen at start")
    if is_free("127.0.0.1", port):
        return Check(name, "ok", f"{port} is free on 127.0.0.1")
    holder = listener(port)
    ours = record.get("pid") if record else None
    if holder.pid is not None and ours in (holder.pid, holder.ppid):  # the server, or its opencode
        child = "" if ours == holder.pid else f" (its {holder.name}, pid {holder.pid})"
        return Check(name, "ok", f"{port} is used by the running openwork server pid {ours}{child}")
    if holder.pid is not None and not holder.denied:
        who = f"pid {holder.pid} ({holder.name})" + (f": {holder.cmdline}" if cmdline else "")
        fix = f"stop pid {holder.pid} (`kill {holder.pid}`), or pass {flag} 0 (any free port) or another {flag}"
    else:
        who = "a process this user may not inspect (access denied)" if holder.denied else "an unknown process"
        fix = f"`sudo lsof -iTCP:{port} -sTCP:LISTEN` names it; stop it, or pass {flag} 0 or another {flag}"
    suffix = "; a start uses another free port" if taken == "warn" else ""
    return Check(name, taken, f"{port} is taken by {who}{suffix}", fix)


def _locate_opencode(settings: SidecarSettings) -> tuple[Path | None, str]:
    """The binary the server would run and how it was found, as the resolver finds it but never
    downloading; ``(None, why)`` when only a download would give it. Raises ``OpenworkError`` as the
    resolver does."""
    try:
        resolved = Resolver(settings, fetch=False).resolve("opencode")
    except NotCached as exc:
        return None, exc.message
    return resolved.path, resolved.how


def check_opencode(
    settings: SidecarSettings, *, timeout: float = VERSION_TIMEOUT, expected: str = OPENCODE_VERSION
) -> Check:
    try:
        binary, how = _locate_opencode(settings)
    except OpenworkError as exc:
        return Check("opencode", "fail", exc.message, exc.hint or "openwork sidecars fetch opencode")
    if binary is None:
        return Check("opencode", "warn", how, "`openwork sidecars fetch opencode` (or the first start downloads it)")
    try:
        done = subprocess.run(
            [str(binary), "--version"], stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:  # run() killed it
        return Check("opencode", "fail", f"`{binary} --version` did not answer within {timeout:g}s", _BROKEN_BINARY_FIX)
    except OSError as exc:
        return Check("opencode", "fail", f"{binary} does not execute: {exc.strerror}", _BROKEN_BINARY_FIX)
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        detail = f"`{binary} --version` exited {done.returncode}" + (f": {said[-1][:200]}" if said else "")
        return Check("opencode", "fail", detail, _BROKEN_BINARY_FIX)
    version = parse_version(done.stdout.decode(errors="replace"))
    if version != expected:
        detail = f"{binary} reports {version or 'no version'}; openwork is tested with {expected}"
        return Check("opencode", "warn", detail, f"`openwork sidecars fetch opencode` (the pinned {expected})", version)
    return Check("opencode", "ok", f"{version}, {how}", found=version)  # ``how`` names the path


def check_container_engine(*, search_path: str | None = None, timeout: float = ENGINE_TIMEOUT) -> Check:
    """``search_path``: the PATH to look in (the process's when ``None``)."""
    problems = []
    for kind in ("podman", "docker"):
        cli = shutil.which(kind, path=search_path)
        if cli is None:
            continue
        try:
            done = subprocess.run(
                [cli, "version"], stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            problems.append(f"`{kind} version` did not answer within {timeout:g}s")
            continue
        except OSError as exc:
            problems.append(f"{cli} does not execute: {exc.strerror}")
            continue
        if done.returncode == 0:
            return Check("container-engine", "ok", f"{kind} at {cli} answers")
        problems.append(f"`{kind} version` exited {done.returncode}")
    if problems:
        detail = "; ".join(problems) + " (only needed for --sandbox)"
        return Check("container-engine", "warn", detail, "start the engine's service, or ignore it without --sandbox")
    detail = "neither podman nor docker is on PATH (only needed for --sandbox)"
    return Check("container-engine", "warn", detail, "install podman or docker to use --sandbox")


def check_env_store(path: Path | None = None) -> Check:
    path = path or env_store_path()
    if not os.path.lexists(path):
        return Check("env-store", "ok", f"no env store ({path})")
    try:
        values = load_env_store(path)  # its values are never printed: they are API keys
    except ConfigError as exc:
        return Check("env-store", "fail", exc.message, f"fix or remove {_q(path)}")
    return Check("env-store", "ok", f"{len(values)} variables in {path}")


def check_proxy(env: Mapping[str, str]) -> Check:
    upper = {key.upper(): value for key, value in env.items() if value}
    proxies = ", ".join(name for name in _PROXY_VARS if name in upper)
    if not proxies:
        return Check("proxy", "ok", "no HTTP(S)_PROXY set")
    # Names only, never values: a proxy URL may carry its password.
    if {item.strip().lower() for item in upper.get("NO_PROXY", "").split(",")} & _LOOPBACK_NAMES:
        return Check("proxy", "ok", f"{proxies} set; NO_PROXY exempts loopback")
    detail = f"{proxies} set and NO_PROXY does not exempt 127.0.0.1: calls to local servers may go to the proxy"
    return Check("proxy", "warn", detail, "export NO_PROXY=127.0.0.1,localhost,::1")


def check_server(root: Path, *, record: Mapping[str, Any] | None = None, timeout: float = HEALTH_TIMEOUT) -> Check:
    record = record if record is not None else server_record(root)
    if record is None:
        return Check("server", "ok", "no server running")
    target = ServerTarget(url=str(record["url"]).rstrip("/"), data_dir=root, explicit=True)
    where = f"{target.url} (pid {record.get('pid')})"
    try:
        health = request(target, "GET", "/system/health", timeout=timeout)
    except OpenworkError as exc:
        detail = f"stale record: the server at {where} is gone or hung ({exc.message})"
        return Check("server", "fail", detail, f"openwork daemon stop --data-dir {_q(root)}")
    version = health.get("version") if isinstance(health, dict) else None
    return Check("server", "ok", f"openwork {version or '?'} at {where}", found=str(version) if version else None)


def run_checks(settings: DoctorSettings) -> list[Check]:
    """Every check, in the order a reader fixes them."""
    record = server_record(settings.data_dir)
    port = functools.partial(check_port, record=record, cmdline=settings.show_cmdline)
    return [
        check_python(),
        check_data_dir(settings.data_dir),
        check_disk(settings.data_dir),
        port(settings.port, name="port", flag="--port"),
        port(settings.opencode_port, name="opencode-port", flag="--opencode-port", taken="warn"),
        check_opencode(settings.sidecars),
        check_container_engine(search_path=settings.env.get("PATH")),
        check_env_store(),
        check_proxy(settings.env),
        check_server(settings.data_dir, record=record),
    ]
