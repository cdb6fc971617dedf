"""``openwork doctor`` and ``openwork diagnose``: checks with fixes, and a redacted support bundle."""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import re
import sys
import time
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import click

from openwork import __version__
from openwork.cli.client import find_target, request, server_record
from openwork.cli.doctorchecks import Check, DoctorSettings, run_checks
from openwork.cli.options import (
    FILE,
    data_dir_option,
    json_option,
    opencode_port_option,
    port_option,
    sidecar_options,
    stack,
)
from openwork.cli.output import emit
from openwork.cli.serveconfig import sidecar_settings
from openwork.errors import ConfigError, OpenworkError, StoreError
from openwork.logging import REDACTED
from openwork.paths import DataDir
from openwork.runtime.envstore import env_store_path, load_env_store
from openwork.sidecars.components import OPENCODE_VERSION
from openwork.sidecars.targets import current_target
from openwork.store.atomic import read_regular, write_atomic

__all__ = ["REDACTED", "Redactor", "diagnose_cmd", "doctor_cmd", "known_secrets"]

LOG_RECORDS = 2000  # the newest log records in a bundle: minutes of a busy server, hours of a quiet one
SUMMARY_TIMEOUT = 5.0  # GET /system/runtime/summary of a running server (a hung one is doctor's finding)
MAX_SECRET_FILE = 64 * 1024  # token and auth files are tiny; a larger one is not what we think it is
MAX_STATE_FILE = 4 * 1024 * 1024  # a state file copied into the bundle
# Known values shorter than this are not secrets worth the name, and replacing them would shred the
# bundle ("true" would break its JSON, "1" is in every timestamp); the log's redactor draws the same line.
MIN_SECRET_CHARS = 8
_SECRET_KEY = re.compile(r"token|passw|secret|authorization|api[-_]?key|cookie|credential", re.IGNORECASE)
# By pattern, for secrets no file tells us: minted tokens, auth headers, passwords in URLs.
_SECRET_PATTERNS = (
    (re.compile(r"owt_[A-Za-z0-9_-]+"), REDACTED),
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE), rf"\1 {REDACTED}"),
    (re.compile(r"(\w+://)[^/\s:@]+:[^/\s@]+@"), rf"\1{REDACTED}@"),
)

_doctor_options = stack(data_dir_option, port_option, opencode_port_option, sidecar_options, json_option)


def _settings(values: Mapping[str, Any], *, show_cmdline: bool) -> DoctorSettings:
    data_dir: Path | None = values["data_dir"]
    return DoctorSettings(
        data_dir=DataDir.at(data_dir).root,
        sidecars=sidecar_settings(values),
        port=values["port"],
        opencode_port=values["opencode_port"],
        show_cmdline=show_cmdline,
    )


def _result(checks: list[Check]) -> dict[str, Any]:
    return {"ok": all(c.status != "fail" for c in checks), "checks": [c.to_json() for c in checks]}


@click.command("doctor")
@_doctor_options
def doctor_cmd(json_output: bool, **values: Any) -> None:
    """Check this machine, the data dir and the opencode binary, with a fix for each problem.

    \b
    One line per check: ok, warn or fail. Exit 1 when any check fails.
    Changes nothing and downloads no binary (with --sidecar-base-url it reads that manifest).
    """
    checks = run_checks(_settings(values, show_cmdline=True))
    lines = [
        f"{c.status:<4}  {c.name:<16} {c.detail}" + (f"  -- fix: {c.fix}" if c.fix and c.status != "ok" else "")
        for c in checks
    ]
    result = _result(checks)
    emit(result, as_json=json_output, text="\n".join(lines))
    if not result["ok"]:
        sys.exit(1)


@click.command("diagnose")
@click.option("--output", "-o", required=True, type=FILE, help="The zip to write (replaced atomically, mode 0600).")
@_doctor_options
def diagnose_cmd(output: Path, json_output: bool, **values: Any) -> None:
    """Write a support bundle (zip): doctor's checks, versions, settings, recent logs; secrets redacted.

    Never included: the token files, the secrets folder, the database, the caller's auth file, the env
    store's values. Every text in the bundle goes through a redactor first.
    """
    settings = _settings(values, show_cmdline=False)  # a command line may hold another program's secrets
    checks = run_checks(settings)
    dirs = DataDir.at(settings.data_dir)
    redactor = Redactor(known_secrets(dirs, os.environ))
    # Structures are redacted by key and value first; then the whole text once more, which also catches
    # a secret that JSON escaping or a non-JSON state file hid from the first pass.
    members = {name: redactor.text(text) for name, text in _members(dirs, settings, checks, redactor)}
    path = output.expanduser().absolute()
    write_atomic(path, _zip(members), mode=0o600)
    emit({"output": str(path), "files": list(members)}, as_json=json_output, text=str(path))


