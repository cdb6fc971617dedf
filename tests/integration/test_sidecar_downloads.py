"""The sidecar resolver against a real local release host: verified or refused, never half-installed."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from openwork.errors import ConfigError, IntegrityError, SidecarError
from openwork.sidecars import cache
from openwork.sidecars.limits import DownloadLimits
from openwork.sidecars.resolver import Resolver, SidecarSettings
from openwork.sidecars.targets import current_target
from tests.releasehost import ReleaseHost, Route

VERSION = "0.3.0"
SCRIPT = b"#!/bin/sh\necho 'opencode-router " + VERSION.encode() + b"'\n"
FAST = DownloadLimits(connect_timeout=2.0, read_timeout=2.0, attempts=2, retry_delay=0.01)


@pytest.fixture
def host() -> Iterator[ReleaseHost]:
    server = ReleaseHost().start()
    yield server
    server.stop()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_manifest(tmp: Path, host: ReleaseHost, artifact: dict[str, object], version: str = VERSION) -> Path:
    path = tmp / "manifest.json"
    manifest = {"schemaVersion": 1, "components": {"opencode-router": {"version": version, "targets": {}}}}
    manifest["components"]["opencode-router"]["targets"][current_target()] = artifact  # type: ignore[index]
    path.write_text(json.dumps(manifest))
    return path


def resolver(tmp: Path, manifest: Path, **overrides: object) -> Resolver:
    settings = SidecarSettings(
        sidecar_dir=tmp / "sidecars", sidecar_source="downloaded", manifest_path=manifest, limits=FAST
    )
    fields = {f: getattr(settings, f) for f in settings.__dataclass_fields__}
    return Resolver(SidecarSettings(**{**fields, **overrides}))  # type: ignore[arg-type]


def final_path(tmp: Path) -> Path:
    return tmp / "sidecars" / "opencode-router" / VERSION / current_target() / "opencode-router"


class Watcher:
    """Polls the final path while a download runs: it must never exist holding unverified bytes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.path.exists():
                self.seen = True
            self._stop.wait(0.001)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def assert_nothing_installed(tmp: Path, watcher: Watcher) -> None:
    assert not watcher.seen
    assert not final_path(tmp).exists()
    leftovers = [p.name for p in final_path(tmp).parent.glob("*") if p.name != ".install.lock"]
    assert leftovers == []


def test_good_artifact_installs_verified_and_is_reused(tmp_path: Path, host: ReleaseHost) -> None:
    host.routes["/router"] = Route(SCRIPT)
    manifest = write_manifest(tmp_path, host, {"url": f"{host.url}/router", "sha256": sha(SCRIPT), "size": len(SCRIPT)})
    first = resolver(tmp_path, manifest).resolve("opencode-router")
    assert first.path == final_path(tmp_path)
    assert first.sha256 == sha(SCRIPT) and first.source == "downloaded"
    assert first.reported_version == VERSION
    assert final_path(tmp_path).stat().st_mode & 0o111
    second = resolver(tmp_path, manifest).resolve("opencode-router")
    assert "cache hit" in second.how
    assert host.hits["/router"] == 1


def test_relative_url_resolves_against_base_url(tmp_path: Path, host: ReleaseHost) -> None:
    host.routes["/bin/router"] = Route(SCRIPT)
    doc = {
        "schemaVersion": 1,
        "components": {
            "opencode-router": {
                "version": VERSION,
                "targets": {current_target(): {"url": "bin/router", "sha256": sha(SCRIPT), "size": len(SCRIPT)}},
            }
        },
    }
    host.routes["/openwork-sidecars.json"] = Route(json.dumps(doc).encode())
    settings = SidecarSettings(
        sidecar_dir=tmp_path / "sidecars", sidecar_source="downloaded", base_url=host.url + "/", limits=FAST
    )
    assert Resolver(settings).resolve("opencode-router").sha256 == sha(SCRIPT)


