"""Resolve a sidecar binary from one of four sources, verified before anything runs it.

- ``external``: an explicit ``--*-bin`` path or ``PATH``; only with ``--allow-external``.
- ``bundled``: shipped beside this package (``<prefix>/share/openwork/sidecars/<target>/``, or
  ``OPENWORK_BUNDLED_SIDECARS_DIR``); checked against the manifest's sha256 when it lists one.
- ``downloaded``: the verified cache, filled from a manifest artefact (SHA-256, size) or, for opencode,
  from the npm registry through the ``npm`` client (SHA-512 integrity).
- ``auto``: bundled when present, else downloaded.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from openwork.errors import ConfigError, NotCached, SidecarError
from openwork.sidecars import cache
from openwork.sidecars.components import COMPONENTS, ComponentSpec
from openwork.sidecars.digest import file_sha256
from openwork.sidecars.limits import DownloadLimits
from openwork.sidecars.progress import NullProgress
from openwork.sidecars.targets import current_target, executable_name
from openwork.sidecars.version import probe_version_sync, version_problem

# pydantic, httpx, tarfile and the npm client load only when a manifest or a download is needed:
# resolving a cached binary stays on opencode's start-up path.
if TYPE_CHECKING:
    from openwork.sidecars.components import Source
    from openwork.sidecars.manifest import Artifact, Manifest
    from openwork.sidecars.progress import Progress

__all__ = ["ResolvedBinary", "Resolver", "SidecarSettings"]

MANIFEST_FETCH_TIMEOUT = 10.0


@dataclass(frozen=True, kw_only=True, slots=True)
class SidecarSettings:
    sidecar_dir: Path
    opencode_source: Source = "auto"
    sidecar_source: Source = "auto"  # the router (the original's name for non-opencode sidecars)
    allow_external: bool = False
    allow_unverified: bool = False
    manifest_path: Path | None = None
    base_url: str | None = None
    opencode_bin: Path | None = None
    router_bin: Path | None = None
    bundled_dir: Path | None = None
    limits: DownloadLimits = field(default_factory=DownloadLimits)

    def source_for(self, component: str) -> Source:
        return self.opencode_source if component == "opencode" else self.sidecar_source

    def explicit_for(self, component: str) -> Path | None:
        return self.opencode_bin if component == "opencode" else self.router_bin

    def bundled_root(self) -> Path:
        return self.bundled_dir or Path(sys.prefix) / "share" / "openwork" / "sidecars"


@dataclass(frozen=True, kw_only=True, slots=True)
class ResolvedBinary:
    """A binary ready to run, and how we found it (``--verbose`` prints ``how``)."""

    component: str
    path: Path
    source: Source
    target: str
    version: str | None  # the pinned/expected version, when known
    sha256: str | None
    how: str
    reported_version: str | None = None  # what `--version` said, when it was checked

    def to_json(self) -> dict[str, object]:
        return {
            "component": self.component,
            "path": str(self.path),
            "source": self.source,
            "target": self.target,
            "version": self.reported_version or self.version,
            "sha256": self.sha256,
            "how": self.how,
        }


class Resolver:
    def __init__(self, settings: SidecarSettings, progress: Progress | None = None, *, fetch: bool = True) -> None:
        """``fetch=False``: never download; what only a download would give is a ``NotCached`` error
        (``openwork doctor`` asks so)."""
        self.settings = settings
        self.progress = progress or NullProgress()
        self._fetch_allowed = fetch
        self._manifest: Manifest | None = None

    # -- manifest -------------------------------------------------------------------------------
    def manifest(self) -> Manifest:
        if self._manifest is None:
            self._manifest = self._load_manifest()
        return self._manifest

    def _load_manifest(self) -> Manifest:
        from openwork.sidecars.manifest import MANIFEST_NAME, bundled_manifest, check_url, read_manifest_file

        s = self.settings
        if s.manifest_path is not None:
            return read_manifest_file(s.manifest_path)
        if s.base_url:
            url = s.base_url.rstrip("/") + "/" + MANIFEST_NAME
            check_url(url)
            return _fetch_manifest(url, s.limits)
        return bundled_manifest()

    def _user_manifest(self) -> bool:
        return self.settings.manifest_path is not None or bool(self.settings.base_url)

    def wanted_version(self, spec: ComponentSpec, version: str | None) -> str | None:
        if version:
            return version
        if self._user_manifest() and spec.name in self.manifest().components:
            return self.manifest().components[spec.name].version
        return spec.pinned or (
            self.manifest().components[spec.name].version if spec.name in self.manifest().components else None
        )

    # -- resolution -----------------------------------------------------------------------------
    def resolve(self, component: str, *, version: str | None = None, target: str | None = None) -> ResolvedBinary:
        spec = _spec(component)
        target = target or current_target()
        source = self.settings.source_for(component)
        explicit = self.settings.explicit_for(component)
        wanted = self.wanted_version(spec, version)
        if explicit is not None:
            self._require_external(f"--{'opencode' if component == 'opencode' else 'opencode-router'}-bin")
            return _external(spec, explicit, target, wanted, how=f"explicit path {explicit}")
        if source == "external":
            self._require_external(f"--{'opencode' if component == 'opencode' else 'sidecar'}-source external")
            found = _which(spec.executable)
            if not found:
                raise SidecarError(f"{spec.executable} is not on PATH (--{_flag(component)}-source external)")
            return _external(spec, Path(found), target, wanted, how=f"found on PATH at {found}")
        if source in ("auto", "bundled"):
            bundled = self._bundled(spec, target, wanted)
            if bundled is not None:
                return bundled
            if source == "bundled":
                raise SidecarError(
                    f"no bundled {spec.executable} for {target} in {self.settings.bundled_root()}",
                    hint=f"use --{_flag(component)}-source downloaded (or auto)",
                )
        return self._downloaded(spec, target, wanted)

    def _require_external(self, what: str) -> None:
        if not self.settings.allow_external:
            raise ConfigError(
                f"{what} runs a binary openwork did not verify",
                hint="pass --allow-external (or set OPENWORK_ALLOW_EXTERNAL=1) to allow it",
            )

    def _bundled(self, spec: ComponentSpec, target: str, wanted: str | None) -> ResolvedBinary | None:
        root = self.settings.bundled_root()
        exe = executable_name(spec.executable, target)
        for candidate in (root / target / exe, root / exe):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                sha = file_sha256(candidate)
                listed = self.manifest().artifact(spec.name, target)
                if listed is not None and listed[1].sha256 and listed[1].sha256 != sha:
                    raise SidecarError(f"bundled {candidate} does not match the manifest's sha256; refusing it")
                reported = probe_version_sync(candidate)
                _refuse_mismatch(spec, candidate, wanted, reported)
                return ResolvedBinary(
                    component=spec.name,
                    path=candidate,
                    source="bundled",
                    target=target,
                    version=wanted,
                    sha256=sha,
                    how=f"bundled at {candidate}",
                    reported_version=reported,
                )
        return None

    def _downloaded(self, spec: ComponentSpec, target: str, wanted: str | None) -> ResolvedBinary:
        if wanted is None:
            raise SidecarError(
                f"no version of {spec.name} is known: no manifest lists it",
                hint="pass --sidecar-manifest FILE or --sidecar-base-url URL",
            )
        directory = cache.entry_dir(self.settings.sidecar_dir, spec.name, wanted, target)
        binary = directory / executable_name(spec.executable, target)
        sha = cache.verify(binary)
        if sha is not None:
            return self._cached(spec, binary, target, wanted, sha, "cache hit, sha256 re-verified")
        if not self._fetch_allowed:
            state = "fails verification (a start fetches it again)" if binary.exists() else "not downloaded yet"
            raise NotCached(f"{spec.name} {wanted} {state}: {binary}")
        with cache.install_lock(directory):
            sha = cache.verify(binary)  # another process may have installed it while we waited
            if sha is not None:
                return self._cached(spec, binary, target, wanted, sha, "installed by a concurrent resolver")
            if binary.exists():
                self.progress.message(f"cached {binary} failed verification; fetching it again")
            staged, origin = self._fetch(spec, target, wanted, directory)
            try:
                from datetime import UTC, datetime

                sha = cache.install(staged, binary, {**origin, "fetchedAt": datetime.now(UTC).isoformat()})
            finally:
                staged.unlink(missing_ok=True)
        self.progress.message(f"installed {spec.name} {wanted} at {binary}")
        return self._cached(spec, binary, target, wanted, sha, f"downloaded ({origin['via']})")

    def _cached(
        self, spec: ComponentSpec, binary: Path, target: str, wanted: str, sha: str, how: str
    ) -> ResolvedBinary:
        origin = cache.read_origin(binary)
        recorded = origin.get("reportedVersion")
        reported = recorded if isinstance(recorded, str) and origin.get("sha256") == sha else None
        # A foreign build (e.g. linux-arm64 for a sandbox) cannot run here; its hash vouches for it.
        if target == current_target():
            if reported is None:
                # Checked once per verified file: the same bytes report the same version next time.
                reported = probe_version_sync(binary)
                if reported is not None:
                    cache.record_origin(binary, {**origin, "sha256": sha, "reportedVersion": reported})
            _refuse_mismatch(spec, binary, wanted, reported)
        return ResolvedBinary(
            component=spec.name,
            path=binary,
            source="downloaded",
            target=target,
            version=wanted,
            sha256=sha,
            how=f"{how}: {binary}",
            reported_version=reported,
        )

    def _fetch(self, spec: ComponentSpec, target: str, version: str, directory: Path) -> tuple[Path, dict[str, object]]:
        listed = self.manifest().artifact(spec.name, target)
        if listed is not None and listed[0] == version:
            return self._from_manifest(spec, listed[1], target, directory), {
                "via": f"manifest {self.manifest().source}",
                "url": listed[1].url,
                "version": version,
            }
        package = spec.package_for(target)
        if package and spec.npm_member:
            if _which("npm") is None:
                raise SidecarError(f"{spec.name} {version} is not cached and `npm` is not installed to fetch it")
            from openwork.sidecars.npm import fetch_npm_binary

            staged = fetch_npm_binary(
                package=package, version=version, member=spec.npm_member, directory=directory, progress=self.progress
            )
            return staged, {"via": f"npm {package}@{version}", "package": package, "version": version}
        raise SidecarError(
            f"no source for {spec.name} {version} on {target}: the manifest does not list it",
            hint="pass --sidecar-manifest FILE or --sidecar-base-url URL",
        )

    def _from_manifest(self, spec: ComponentSpec, artifact: Artifact, target: str, directory: Path) -> Path:
        from openwork.sidecars.download import download_verified

        downloaded = download_verified(
            artifact.url,
            directory=directory,
            sha256=artifact.sha256,
            size=artifact.size,
            allow_unverified=self.settings.allow_unverified,
            limits=self.settings.limits,
            progress=self.progress,
        )
        if artifact.archive == "none":
            return downloaded
        try:
            staged = downloaded.with_name(downloaded.name + ".bin")
            member = artifact.binary or executable_name(spec.executable, target)
            from openwork.sidecars.archive import extract_binary

            extract_binary(downloaded, artifact.archive, member, staged)
            return staged
        finally:
            downloaded.unlink(missing_ok=True)


def _spec(component: str) -> ComponentSpec:
    try:
        return COMPONENTS[component]
    except KeyError:
        raise ConfigError(f"unknown sidecar {component!r}; known: {', '.join(COMPONENTS)}") from None


def _refuse_mismatch(spec: ComponentSpec, path: Path, wanted: str | None, reported: str | None) -> None:
    problem = version_problem(f"{spec.name} at {path}", wanted, reported)
    if problem:
        raise SidecarError(problem, hint="fetch the pinned version again, or use --opencode-source external")


def _flag(component: str) -> str:
    return "opencode" if component == "opencode" else "sidecar"


def _external(spec: ComponentSpec, path: Path, target: str, wanted: str | None, *, how: str) -> ResolvedBinary:
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise SidecarError(f"{spec.name} binary {path} does not exist or is not executable")
    return ResolvedBinary(
        component=spec.name,
        path=path.resolve(),
        source="external",
        target=target,
        version=wanted,
        sha256=None,
        how=how,
    )


def _fetch_manifest(url: str, limits: DownloadLimits) -> Manifest:
    import httpx

    from openwork.sidecars.manifest import display_url, parse_manifest

    timeout = httpx.Timeout(MANIFEST_FETCH_TIMEOUT, connect=limits.connect_timeout)
    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise SidecarError(f"cannot fetch the sidecar manifest {display_url(url)}: {type(exc).__name__}") from exc
    if response.status_code != 200:
        raise SidecarError(f"the sidecar manifest {display_url(url)} answered HTTP {response.status_code}")
    return parse_manifest(response.content, source=url)


def _which(name: str) -> str | None:
    import shutil  # not at import time: it pulls the compression modules, unused on the start-up path

    return shutil.which(name)
