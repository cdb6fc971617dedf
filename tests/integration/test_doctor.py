"""`openwork doctor` and `openwork diagnose` as a user runs them: the real CLI in a child process."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import psutil

from openwork.paths import DataDir
from tests.helpers import FIXTURES, OPENWORK, ServerProcess, serve_args

CLI_TIMEOUT = 120.0  # the checks' own deadlines (opencode 15 s, each container engine 15 s) and more
FAKE = str(FIXTURES / "fake_opencode.py")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OPENWORK, *args], capture_output=True, text=True, timeout=CLI_TIMEOUT, env=env or dict(os.environ)
    )


def checks_of(done: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    result = json.loads(done.stdout)
    return {check["name"]: check for check in result["checks"]}


def test_doctor_names_this_process_as_the_holder_of_a_taken_port_and_exits_1(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        done = run(
            "doctor", "--json", "--data-dir", str(tmp_path / "data"), "--port", str(port), "--opencode-port", "0"
        )
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["ok"] is False
    check = checks_of(done)["port"]
    assert check["status"] == "fail"
    assert f"pid {os.getpid()} ({psutil.Process().name()})" in check["detail"]
    assert check["fix"]


def test_doctor_text_is_one_line_per_check_with_the_fix(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o777)
    done = run("doctor", "--data-dir", str(data), "--port", "0", "--opencode-port", "0")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 10
    assert [line for line in lines if line.startswith("fail  data-dir")] == [
        f"fail  data-dir         {data} has mode 0777: others may write to it  -- fix: chmod 700 {data}"
    ]


def test_doctor_counts_the_running_server_as_ours(tmp_path: Path, workspace: Path, serve: list[ServerProcess]) -> None:
    server = ServerProcess(serve_args(workspace, FAKE))
    serve.append(server)
    server.start(log_file=tmp_path / "server.log")
    port = server.url.rsplit(":", 1)[1]
    flags = ("--port", port, "--opencode-port", "0", "--allow-external", "--opencode-bin", FAKE)
    done = run("doctor", "--json", *flags)
    checks = checks_of(done)
    assert checks["port"]["status"] == "ok" and "used by the running openwork server" in checks["port"]["detail"]
    assert checks["server"]["status"] == "ok"
    assert checks["opencode"]["status"] == "warn" and "0.0.0-fake" in checks["opencode"]["detail"]
    # and its bundle carries the server's runtime summary, with none of its tokens: the host and client
    # tokens, tokens minted through the API (and used, so the log saw them at work)
    minted = []
    with server.client(token=server.info["hostToken"]) as host:
        for scope in ("viewer", "collaborator"):
            minted.append(host.post("/tokens", json={"scope": scope, "label": f"for {scope}"}).json()["data"]["token"])
    for token in minted:
        with server.client(token=token) as client:
            assert client.get("/system/status").status_code == 200
    bundle = tmp_path / "bundle.zip"
    done = run("diagnose", "--output", str(bundle), *flags)
    assert done.returncode == 0, done.stderr
    members = read_zip(bundle)
    assert "skipped" not in json.loads(members["runtime-summary.json"])
    assert "state/server.json" in members
    secrets = [server.info["clientToken"], DataDir.at(None).host_token.read_text().strip(), *minted]
    leaks(members, secrets)


def read_zip(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


def leaks(members: dict[str, str], secrets: list[str]) -> None:
    for name, text in members.items():
        for secret in secrets:
            assert secret not in text, f"{secret!r} in {name}"


def test_diagnose_bundles_the_expected_files_with_every_secret_redacted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    dirs = DataDir(data)
    dirs.client_token.parent.mkdir(parents=True, mode=0o700)
    dirs.client_token.write_text("client-token-value-abc123\n")
    dirs.host_token.write_text("host-token-value-def456\n")
    (data / "openwork-orchestrator-auth.json").write_text(json.dumps({"opencodePassword": "pw-secret-456"}))
    store = tmp_path / "env.json"
    # CI=true: a short everyday value is no secret, and redacting "true" would break every JSON member
    store.write_text(json.dumps({"MY_API_KEY": "sk-secret-value-123", "CI": "true"}))
    dirs.state.mkdir()
    dirs.daemon_record.write_text(json.dumps({"pid": 1, "hostToken": "host-token-value-def456"}))
    logs = data / "logs"
    logs.mkdir()
    records = [
        {"timeUnixNano": "1", "body": "request with host-token-value-def456 in it", "attributes": {"n": 1}},
        {"timeUnixNano": "2", "body": "minted owt_abcdef123 for a viewer", "attributes": {"apiKey": "sk-x"}},
        {
            "timeUnixNano": "3",
            "body": "env MY_API_KEY=sk-secret-value-123 pw=pw-secret-456 c=client-token-value-abc123",
        },
    ]
    (logs / "openwork.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    bundle = tmp_path / "out" / "bundle.zip"
    env = {**os.environ, "OPENWORK_ENV_STORE": str(store)}
    done = run("diagnose", "--json", "--output", str(bundle), "--data-dir", str(data), "--port", "0", env=env)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["output"] == str(bundle)
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o600
    assert [p.name for p in bundle.parent.iterdir()] == ["bundle.zip"]  # no temp file left beside it
    members = read_zip(bundle)
    expected = {
        "doctor.json",
        "versions.json",
        "config.json",
        "runtime-summary.json",
        "logs.jsonl",
        "state/daemon.json",
    }
    assert set(members) == expected == set(answer["files"])
    secrets = [
        "client-token-value-abc123",
        "host-token-value-def456",
        "pw-secret-456",
        "sk-secret-value-123",
        "owt_abcdef123",
        "sk-x",
    ]
    leaks(members, secrets)
    for name, text in members.items():
        if name.endswith(".json"):
            json.loads(text)  # still JSON after redaction
    lines = [json.loads(line) for line in members["logs.jsonl"].splitlines()]
    assert [r["timeUnixNano"] for r in lines] == ["1", "2", "3"]
    assert lines[1]["body"] == "minted [REDACTED] for a viewer"
    assert json.loads(members["runtime-summary.json"]) == {
        "skipped": "no server running (no server record in the data dir)"
    }
    assert "OPENWORK_ENV_STORE" in json.loads(members["config.json"])["openworkEnv"]
    assert json.loads(members["doctor.json"])["checks"]