@pytest.mark.parametrize(
    ("case", "route", "artifact_overrides", "error", "match"),
    [
        ("wrong hash", Route(SCRIPT), {"sha256": sha(b"other")}, IntegrityError, "does not match"),
        ("size mismatch", Route(SCRIPT), {"size": len(SCRIPT) + 5}, IntegrityError, "manifest says"),
        ("truncated body", Route(SCRIPT, declared_length=len(SCRIPT) + 100), {"size": None}, SidecarError, "attempts"),
        ("slow server", Route(SCRIPT, delay_before_body=3.0), {}, SidecarError, "timed out"),
    ],
)
def test_bad_downloads_are_refused_and_leave_nothing(
    tmp_path: Path,
    host: ReleaseHost,
    case: str,
    route: Route,
    artifact_overrides: dict[str, object],
    error: type[Exception],
    match: str,
) -> None:
    host.routes["/router"] = route
    artifact = {"url": f"{host.url}/router", "sha256": sha(SCRIPT), "size": len(SCRIPT), **artifact_overrides}
    manifest = write_manifest(tmp_path, host, {k: v for k, v in artifact.items() if v is not None})
    with Watcher(final_path(tmp_path)) as watcher, pytest.raises(error, match=match):
        resolver(tmp_path, manifest).resolve("opencode-router")
    assert_nothing_installed(tmp_path, watcher)


def test_plain_http_to_a_remote_host_is_refused_before_connecting(tmp_path: Path, host: ReleaseHost) -> None:
    manifest = write_manifest(tmp_path, host, {"url": "http://example.com/router", "sha256": sha(SCRIPT)})
    with pytest.raises(SidecarError, match="only https://"):
        resolver(tmp_path, manifest).resolve("opencode-router")
    assert not final_path(tmp_path).exists()


def test_missing_hash_needs_allow_unverified(tmp_path: Path, host: ReleaseHost) -> None:
    host.routes["/router"] = Route(SCRIPT)
    manifest = write_manifest(tmp_path, host, {"url": f"{host.url}/router"})
    with pytest.raises(IntegrityError, match="no sha256"):
        resolver(tmp_path, manifest).resolve("opencode-router")
    assert host.hits.get("/router") is None  # refused before downloading anything
    resolved = resolver(tmp_path, manifest, allow_unverified=True).resolve("opencode-router")
    assert resolved.sha256 == sha(SCRIPT)


def test_tampered_cache_is_downloaded_again(tmp_path: Path, host: ReleaseHost) -> None:
    host.routes["/router"] = Route(SCRIPT)
    manifest = write_manifest(tmp_path, host, {"url": f"{host.url}/router", "sha256": sha(SCRIPT)})
    path = resolver(tmp_path, manifest).resolve("opencode-router").path
    path.write_bytes(b"#!/bin/sh\necho pwned\n")
    again = resolver(tmp_path, manifest).resolve("opencode-router")
    assert again.path.read_bytes() == SCRIPT
    assert host.hits["/router"] == 2


def test_version_mismatch_of_a_downloaded_binary_is_an_error(tmp_path: Path, host: ReleaseHost) -> None:
    host.routes["/router"] = Route(SCRIPT)
    manifest = write_manifest(tmp_path, host, {"url": f"{host.url}/router", "sha256": sha(SCRIPT)}, version="9.9.9")
    with pytest.raises(SidecarError, match=r"reports version 0\.3\.0, expected 9\.9\.9"):
        resolver(tmp_path, manifest).resolve("opencode-router")


def test_external_binaries_need_allow_external(tmp_path: Path, host: ReleaseHost) -> None:
    binary = tmp_path / "router"
    binary.write_bytes(SCRIPT)
    binary.chmod(0o755)
    manifest = write_manifest(tmp_path, host, {"url": f"{host.url}/router", "sha256": sha(SCRIPT)})
    with pytest.raises(ConfigError, match="did not verify"):
        resolver(tmp_path, manifest, router_bin=binary).resolve("opencode-router")
    resolved = resolver(tmp_path, manifest, router_bin=binary, allow_external=True).resolve("opencode-router")
    assert resolved.source == "external" and resolved.path == binary


# -- archives ----------------------------------------------------------------------------------