def _members(
    dirs: DataDir, settings: DoctorSettings, checks: list[Check], redactor: Redactor
) -> Iterator[tuple[str, str]]:
    """The bundle's files as ``(name, text)``."""

    def dump(data: Any) -> str:
        return json.dumps(redactor.value(data), indent=2, default=str) + "\n"

    found = {c.name: c.found for c in checks}
    yield "doctor.json", dump(_result(checks))
    versions = {
        "openwork": __version__,
        "python": sys.version,
        "platform": sys.platform,
        "machine": platform.machine(),
        "target": current_target(),
        "opencode": found.get("opencode"),
        "opencodePinned": OPENCODE_VERSION,
        "server": found.get("server"),
    }
    yield "versions.json", dump(versions)
    sidecars = settings.sidecars
    config = {
        "dataDir": str(settings.data_dir),
        "port": settings.port,
        "opencodePort": settings.opencode_port,
        "sidecarDir": str(sidecars.sidecar_dir),
        "opencodeSource": sidecars.opencode_source,
        "opencodeBin": str(sidecars.opencode_bin) if sidecars.opencode_bin else None,
        "sidecarManifest": str(sidecars.manifest_path) if sidecars.manifest_path else None,
        "sidecarBaseUrl": sidecars.base_url,
        "allowExternal": sidecars.allow_external,
        "envStore": str(env_store_path()),
        # Names only: an OPENWORK_* value may be a token.
        "openworkEnv": sorted(name for name in os.environ if name.startswith("OPENWORK_")),
    }
    yield "config.json", dump(config)
    yield "runtime-summary.json", dump(_runtime_summary(dirs))
    log_file = dirs.log_file
    from openwork.logging.file import read_records

    records = read_records(log_file, last=LOG_RECORDS)
    yield "logs.jsonl", "".join(json.dumps(redactor.value(r), default=str) + "\n" for r in records)
    from openwork.lifecycle.statefile import state_file_path  # here: it loads the workspace registry

    for name, source in (
        ("openwork-orchestrator-state.json", state_file_path(dirs.root)),
        ("server.json", dirs.server_record),
        ("daemon.json", dirs.daemon_record),
    ):
        text = _read(source, MAX_STATE_FILE)
        if text is not None:
            parsed = _parse(text)
            yield f"state/{name}", dump(parsed) if parsed is not None else text


def _runtime_summary(dirs: DataDir) -> Any:
    if server_record(dirs.root) is None:
        return {"skipped": "no server running (no server record in the data dir)"}
    target = find_target(url=None, token=None, data_dir=dirs.root)  # the host token from the data dir
    try:
        return request(target, "GET", "/system/runtime/summary", timeout=SUMMARY_TIMEOUT)
    except OpenworkError as exc:
        return {"skipped": f"the server at {target.url} did not answer: {exc.message}"}


def _parse(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _read(path: Path, max_bytes: int = MAX_SECRET_FILE) -> str | None:
    """A regular file's text; ``None`` when absent or unreadable. Never follows a symlink (one at
    ``server.json`` could point at a token file)."""
    try:
        raw = read_regular(path, max_bytes=max_bytes)
    except StoreError:
        return None
    return raw.decode("utf-8", errors="replace") if raw is not None else None


def _strings(data: Any, *, secret_only: bool = False, inside: bool = False) -> Iterator[str]:
    """The strings in parsed JSON; ``secret_only``: only those under a secret-looking key."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _strings(value, secret_only=secret_only, inside=inside or bool(_SECRET_KEY.search(str(key))))
    elif isinstance(data, list):
        for item in data:
            yield from _strings(item, secret_only=secret_only, inside=inside)
    elif isinstance(data, str) and (inside or not secret_only):
        yield data


def known_secrets(dirs: DataDir, env: Mapping[str, str]) -> set[str]:
    """Every secret value we can know: the files in the secrets folder (the client and host tokens among
    them), the env store's values, the caller's opencode password, secret-looking environment variables."""
    from openwork.auth.callerlogin import AUTH_FILE

    found: set[str] = set()
    files = {dirs.client_token, dirs.host_token}
    with contextlib.suppress(OSError):  # no secrets folder yet
        files.update(dirs.client_token.parent.iterdir())
    for path in files:
        text = _read(path)
        if text is not None:
            found.update([text.strip(), *text.splitlines(), *_strings(_parse(text))])
    try:
        found.update(load_env_store().values())
    except ConfigError:  # a store too broken to load still holds API keys
        found.update(_strings(_parse(_read(env_store_path(), 1024 * 1024))))
    found.update(_strings(_parse(_read(dirs.root / AUTH_FILE)), secret_only=True))
    found.update(value for name, value in env.items() if _SECRET_KEY.search(name))
    return {s.strip() for s in found if len(s.strip()) >= MIN_SECRET_CHARS}


class Redactor:
    """Replaces known secret values, the values of secret-looking keys, and secret-looking patterns."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms = {form for s in secrets for form in (s, json.dumps(s)[1:-1])}  # JSON text escapes some
        self._secrets = sorted(forms, key=len, reverse=True)  # a longer one first: it may contain another

    def text(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        for pattern, replacement in _SECRET_PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def value(self, data: Any) -> Any:
        """Parsed JSON with every string redacted, and the value of a secret-looking key replaced (a
        boolean or null says only whether there is one)."""
        if isinstance(data, dict):
            return {
                self.text(str(key)): REDACTED
                if _SECRET_KEY.search(str(key)) and not (value is None or isinstance(value, bool))
                else self.value(value)
                for key, value in data.items()
            }
        if isinstance(data, list):
            return [self.value(item) for item in data]
        return self.text(data) if isinstance(data, str) else data


def _zip(members: Mapping[str, str]) -> bytes:
    buffer = io.BytesIO()
    stamp = time.localtime()[:6]
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16  # unpacked private, as the bundle itself
            archive.writestr(info, text.encode("utf-8"))
    return buffer.getvalue()
