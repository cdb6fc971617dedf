"""opencode in a container: the driver builds the engine's ``run`` and cleans up after it.

The supervised child is the engine's foreground ``run`` process (its output is opencode's); ``--init``
makes SIGTERM reach opencode, so an orderly stop is quick. Whatever happens to that process, the
container is removed afterwards, and a container left by a crashed run is found by label and removed
at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from openwork.auth.credentials import Credentials
from openwork.errors import ValidationError
from openwork.logging import get_logger
from openwork.paths import DataDir
from openwork.runtime.childenv import ChildEnv
from openwork.runtime.opencode import OpencodeDriver
from openwork.runtime.ports import start_port
from openwork.sandbox.engine import ContainerEngine, RunSpec
from openwork.sandbox.mounts import Mount
from openwork.sandbox.policy import SandboxLimits, SandboxPolicy, prepare_persist, workspace_user
from openwork.sidecars.resolver import ResolvedBinary
from openwork.store.atomic import write_atomic
from openwork.supervisor.spawn import SpawnSpec

__all__ = ["ENGINE_CALL_TIMEOUT", "SandboxDriver", "data_label"]

log = get_logger("openwork.sandbox")

ENGINE_CALL_TIMEOUT = 30.0  # `rm --force`, `ps`: bounded like everything else
CONTAINER_WORKSPACE = PurePosixPath("/workspace")


def data_label(data_dir: Path) -> str:
    """Containers of one data dir carry this label, so leftovers are found without touching others'."""
    return "openwork.data=" + hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]


async def _run(argv: list[str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), ENGINE_CALL_TIMEOUT)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return -1, f"timed out after {ENGINE_CALL_TIMEOUT:g}s"
    return proc.returncode or 0, out.decode(errors="replace")