def tar_gz(members: list[tarfile.TarInfo], payloads: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info in members:
            data = payloads.get(info.name)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def file_member(name: str, data: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o755
    return info


def link_member(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def test_tar_archive_installs_the_named_member(tmp_path: Path, host: ReleaseHost) -> None:
    body = tar_gz([file_member("pkg/bin/opencode-router", SCRIPT)], {"pkg/bin/opencode-router": SCRIPT})
    host.routes["/router.tar.gz"] = Route(body)
    manifest = write_manifest(
        tmp_path,
        host,
        {
            "url": f"{host.url}/router.tar.gz",
            "sha256": sha(body),
            "archive": "tar.gz",
            "binary": "pkg/bin/opencode-router",
        },
    )
    resolved = resolver(tmp_path, manifest).resolve("opencode-router")
    assert resolved.path.read_bytes() == SCRIPT
    assert resolved.sha256 == sha(SCRIPT)  # the installed binary's hash, re-verified on each resolve


@pytest.mark.parametrize(
    ("members", "match"),
    [
        ([file_member("../evil", b"x")], r"climbs out"),
        ([file_member("/etc/evil", b"x")], r"absolute"),
        ([link_member("opencode-router", "/bin/sh")], r"link or device"),
        ([link_member("hard", "/etc/passwd", tarfile.LNKTYPE)], r"link or device"),
        ([link_member("dev", "", tarfile.CHRTYPE)], r"link or device"),
    ],
    ids=["dotdot", "absolute", "symlink", "hardlink", "device"],
)
def test_hostile_tar_members_are_refused(
    tmp_path: Path, host: ReleaseHost, members: list[tarfile.TarInfo], match: str
) -> None:
    payloads = {m.name: b"x" for m in members if m.isfile()}
    body = tar_gz([*members, file_member("opencode-router", SCRIPT)], {**payloads, "opencode-router": SCRIPT})
    host.routes["/router.tar.gz"] = Route(body)
    manifest = write_manifest(
        tmp_path, host, {"url": f"{host.url}/router.tar.gz", "sha256": sha(body), "archive": "tar.gz"}
    )
    with Watcher(final_path(tmp_path)) as watcher, pytest.raises(SidecarError, match=match):
        resolver(tmp_path, manifest).resolve("opencode-router")
    assert_nothing_installed(tmp_path, watcher)
    assert not (tmp_path / "evil").exists()


def test_zip_bomb_is_refused(tmp_path: Path, host: ReleaseHost) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("opencode-router", b"\0" * (50 * 1024 * 1024))  # ~50 KB compressed, 1000x
    body = buf.getvalue()
    host.routes["/router.zip"] = Route(body)
    manifest = write_manifest(tmp_path, host, {"url": f"{host.url}/router.zip", "sha256": sha(body), "archive": "zip"})
    with Watcher(final_path(tmp_path)) as watcher, pytest.raises(SidecarError, match="archive bomb"):
        resolver(tmp_path, manifest).resolve("opencode-router")
    assert_nothing_installed(tmp_path, watcher)


def test_zip_with_traversal_member_is_refused(tmp_path: Path, host: ReleaseHost) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../../evil", b"x")
        zf.writestr("opencode-router", SCRIPT)
    body = buf.getvalue()
    host.routes["/router.zip"] = Route(body)
    manifest = write_manifest(tmp_path, host, {"url": f"{host.url}/router.zip", "sha256": sha(body), "archive": "zip"})
    with pytest.raises(SidecarError, match="climbs out"):
        resolver(tmp_path, manifest).resolve("opencode-router")
    assert not final_path(tmp_path).exists()


# -- concurrency -------------------------------------------------------------------------------


def test_two_processes_resolving_at_once_download_once(tmp_path: Path, host: ReleaseHost) -> None:
    big = SCRIPT + b"#" * (2 * 1024 * 1024)  # paced so the two resolvers overlap
    host.routes["/router"] = Route(big, chunk_delay=0.02)
    manifest = write_manifest(tmp_path, host, {"url": f"{host.url}/router", "sha256": sha(big), "size": len(big)})
    code = (
        "import sys, json; from pathlib import Path;"
        "from openwork.sidecars.resolver import Resolver, SidecarSettings;"
        "r = Resolver(SidecarSettings(sidecar_dir=Path(sys.argv[1]), sidecar_source='downloaded',"
        " manifest_path=Path(sys.argv[2]))).resolve('opencode-router');"
        "print(json.dumps(r.to_json()))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / "sidecars"), str(manifest)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    results = [json.loads(out) for out, _ in outputs]
    assert results[0]["sha256"] == results[1]["sha256"] == sha(big)
    assert results[0]["path"] == results[1]["path"]
    assert host.hits["/router"] == 1


def test_zip_symlink_member_is_refused(tmp_path: Path, host: ReleaseHost) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        link = zipfile.ZipInfo("opencode-router")
        link.external_attr = (0o120777) << 16  # S_IFLNK
        zf.writestr(link, "/bin/sh")
    body = buf.getvalue()
    host.routes["/router.zip"] = Route(body)
    manifest = write_manifest(tmp_path, host, {"url": f"{host.url}/router.zip", "sha256": sha(body), "archive": "zip"})
    with pytest.raises(SidecarError, match="link or device"):
        resolver(tmp_path, manifest).resolve("opencode-router")
    assert not final_path(tmp_path).exists()


# -- the CLI -----------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "openwork", *args], capture_output=True, text=True, timeout=60)


def test_sidecars_cli_fetch_list_verify_prune(tmp_path: Path, host: ReleaseHost) -> None:
    host.routes["/router"] = Route(SCRIPT)
    manifest = write_manifest(tmp_path, host, {"url": f"{host.url}/router", "sha256": sha(SCRIPT), "size": len(SCRIPT)})
    sc = str(tmp_path / "sidecars")
    fetched = run_cli(
        "sidecars", "fetch", "opencode-router", "--sidecar-dir", sc, "--sidecar-manifest", str(manifest), "--json"
    )
    assert fetched.returncode == 0, fetched.stderr
    assert json.loads(fetched.stdout)["version"] == VERSION

    listed = json.loads(run_cli("sidecars", "list", "--sidecar-dir", sc, "--json").stdout)
    assert [(e["component"], e["version"]) for e in listed["entries"]] == [("opencode-router", VERSION)]

    ok = run_cli("sidecars", "verify", "--sidecar-dir", sc, "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    final_path(tmp_path).write_bytes(b"tampered")
    bad = run_cli("sidecars", "verify", "--sidecar-dir", sc)
    assert bad.returncode == 1 and "TAMPERED" in bad.stdout

    kept = json.loads(
        run_cli("sidecars", "prune", "--sidecar-dir", sc, "--keep", f"opencode-router@{VERSION}", "--json").stdout
    )
    assert kept["removed"] == [] and final_path(tmp_path).exists()
    pruned = json.loads(run_cli("sidecars", "prune", "--sidecar-dir", sc, "--json").stdout)
    assert [e["version"] for e in pruned["removed"]] == [VERSION]
    assert not final_path(tmp_path).parent.exists()
    bad_keep = run_cli("sidecars", "prune", "--sidecar-dir", sc, "--keep", "nonsense")
    assert bad_keep.returncode == 2 and "COMPONENT@VERSION" in bad_keep.stderr


def test_serve_refuses_an_unverified_binary_without_allow_external(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    done = run_cli(
        "serve", "--workspace", str(workspace), "--port", "0", "--opencode-port", "0", "--opencode-bin", "/bin/true"
    )
    assert done.returncode != 0
    assert "did not verify" in done.stderr and "--allow-external" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_cache_hit_is_re_verified_on_every_resolve(
    tmp_path: Path, host: ReleaseHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    host.routes["/router"] = Route(SCRIPT)
    manifest = write_manifest(tmp_path, host, {"url": f"{host.url}/router", "sha256": sha(SCRIPT), "size": len(SCRIPT)})
    resolver(tmp_path, manifest).resolve("opencode-router")
    events: list[str] = []
    original = cache.verify

    def verify(binary: Path) -> str | None:
        events.append("verify")
        return original(binary)

    monkeypatch.setattr(cache, "verify", verify)
    hit = Resolver(resolver(tmp_path, manifest).settings).resolve("opencode-router")
    assert "cache hit" in hit.how
    assert events == ["verify"]  # a cache hit is re-hashed on every resolve
