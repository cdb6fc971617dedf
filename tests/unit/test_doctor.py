"""`openwork doctor`'s checks on constructed inputs, and the diagnose bundle's redactor."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import psutil
import pytest

from openwork.cli.doctor import REDACTED, Redactor, known_secrets
from openwork.cli.doctorchecks import (
    check_container_engine,
    check_data_dir,
    check_disk,
    check_env_store,
    check_opencode,
    check_port,
    check_proxy,
    check_python,
    check_server,
)
from openwork.paths import DataDir
from openwork.sidecars import cache
from openwork.sidecars.components import OPENCODE_VERSION
from openwork.sidecars.resolver import SidecarSettings
from openwork.sidecars.targets import current_target
from tests.helpers import refused_url


def script(path: Path, body: str) -> Path:
    """An executable Python script; no shell in between, so a timeout's kill reaches the sleeper itself."""
    path.write_text(f"#!{sys.executable}\nimport sys, time\n{body}\n")
    path.chmod(0o755)
    return path


def external(binary: Path, tmp_path: Path) -> SidecarSettings:
    return SidecarSettings(
        sidecar_dir=tmp_path / "sidecars", opencode_bin=binary, allow_external=True, bundled_dir=tmp_path / "none"
    )


# -- python, data dir, disk ---------------------------------------------------------------------------
def test_python_below_3_11_fails_and_names_the_platform() -> None:
    old = check_python((3, 10, 4), "linux", "x86_64")
    assert old.status == "fail" and "3.10.4 on linux (x86_64)" in old.detail and old.fix
    assert check_python((3, 11, 0), "darwin", "arm64").status == "ok"


def test_missing_data_dir_is_a_warning_created_on_first_start(tmp_path: Path) -> None:
    check = check_data_dir(tmp_path / "absent")
    assert check.status == "warn" and "created on first start" in check.detail


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
def test_group_or_world_writable_data_dir_fails_with_chmod_fix(tmp_path: Path, mode: int) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(mode)
    check = check_data_dir(data)
    assert check.status == "fail" and check.fix == f"chmod 700 {data}"


def test_private_data_dir_is_ok_and_a_file_is_not_a_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    assert check_data_dir(data).status == "ok"
    (tmp_path / "file").write_text("")
    assert check_data_dir(tmp_path / "file").status == "fail"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a folder to another uid")