class SandboxDriver(OpencodeDriver):
    def __init__(
        self,
        *,
        binary: ResolvedBinary,
        container_binary: Path,
        workspace: Path,
        credentials: Credentials,
        base_env: Mapping[str, str],
        preferred_port: int,
        fixed_port: bool = False,
        engine: ContainerEngine,
        image: str,
        persist_dir: Path,
        mounts: tuple[Mount, ...],
        data_dir: Path,
        run_id: str,
        limits: SandboxLimits | None = None,
        child_env: ChildEnv | None = None,
    ) -> None:
        """``limits``: ``--sandbox-memory`` / ``--sandbox-cpus`` / ``--sandbox-network``; None: the defaults.
        ``child_env``: the engine's process gets only the environment fixes (a store value such as a
        loader variable would act on the host, outside the sandbox); the container gets the env store."""
        env = {k: v for k, v in base_env.items() if not k.startswith(("OPENWORK_", "OPENCODE_SERVER_"))}
        super().__init__(
            binary=binary,
            workspace=workspace,
            credentials=credentials,
            env=env,
            host="127.0.0.1",
            preferred_port=preferred_port,
            fixed_port=fixed_port,
            child_env=child_env,
        )
        self.engine = engine
        self.image = image
        self.container = f"openwork-{run_id}"
        self._container_binary = container_binary
        self._persist = persist_dir
        self._mounts = mounts
        self._label = data_label(data_dir)
        self._run_id = run_id
        self._env_file = DataDir(data_dir).sandbox_env_file(run_id)
        self._credentials = (credentials.opencode_username, credentials.opencode_password)
        self._limits = limits or SandboxLimits()
        self.policy: SandboxPolicy | None = None  # decided at each start: the workspace owner may change

    def _policy(self) -> SandboxPolicy:
        uid, gid = workspace_user(self.workspace)
        # Rootless podman maps the host user to root inside unless told to keep the ids.
        rootless = self.engine.kind == "podman" and os.geteuid() != 0
        return SandboxPolicy(uid=uid, gid=gid, limits=self._limits, rootless=rootless)

    def container_path(self, host_path: str) -> str:
        """The workspace is /workspace inside; nothing else of the host is visible there."""
        rel = os.path.relpath(host_path, self.workspace)
        if rel == ".":
            return str(CONTAINER_WORKSPACE)
        if rel.startswith(".."):
            raise ValidationError("in sandbox mode only the sandboxed workspace is reachable")
        return str(CONTAINER_WORKSPACE / rel)

    def spawn_env(self) -> dict[str, str]:
        """The engine runs on the host: never the user's store (see ``__init__``)."""
        return self._child_env.fixes(self._env) if self._child_env is not None else dict(self._env)

    def _write_env_file(self) -> None:
        persist = "/persist"
        store = self._child_env.for_container() if self._child_env is not None else {}
        lines = {
            **store,  # the user's variables; ours below win (the store holds no OPENCODE_* key anyway)
            "OPENCODE_SERVER_USERNAME": self._credentials[0],
            "OPENCODE_SERVER_PASSWORD": self._credentials[1],
            "OPENCODE_DISABLE_AUTOUPDATE": "1",
            "HOME": f"{persist}/home",
            "XDG_CONFIG_HOME": f"{persist}/config",
            "XDG_DATA_HOME": f"{persist}/data",  # sessions live here: a restart keeps them
            "XDG_CACHE_HOME": f"{persist}/cache",
            "XDG_STATE_HOME": f"{persist}/state",
        }
        write_atomic(self._env_file, "".join(f"{k}={v}\n" for k, v in lines.items()), mode=0o600)

    def _remove_env_file(self) -> None:
        with contextlib.suppress(OSError):
            self._env_file.unlink()

    async def prepare(self) -> SpawnSpec:
        self.port = start_port("127.0.0.1", self.port, self._preferred, fixed=self._fixed)
        policy = self.policy = self._policy()
        await asyncio.to_thread(prepare_persist, self._persist, policy.uid, policy.gid)
        await self.after_exit()  # a container of this name from an earlier attempt must not block the name
        self._write_env_file()
        spec = RunSpec(
            name=self.container,
            labels={"openwork.run": self._run_id, self._label.split("=")[0]: self._label.split("=")[1]},
            image=self.image,
            host_port=self.port,
            env_file=self._env_file,
            workspace=self.workspace,
            opencode_bin=self._container_binary,
            persist_dir=self._persist,
            mounts=self._mounts,
            policy=policy,
        )
        return SpawnSpec(
            name="opencode", argv=tuple(self.engine.run_argv(spec)), env=self.spawn_env(), cwd=self.workspace
        )

    def mark_running(self, running: bool) -> None:
        super().mark_running(running)
        if running:
            self._remove_env_file()  # the engine has read it; the secrets need not stay on disk

    async def after_exit(self) -> None:
        self._remove_env_file()
        code, out = await _run(self.engine.remove_argv(self.container))
        if code == 0 and out.strip():
            log.info("sandbox.removed", container=self.container)

    async def reap_leftovers(self) -> list[str]:
        """Remove containers a crashed run of this data dir left behind."""
        code, out = await _run(self.engine.list_by_label_argv(self._label))
        names = [n.strip() for n in out.splitlines() if n.strip()] if code == 0 else []
        for name in names:
            await _run(self.engine.remove_argv(name))
            log.warning("sandbox.leftover_removed", container=name)
        return names

    def details(self) -> dict[str, object]:
        return {
            **super().details(),
            "sandbox": {
                "engine": self.engine.kind,
                "cli": self.engine.cli,
                "container": self.container,
                "image": self.image,
                **(_policy_details(self.policy) if self.policy else {}),
            },
        }


def _policy_details(policy: SandboxPolicy) -> dict[str, object]:
    limits = policy.limits
    return {
        "user": f"{policy.uid}:{policy.gid}",
        "memoryBytes": limits.memory_bytes,
        "cpus": limits.cpus,
        "pidsLimit": limits.pids_limit,
        "network": limits.network,
    }
