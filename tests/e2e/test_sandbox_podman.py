"""Sandbox mode with a real engine (podman) and the real opencode."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from openwork.sandbox.policy import DEFAULT_PIDS_LIMIT, NOBODY
from tests.helpers import OPENWORK, ServerProcess, serve_args, wait_for
from tests.sandbox_image import ENGINE_ARGS, build_image

pytestmark = pytest.mark.e2e

PODMAN = shutil.which("podman")
USER = 1000  # a uid other than ours (root) and other than nobody
START_ATTEMPTS = 3  # "not healthy within 10s" under load: see start_sandboxed


@pytest.fixture(scope="session")
def sandbox_image(opencode_bin: Path) -> str:
    assert PODMAN, "podman is required for the sandbox tests (CI installs it with apt-get)"
    return build_image(opencode_bin, PODMAN)


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    assert PODMAN
    return subprocess.run([PODMAN, "--runtime", "runc", *args], capture_output=True, text=True, timeout=60)


# Every process in the container, as the kernel sees it; only a shell's builtins (the image has no grep).
STATUS_SCRIPT = (
    'for f in /proc/[0-9]*/status; do while IFS= read -r l; do case "$l" in '
    'Name:*|Uid:*|Gid:*|CapEff:*|CapPrm:*|NoNewPrivs:*) printf \'%s\\n\' "$l";; esac; done < "$f"; echo ---; done'
)


def processes_in(name: str) -> list[dict[str, str]]:
    """``/proc/*/status`` of each process in the container (the exec'd shell included)."""
    done = podman("exec", name, "/bin/sh", "-c", STATUS_SCRIPT)
    assert done.returncode == 0, done.stderr
    found = []
    for block in done.stdout.split("---"):
        fields = dict(line.split(":", 1) for line in block.strip().splitlines() if ":" in line)
        if fields:
            found.append({k: v.split()[0] if v.split() else "" for k, v in fields.items()})
    return found


def assert_least_privilege(name: str, uid: int) -> None:
    procs = processes_in(name)
    assert any(p["Name"] == "opencode" for p in procs), procs
    for proc in procs:
        assert proc["Uid"] == str(uid) and proc["Gid"] == str(uid), proc  # real uid; effective is the same
        assert int(proc["CapEff"], 16) == 0 and int(proc["CapPrm"], 16) == 0, proc
        assert proc["NoNewPrivs"] == "1", proc
    etc = podman("exec", name, "/bin/sh", "-c", "echo x > /etc/x")
    assert etc.returncode != 0 and "Read-only file system" in etc.stderr
    tmp = podman("exec", name, "/bin/sh", "-c", "echo x > /tmp/x && echo x > /persist/home/x")
    assert tmp.returncode == 0, tmp.stderr  # the tmpfs and /persist are writable by that uid


def start_sandboxed(
    real_server: Callable[..., ServerProcess], image: str, run_id: str, *extra: str, engine_args: str = ENGINE_ARGS
) -> ServerProcess:
    """On a loaded machine a start can miss opencode's 10 s health deadline (its own startup is CPU-bound,
    and the container gets the host's cores minus one); other failures are not retried."""
    env = {**os.environ, "OPENWORK_SANDBOX_ENGINE_ARGS": engine_args}
    args = ("--sandbox", "podman", "--sandbox-image", image, "--run-id", run_id, *extra)
    for _ in range(START_ATTEMPTS - 1):
        try:
            return real_server(*args, env=env)
        except AssertionError as exc:
            if "not healthy" not in str(exc):
                raise
    return real_server(*args, env=env)


def containers_of(run_id: str) -> list[str]:
    out = podman("ps", "--all", "--filter", f"label=openwork.run={run_id}", "--format", "{{.Names}}").stdout
    return [line for line in out.splitlines() if line.strip()]


def test_serve_in_podman(
    real_server: Callable[..., ServerProcess], sandbox_image: str, workspace: Path, isolated_env: Path
) -> None:
    os.chown(workspace, USER, USER)  # the tests run as root: the folder belongs to someone else
    server = start_sandboxed(real_server, sandbox_image, "run_sbx1")
    name = "openwork-run_sbx1"
    assert containers_of("run_sbx1") == [name]
    with server.client() as client:
        health = client.get("/system/opencode/health").json()["data"]
        assert health["healthy"] is True and health["sandbox"]["container"] == name
        ws_id = client.get("/workspaces").json()["data"]["items"][0]["id"]
        session = client.post(f"/workspaces/{ws_id}/opencode/session", json={})
        assert session.status_code == 200, session.text
        assert session.json()["directory"] == "/workspace"  # the host folder, as the container sees it

        # A command opencode starts (its pty API, through our proxy) writes into the host workspace, and
        # the file belongs to the folder's owner: they can edit what the agent wrote.
        started = client.post(
            f"/workspaces/{ws_id}/opencode/pty",
            json={"command": "/bin/sh", "args": ["-c", "echo from-the-agent > /workspace/by-pty.txt"]},
        )
        assert started.status_code == 200, started.text + server.logs()[-4000:]
        made = workspace / "by-pty.txt"
        wait_for(lambda: made.exists() and made.read_text() == "from-the-agent\n", timeout=30, what="the pty's file")
        owner = made.stat()
        assert (owner.st_uid, owner.st_gid) == (USER, USER)

    # Least privilege, as the kernel reports it for every process in the container.
    assert_least_privilege(name, USER)
    sandbox = server.client().get("/system/opencode/health").json()["data"]["sandbox"]
    assert sandbox["user"] == f"{USER}:{USER}" and sandbox["pidsLimit"] > 0
    inspected = subprocess.run(
        [*OPENWORK, "sandbox", "inspect", "--json"], capture_output=True, text=True, timeout=60, check=False
    )
    assert inspected.returncode == 0, inspected.stderr
    settings = json.loads(inspected.stdout)
    assert settings["user"] == f"{USER}:{USER}" and settings["noNewPrivileges"] and settings["readOnlyRoot"]
    assert settings["capAdd"] == [] and settings["pidsLimit"] == DEFAULT_PIDS_LIMIT and "/tmp" in settings["tmpfs"]
    assert {m["target"]: m["readOnly"] for m in settings["mounts"]}["/opt/opencode/opencode"] is True

    # No secret in what the engine shows about the container's command line.
    inspect = json.loads(podman("inspect", name).stdout)[0]
    shown = json.dumps(
        {"args": inspect.get("Args"), "cmd": inspect.get("Config", {}).get("Cmd"), "path": inspect.get("Path")}
    )
    for secret_file in ("client-token", "host-token"):
        assert (isolated_env / "secrets" / secret_file).read_text().strip() not in shown
    assert "PASSWORD" not in shown
    assert not list((isolated_env / "run").glob("sandbox-*.env"))  # the env file is gone once started

    server.stop()
    wait_for(lambda: containers_of("run_sbx1") == [], timeout=30, what="the container removed on stop")


def test_leftover_container_is_removed_at_the_next_start(
    real_server: Callable[..., ServerProcess], sandbox_image: str
) -> None:
    first = start_sandboxed(real_server, sandbox_image, "run_sbx2")
    assert first.proc is not None
    first.proc.kill()  # the server dies hard; its container may outlive it
    first.proc.wait(10)
    second = start_sandboxed(real_server, sandbox_image, "run_sbx3")
    assert containers_of("run_sbx2") == []
    assert containers_of("run_sbx3") == ["openwork-run_sbx3"]
    second.stop()


def test_engine_failures_are_clear_and_leave_nothing(workspace: Path, opencode_bin: Path, tmp_path: Path) -> None:
    broken = tmp_path / "podman"
    broken.write_text("#!/bin/sh\necho 'engine is broken' >&2\nexit 125\n")
    broken.chmod(0o755)
    base = [
        *OPENWORK,
        "serve",
        *serve_args(workspace, opencode_bin),
        "--sandbox",
        "podman",
    ]
    done = subprocess.run([*base, "--sandbox-engine", str(broken)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "no usable container engine" in done.stderr and "Traceback" not in done.stderr

    assert PODMAN
    env = {**os.environ, "OPENWORK_SANDBOX_ENGINE_ARGS": ENGINE_ARGS}
    missing_image = subprocess.run(
        [*base, "--sandbox-image", "localhost/does-not-exist:1", "--run-id", "run_sbx4"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert missing_image.returncode != 0 and "opencode did not start" in missing_image.stderr
    assert containers_of("run_sbx4") == []

    bad_mount = subprocess.run(
        [*base, "--sandbox-engine", str(broken), "--sandbox-mount", "/etc:etc"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad_mount.returncode != 0 and "not inside an allowed root" in bad_mount.stderr


def test_a_root_owned_workspace_runs_as_nobody_never_root(
    real_server: Callable[..., ServerProcess], sandbox_image: str, workspace: Path
) -> None:
    assert workspace.stat().st_uid == 0
    server = start_sandboxed(real_server, sandbox_image, "run_sbx5")
    assert "sandbox.root_owned_workspace" in server.logs()
    assert_least_privilege("openwork-run_sbx5", NOBODY)
    refused = podman("exec", "openwork-run_sbx5", "/bin/sh", "-c", "echo x > /workspace/x")
    assert refused.returncode != 0 and not (workspace / "x").exists()  # nobody may not write root's folder
    server.stop()


# opencode is a Bun binary: with BUN_BE_BUN=1 it runs a script, which the image (a shell, no tools) lacks.
CONNECT_JS = (
    'const s=require("net").connect({host:process.env.H,port:+process.env.P});'
    's.setTimeout(3000,()=>{console.log("timeout");process.exit(2)});'
    's.on("connect",()=>{console.log("open");process.exit(0)});'
    's.on("error",e=>{console.log(e.code);process.exit(1)})'
)
# A fork chain: each level a new shell (no function recursion limit, no fd per child) that waits for the
# next; the deepest level it reached is in /tmp/depth when fork fails.
FORK_CHAIN = (
    "echo 'echo $1 > /tmp/depth; /bin/sh /tmp/chain.sh $(($1+1)) & wait' > /tmp/chain.sh; "
    "/bin/sh /tmp/chain.sh 1; read d < /tmp/depth; echo depth=$d"
)


def bun_in(name: str, script: str, **env: str) -> subprocess.CompletedProcess[str]:
    flags = [arg for key, value in {"BUN_BE_BUN": "1", **env}.items() for arg in ("--env", f"{key}={value}")]
    return podman("exec", *flags, name, "/opt/opencode/opencode", "-e", script)


def test_host_listeners_from_inside_the_sandbox(
    real_server: Callable[..., ServerProcess], sandbox_image: str, workspace: Path
) -> None:
    """Rootful podman, default bridge: the host's loopback is unreachable; a listener on 0.0.0.0 is
    reachable through the gateway (the engine cannot block it; the README says so)."""
    os.chown(workspace, USER, USER)
    server = start_sandboxed(real_server, sandbox_image, "run_sbx6")
    name = "openwork-run_sbx6"
    inspect = json.loads(podman("inspect", name).stdout)[0]
    gateway = inspect["NetworkSettings"]["Gateway"]
    assert gateway, inspect["NetworkSettings"]
    with socket.socket() as loop_only, socket.socket() as everywhere:
        loop_only.bind(("127.0.0.1", 0))
        loop_only.listen()
        everywhere.bind(("0.0.0.0", 0))  # every address: the point of the test
        everywhere.listen()
        loop_port, any_port = str(loop_only.getsockname()[1]), str(everywhere.getsockname()[1])
        for host in ("127.0.0.1", gateway):
            tried = bun_in(name, CONNECT_JS, H=host, P=loop_port)
            assert tried.stdout.strip() != "open", (host, tried.stdout, tried.stderr)
        reached = bun_in(name, CONNECT_JS, H=gateway, P=any_port)
        assert reached.stdout.strip() == "open", (reached.stdout, reached.stderr)  # as the README says
    server.stop()


def test_a_fork_loop_is_stopped_and_the_server_stays_healthy(
    real_server: Callable[..., ServerProcess], sandbox_image: str, workspace: Path
) -> None:
    os.chown(workspace, USER, USER)
    # This host needs an nproc ulimit (ENGINE_ARGS); it counts per uid, so raise it far above the pids limit
    # and only the pids limit can stop the loop.
    roomy = ENGINE_ARGS.replace("nproc=1000:1000", f"nproc={8 * DEFAULT_PIDS_LIMIT}:{8 * DEFAULT_PIDS_LIMIT}")
    assert roomy != ENGINE_ARGS
    limits = ("--sandbox-memory", "2g", "--sandbox-cpus", "1")
    server = start_sandboxed(real_server, sandbox_image, "run_sbx7", *limits, engine_args=roomy)
    name = "openwork-run_sbx7"
    host = json.loads(podman("inspect", name).stdout)[0]["HostConfig"]
    assert (host["PidsLimit"], host["Memory"], host["NanoCpus"]) == (DEFAULT_PIDS_LIMIT, 2 * 1024**3, 10**9)
    looped = podman("exec", name, "/bin/sh", "-c", FORK_CHAIN)
    assert "Cannot fork" in looped.stderr, looped
    depth = int(looped.stdout.strip().removeprefix("depth="))
    assert 0 < DEFAULT_PIDS_LIMIT - depth < 64, depth  # stopped by the pids limit (opencode has the rest)
    # Each level waited on the one that could not fork, so the chain is gone; opencode must have lived on.
    wait_for(
        lambda: server.client().get("/system/opencode/health").json()["data"]["healthy"] is True,
        timeout=60,
        what="opencode healthy after the fork loop",
    )
    server.stop()