def test_data_dir_owned_by_another_uid_fails(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    os.chown(data, 54321, -1)
    check = check_data_dir(data)
    assert check.status == "fail" and "uid 54321" in check.detail and "chown" in (check.fix or "")


def test_disk_thresholds_measure_the_nearest_existing_parent(tmp_path: Path) -> None:
    missing = tmp_path / "a" / "b"
    ok = check_disk(missing, warn_below=0, fail_below=0)
    assert ok.status == "ok" and str(tmp_path) in ok.detail
    assert check_disk(missing, warn_below=1 << 62, fail_below=0).status == "warn"
    failed = check_disk(missing, warn_below=1 << 62, fail_below=1 << 62)
    assert failed.status == "fail" and failed.fix


# -- ports --------------------------------------------------------------------------------------------
@pytest.fixture
def held_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield int(sock.getsockname()[1])


def test_port_zero_and_a_free_port_are_ok() -> None:
    assert check_port(0, name="port", flag="--port", record=None).status == "ok"
    with socket.socket() as sock:  # a port the kernel just chose, released again
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    assert check_port(port, name="port", flag="--port", record=None).detail == f"{port} is free on 127.0.0.1"


def test_taken_port_names_the_holder_pid_name_and_command_line(held_port: int) -> None:
    me = psutil.Process()
    check = check_port(held_port, name="port", flag="--port", record=None)
    assert check.status == "fail"
    assert f"pid {os.getpid()} ({me.name()})" in check.detail and me.cmdline()[0] in check.detail
    assert f"kill {os.getpid()}" in (check.fix or "")
    hidden = check_port(held_port, name="port", flag="--port", record=None, cmdline=False)
    assert me.cmdline()[0] not in hidden.detail


def test_taken_opencode_port_is_only_a_warning(held_port: int) -> None:
    check = check_port(held_port, name="opencode-port", flag="--opencode-port", record=None, taken="warn")
    assert check.status == "warn" and "another free port" in check.detail


def test_port_held_by_our_own_server_is_ok(held_port: int) -> None:
    record = {"url": f"http://127.0.0.1:{held_port}", "pid": os.getpid()}
    check = check_port(held_port, name="port", flag="--port", record=record)
    assert check.status == "ok" and f"used by the running openwork server pid {os.getpid()}" in check.detail


# -- opencode -----------------------------------------------------------------------------------------
def test_opencode_reporting_the_pinned_version_is_ok(tmp_path: Path) -> None:
    binary = script(tmp_path / "opencode", f"print('opencode {OPENCODE_VERSION}')")
    check = check_opencode(external(binary, tmp_path))
    assert check.status == "ok" and check.found == OPENCODE_VERSION and str(binary) in check.detail


def test_opencode_reporting_another_version_is_a_warning(tmp_path: Path) -> None:
    binary = script(tmp_path / "opencode", "print('9.9.9')")
    check = check_opencode(external(binary, tmp_path))
    assert check.status == "warn" and "9.9.9" in check.detail and check.found == "9.9.9"


def test_opencode_exiting_non_zero_fails_with_its_last_words(tmp_path: Path) -> None:
    binary = script(tmp_path / "opencode", "print('boom: no libc', file=sys.stderr); sys.exit(3)")
    check = check_opencode(external(binary, tmp_path))
    assert check.status == "fail" and "exited 3" in check.detail and "boom: no libc" in check.detail


def test_opencode_that_hangs_fails_at_the_deadline(tmp_path: Path) -> None:
    binary = script(tmp_path / "opencode", "time.sleep(60)")
    check = check_opencode(external(binary, tmp_path), timeout=0.5)
    assert check.status == "fail" and "did not answer within 0.5s" in check.detail


def test_opencode_that_cannot_execute_fails(tmp_path: Path) -> None:
    binary = tmp_path / "opencode"
    binary.write_text("#!/nonexistent/interpreter\n")
    binary.chmod(0o755)
    check = check_opencode(external(binary, tmp_path))
    assert check.status == "fail" and "does not execute" in check.detail


def test_explicit_binary_without_allow_external_fails_with_the_resolvers_hint(tmp_path: Path) -> None:
    binary = script(tmp_path / "opencode", "print('1.0.0')")
    settings = SidecarSettings(sidecar_dir=tmp_path / "sidecars", opencode_bin=binary, bundled_dir=tmp_path / "none")
    check = check_opencode(settings)
    assert check.status == "fail" and "--allow-external" in (check.fix or "")


@pytest.mark.parametrize("source", ["auto", "downloaded"])
def test_uncached_opencode_is_a_warning_and_nothing_is_downloaded(tmp_path: Path, source: str) -> None:
    sidecars = tmp_path / "sidecars"
    settings = SidecarSettings(sidecar_dir=sidecars, opencode_source=source, bundled_dir=tmp_path / "none")  # type: ignore[arg-type]
    check = check_opencode(settings)
    assert check.status == "warn" and "not downloaded yet" in check.detail
    assert "openwork sidecars fetch" in (check.fix or "")
    assert not sidecars.exists()  # no fetch, not even its lock folder


def _install(sidecars: Path, body: str, tmp_path: Path) -> Path:
    directory = cache.entry_dir(sidecars, "opencode", OPENCODE_VERSION, current_target())
    directory.mkdir(parents=True)
    staged = script(directory / "staged", body)
    binary = directory / "opencode"
    cache.install(staged, binary, {"via": "test"})
    return binary


def test_verified_cached_opencode_is_run(tmp_path: Path) -> None:
    sidecars = tmp_path / "sidecars"
    binary = _install(sidecars, f"print('{OPENCODE_VERSION}')", tmp_path)
    check = check_opencode(SidecarSettings(sidecar_dir=sidecars, bundled_dir=tmp_path / "none"))
    assert check.status == "ok" and str(binary) in check.detail and "sha256 re-verified" in check.detail


def test_tampered_cached_opencode_is_a_warning_not_a_run(tmp_path: Path) -> None:
    sidecars = tmp_path / "sidecars"
    marker = tmp_path / "ran"
    binary = _install(sidecars, f"open({str(marker)!r}, 'w').close()", tmp_path)
    binary.write_text(binary.read_text() + "# changed\n")
    check = check_opencode(SidecarSettings(sidecar_dir=sidecars, bundled_dir=tmp_path / "none"))
    assert check.status == "warn" and "fails verification" in check.detail
    assert not marker.exists()


# -- container engine, env store, proxy -----------------------------------------------------------------
def test_container_engine_answering_is_ok_failing_or_absent_is_a_warning(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    absent = check_container_engine(search_path=str(bin_dir))
    assert absent.status == "warn" and "only needed for --sandbox" in absent.detail
    script(bin_dir / "docker", "sys.exit(1)")
    broken = check_container_engine(search_path=str(bin_dir))
    assert broken.status == "warn" and "`docker version` exited 1" in broken.detail
    script(bin_dir / "podman", "print('podman 5')")
    assert check_container_engine(search_path=str(bin_dir)).detail.startswith("podman at")


def test_container_engine_that_hangs_is_a_warning_at_the_deadline(tmp_path: Path) -> None:
    script(tmp_path / "docker", "time.sleep(60)")
    check = check_container_engine(search_path=str(tmp_path), timeout=0.5)
    assert check.status == "warn" and "did not answer within 0.5s" in check.detail


def test_env_store_absent_valid_and_corrupt(tmp_path: Path) -> None:
    store = tmp_path / "env.json"
    assert check_env_store(store).detail.startswith("no env store")
    store.write_text(json.dumps({"MY_API_KEY": "sk-secret-value-123", "OTHER": "x"}))
    valid = check_env_store(store)
    assert valid.status == "ok" and "2 variables" in valid.detail and "sk-secret" not in valid.detail
    store.write_text('{"MY_API_KEY": ')
    corrupt = check_env_store(store)
    assert corrupt.status == "fail" and str(store) in corrupt.detail and corrupt.fix == f"fix or remove {store}"


@pytest.mark.parametrize("name", ["HTTPS_PROXY", "http_proxy"])
def test_proxy_without_loopback_exemption_is_a_warning_without_its_value(name: str) -> None:
    check = check_proxy({name: "http://user:hunter2@proxy:3128"})
    assert check.status == "warn" and check.fix == "export NO_PROXY=127.0.0.1,localhost,::1"
    assert "hunter2" not in check.detail


def test_proxy_with_loopback_exemption_or_no_proxy_is_ok() -> None:
    assert check_proxy({"HTTPS_PROXY": "http://p:1", "no_proxy": "example.com, localhost"}).status == "ok"
    assert check_proxy({"NO_PROXY": "127.0.0.1"}).status == "ok"
    assert check_proxy({}).status == "ok"


# -- server ------------------------------------------------------------------------------------------
def test_no_server_record_is_ok_and_a_stale_one_fails(tmp_path: Path) -> None:
    assert check_server(tmp_path).detail == "no server running"
    with refused_url() as url:
        record = DataDir(tmp_path).server_record
        record.parent.mkdir(parents=True)
        record.write_text(json.dumps({"url": url, "pid": 4242}))
        check = check_server(tmp_path)
    assert check.status == "fail" and "stale record" in check.detail and "daemon stop" in (check.fix or "")


def test_answering_server_is_ok_with_its_version(tmp_path: Path) -> None:
    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"ok": True, "data": {"version": "9.8.7"}, "meta": {}}).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with HTTPServer(("127.0.0.1", 0), Health) as server:
        thread = threading.Thread(target=server.handle_request, daemon=True)
        thread.start()
        record = {"url": f"http://127.0.0.1:{server.server_address[1]}", "pid": 1}
        check = check_server(tmp_path, record=record)
        thread.join(timeout=10)
    assert check.status == "ok" and check.found == "9.8.7"


