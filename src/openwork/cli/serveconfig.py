"""From a command's option values (``openwork.cli.options``) to validated settings; no click here."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openwork.auth.credentials import OpencodeLogin
from openwork.config import ServerConfig, new_run_id, parse_size
from openwork.constants import LOG_CONSOLE_ENV
from openwork.errors import ConfigError
from openwork.paths import DataDir, user_sidecar_dir
from openwork.runtime.envstore import env_store_path
from openwork.sidecars.resolver import SidecarSettings
from openwork.supervisor.policy import RestartPolicy, RestartWindow

__all__ = ["BUNDLED_ENV", "CORS_ENV", "server_config", "sidecar_dir_for", "sidecar_settings"]

MIN_PROXY_BODY = 1024 * 1024  # the proxy always takes what its own pinning reads (PINNED_BODY_LIMIT)
MIN_LOG_FILE_BYTES = 64 * 1024  # smaller would rotate on every few lines
CORS_ENV = "OPENWORK_CORS_ORIGINS"  # `daemon run` has no --cors of ours (see cli/options.py)
BUNDLED_ENV = "OPENWORK_BUNDLED_SIDECARS_DIR"  # where a package ships its sidecars (no flag: a packager's knob)


def sidecar_dir_for(sidecar_dir: Path | None) -> Path:
    """``--sidecar-dir`` (or ``OPENWORK_SIDECAR_DIR``), else the per-user cache every data dir shares."""
    if sidecar_dir:
        return sidecar_dir.expanduser().absolute()
    return user_sidecar_dir()


def sidecar_settings(values: Mapping[str, Any]) -> SidecarSettings:
    """The values of ``sidecar_options`` as resolver settings."""

    def explicit(key: str) -> Path | None:
        return Path(values[key]).expanduser().absolute() if values[key] else None

    manifest = values["sidecar_manifest"]
    return SidecarSettings(
        sidecar_dir=sidecar_dir_for(values["sidecar_dir"]),
        opencode_source=values["opencode_source"],
        sidecar_source=values["sidecar_source"],
        allow_external=bool(values["allow_external"]),
        allow_unverified=bool(values["allow_unverified"]),
        manifest_path=manifest.absolute() if manifest else None,
        base_url=values["sidecar_base_url"] or None,
        opencode_bin=explicit("opencode_bin"),
        router_bin=explicit("opencode_router_bin"),
        bundled_dir=Path(bundled).expanduser().absolute() if (bundled := os.environ.get(BUNDLED_ENV)) else None,
    )


def _console_level(raw: str) -> str:
    level = raw.strip().upper() or "INFO"
    if level not in ("DEBUG", "INFO", "WARN", "ERROR"):
        raise ConfigError(f"{LOG_CONSOLE_ENV}={raw!r}: use debug, info, warn or error")
    return level


def server_config(values: Mapping[str, Any]) -> ServerConfig:
    """``serve`` / ``start`` / ``daemon run``: their ``server_options`` values (and ``workspace``)."""
    data_dir: Path | None = values["data_dir"]
    workspace: Path | None = values["workspace"]
    dirs = DataDir.at(data_dir)
    root = dirs.root
    workdir: Path | None = values.get("opencode_workdir")
    if workspace is not None:
        folder = workspace.expanduser()
    elif workdir is not None:  # `daemon run --opencode-workdir`: where the launcher wants opencode
        folder = workdir.expanduser()
    else:
        # The daemon serves registered workspaces by directory; opencode itself needs some folder to
        # start in, and that scratch folder is not a workspace.
        folder = dirs.daemon_workspace
        folder.mkdir(parents=True, exist_ok=True)
    if not folder.is_dir():
        raise ConfigError(f"workspace {folder} does not exist or is not a directory")
    engine: Path | None = values["sandbox_engine"]
    persist: Path | None = values["sandbox_persist_dir"]
    return ServerConfig(
        workspace=folder.resolve(),
        register_workspace=workspace is not None,
        data_dir=root,
        port=values["port"],
        sidecars=sidecar_settings(values),
        opencode_port=values["opencode_port"],
        opencode_port_fixed=bool(values.get("opencode_port_fixed")),
        opencode_host=_opencode_host(values.get("opencode_host")),
        opencode_login=_caller_login(values, root),
        opencode_cors=_origins(values.get("opencode_cors")),
        log_format="json" if values["log_format"] == "json" else "pretty",
        log_max_bytes=parse_size(values["log_max_size"], flag="--log-max-size", minimum=MIN_LOG_FILE_BYTES),
        log_backups=values["log_backups"],
        log_console_level=_console_level(os.environ.get(LOG_CONSOLE_ENV, "")),
        env_store=env_store_path(),
        run_id=values["run_id"] or new_run_id(),
        # Secrets come from the environment only: never from argv, where `ps` shows them.
        client_token=os.environ.get("OPENWORK_TOKEN") or None,
        host_token=os.environ.get("OPENWORK_HOST_TOKEN") or None,
        dev_mode=values["dev_mode"],
        approval_mode="auto" if values["approval_mode"] == "auto" else "manual",
        approval_timeout_ms=values["approval_timeout_ms"],
        files_allow_config_write=values["files_allow_config_write"],
        hot_reload=values["hot_reload"],
        hot_reload_debounce_ms=values["hot_reload_debounce_ms"],
        hot_reload_cooldown_ms=values["hot_reload_cooldown_ms"],
        router=values["router"],
        router_required=values["router_required"],
        router_port=values["router_port"],
        sandbox=values["sandbox"],
        sandbox_engine=engine.expanduser().absolute() if engine else None,
        sandbox_image=values["sandbox_image"],
        sandbox_persist_dir=persist.expanduser().absolute() if persist else None,
        sandbox_mounts=tuple(values["sandbox_mounts"]),
        sandbox_memory=values["sandbox_memory"] or None,
        sandbox_cpus=values["sandbox_cpus"],
        sandbox_network=values["sandbox_network"],
        proxy_max_body=parse_size(values["proxy_max_body"], flag="--proxy-max-body", minimum=MIN_PROXY_BODY),
        cors_origins=_origins(values["cors"] if "cors" in values else os.environ.get(CORS_ENV)),
        policy=RestartPolicy(
            max_failures=values["restart_max_failures"], initial_delay=values["restart_backoff_ms"] / 1000
        ),
        window=RestartWindow(max_failures=values["restart_window_max"], seconds=values["restart_window_ms"] / 1000),
    )


def _origins(raw: str | None) -> tuple[str, ...]:
    """``--cors a,b``: the listed origins, without a trailing slash (a browser's Origin has none)."""
    return tuple(dict.fromkeys(o.strip().rstrip("/") for o in (raw or "").split(",") if o.strip()))


def _opencode_host(raw: str | None) -> str:
    """``--opencode-host``: ``localhost`` is 127.0.0.1 (opencode resolves no names); ServerConfig refuses
    anything but loopback."""
    host = (raw or "127.0.0.1").strip().lower()
    return {"localhost": "127.0.0.1", "[::1]": "::1"}.get(host, host)


def _caller_login(values: Mapping[str, Any], data_dir: Path) -> OpencodeLogin | None:
    """`daemon run` only: the launcher's choice of opencode's login (openwork.auth.callerlogin)."""
    if "opencode_username" not in values:
        return None
    from openwork.auth.callerlogin import caller_login

    return caller_login(values["opencode_username"], values["opencode_password"], data_dir=data_dir)
