"""Shared fixtures: an isolated environment per test and the real opencode binary."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from openwork.api.context import AppContext
from openwork.config import default_data_dir
from openwork.sidecars.resolver import Resolver, SidecarSettings
from tests.apphelpers import make_context
from tests.helpers import ServerProcess, serve_args

# Computed before any test clears the environment: the cache `scripts/dev` fills.
_SHARED_SIDECARS = Path(os.environ.get("OPENWORK_SIDECAR_DIR") or default_data_dir() / "sidecars")
# The developer's npm cache: `scripts/dev` filled it when it fetched opencode, so the npm e2e test
# exercises the real client and registry metadata without downloading 60 MB again.
_NPM_CACHE = Path(os.environ.get("npm_config_cache") or Path.home() / ".npm")  # noqa: SIM112 - npm spells it so


@pytest.fixture(scope="session")
def opencode_bin() -> Path:
    """The real opencode: OPENWORK_TEST_OPENCODE_BIN, or the verified npm cache (installed through npm
    when missing, so the suite never silently skips the real binary). Tests pass it with
    ``--allow-external --opencode-bin`` so each server start skips re-hashing 177 MB."""
    explicit = os.environ.get("OPENWORK_TEST_OPENCODE_BIN")
    settings = SidecarSettings(
        sidecar_dir=_SHARED_SIDECARS, opencode_bin=Path(explicit) if explicit else None, allow_external=True
    )
    return Resolver(settings).resolve("opencode").path


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def ctx(isolated_env: Path, workspace: Path) -> AppContext:
    """An in-process app context over a real store (opencode is not started)."""
    return make_context(isolated_env, workspace)


@pytest.fixture(scope="session")
def npm_cache() -> Path:
    return _NPM_CACHE


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test sees the developer's OPENWORK_* settings or data dir; opencode gets its own HOME."""
    for key in list(os.environ):
        if key.startswith(("OPENWORK_", "OPENCODE_")):
            monkeypatch.delenv(key, raising=False)
    data = tmp_path / "data"
    monkeypatch.setenv("OPENWORK_DATA_DIR", str(data))
    home = tmp_path / "home"
    for sub in ("config", "data", "cache", "state"):
        (home / sub).mkdir(parents=True)
        monkeypatch.setenv(f"XDG_{sub.upper()}_HOME", str(home / sub))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OPENCODE_DISABLE_AUTOUPDATE", "1")
    return data


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "workspace"
    folder.mkdir()
    (folder / "README.md").write_text("demo workspace\n")
    return folder


@pytest.fixture
def serve(tmp_path: Path, workspace: Path) -> Iterator[list[ServerProcess]]:
    """Collects started servers and stops them (SIGTERM, then SIGKILL) at teardown."""
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def fixture_bin() -> Path:
    return Path(__file__).parent / "fixtures" / "bin"


@pytest.fixture
def real_server(
    tmp_path: Path, workspace: Path, opencode_bin: Path, serve: list[ServerProcess]
) -> Callable[..., ServerProcess]:
    """Start `openwork serve --json` on the real opencode; stopped at teardown."""

    def start(*extra: str, env: dict[str, str] | None = None) -> ServerProcess:
        server = ServerProcess(
            serve_args(workspace, opencode_bin, *extra),
            env=env,
        )
        serve.append(server)
        return server.start(log_file=tmp_path / f"server-{len(serve)}.log")

    return start


def pytest_report_header() -> list[str]:
    return [f"opencode on PATH: {shutil.which('opencode') or 'no'}; shared sidecar cache: {_SHARED_SIDECARS}"]