# -- the bundle's redactor -----------------------------------------------------------------------------
def test_redactor_replaces_known_values_secret_keys_and_patterns() -> None:
    redactor = Redactor(["tok-known-1", 'with"quote'])
    data = {
        "body": "sent tok-known-1 and owt_abc-DEF_123 with Authorization: Bearer abcdefgh12345",
        "attributes": {"apiKey": "k", "hostToken": "h", "has_token": True, "url": "https://u:pw@example.com/x"},
        "list": ['a with"quote b'],
    }
    out = redactor.value(data)
    text = json.dumps(out)
    for secret in ("tok-known-1", "owt_abc", "abcdefgh12345", '"k"', '"h"', "u:pw", 'with\\"quote'):
        assert secret not in text
    assert out["attributes"]["has_token"] is True  # a flag says only whether there is one
    assert redactor.text(json.dumps({"x": 'with"quote'})).count(REDACTED) == 1  # its JSON-escaped form


def test_known_secrets_come_from_token_files_env_store_auth_file_and_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dirs = DataDir(tmp_path / "data")
    dirs.client_token.parent.mkdir(parents=True)
    dirs.client_token.write_text("client-secret-1\n")
    dirs.host_token.write_text("host-secret-2")
    (dirs.client_token.parent / "other").write_text('{"x": "other-secret-3"}')
    (dirs.root / "openwork-orchestrator-auth.json").write_text(
        json.dumps({"opencodeUsername": "opencode", "opencodePassword": "pw-secret-4"})
    )
    store = tmp_path / "env.json"
    store.write_text(json.dumps({"MY_API_KEY": "sk-secret-5", "SHORT": "1"}))
    monkeypatch.setenv("OPENWORK_ENV_STORE", str(store))
    found = known_secrets(dirs, {"GITHUB_TOKEN": "gh-secret-6", "PATH": "/usr/bin"})
    expected = {"client-secret-1", "host-secret-2", "other-secret-3", "pw-secret-4", "sk-secret-5", "gh-secret-6"}
    assert expected <= found
    assert "1" not in found and "/usr/bin" not in found and "opencode" not in found
