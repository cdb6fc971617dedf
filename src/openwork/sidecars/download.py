"""Stream an artefact into a temp file beside its destination, checking size and SHA-256 as it goes.

Nothing here writes the final path: the caller renames the verified temp file into place, so the final
path never holds unverified bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from openwork.errors import IntegrityError, SidecarError
from openwork.sidecars.limits import DownloadLimits
from openwork.sidecars.progress import NullProgress
from openwork.sidecars.urls import check_url, display_url

if TYPE_CHECKING:
    from openwork.sidecars.progress import Progress

__all__ = ["DownloadLimits", "download_verified"]

_CHUNK = 256 * 1024


class _Retryable(SidecarError):
    """A transport failure worth another attempt (timeouts, resets, truncation, 5xx)."""


def download_verified(
    url: str,
    *,
    directory: Path,
    sha256: str | None,
    size: int | None,
    allow_unverified: bool = False,
    limits: DownloadLimits | None = None,
    progress: Progress | None = None,
) -> Path:
    """Download ``url`` into a new temp file in ``directory`` and return it, verified.

    Raises ``IntegrityError`` on a hash or size mismatch (not retried: the host serves wrong bytes)
    and ``SidecarError`` when every attempt failed. No temp file is left behind on failure.
    """
    check_url(url)
    if sha256 is None and not allow_unverified:
        raise IntegrityError(
            f"no sha256 is listed for {display_url(url)}; refusing to download it unverified",
            hint="fix the manifest, or pass --allow-unverified if you trust this host",
        )
    limits = limits or DownloadLimits()
    report = progress or NullProgress()
    directory.mkdir(parents=True, exist_ok=True)
    last: SidecarError | None = None
    for attempt in range(1, limits.attempts + 1):
        fd, name = tempfile.mkstemp(prefix=".download-", dir=directory)
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                digest = _stream(url, out, size=size, limits=limits, report=report)
                out.flush()
                os.fsync(out.fileno())
            if sha256 is not None and not hmac.compare_digest(digest, sha256):
                raise IntegrityError(f"{display_url(url)}: sha256 {digest} does not match the manifest's {sha256}")
            return tmp
        except _Retryable as exc:
            tmp.unlink(missing_ok=True)
            last = exc
            if attempt < limits.attempts:
                report.message(f"{exc.message}; retrying ({attempt}/{limits.attempts - 1})")
                time.sleep(limits.retry_delay * 2 ** (attempt - 1))
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    assert last is not None
    raise SidecarError(f"download failed after {limits.attempts} attempts: {last.message}")


def _stream(url: str, out: object, *, size: int | None, limits: DownloadLimits, report: Progress) -> str:
    timeout = httpx.Timeout(limits.read_timeout, connect=limits.connect_timeout)
    cap = size if size is not None else limits.max_bytes
    digest = hashlib.sha256()
    done = 0
    shown = display_url(url)
    try:
        # No redirects to other schemes: a redirect is followed only if its target passes check_url too.
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=True) as client:
            for _hop in range(5):
                with client.stream("GET", url) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = str(response.url.join(response.headers["location"]))
                        check_url(url)
                        continue
                    if response.status_code >= 500:
                        raise _Retryable(f"{shown} answered HTTP {response.status_code}")
                    if response.status_code != 200:
                        raise SidecarError(f"{shown} answered HTTP {response.status_code}")
                    declared = _content_length(response)
                    if size is not None and declared is not None and declared != size:
                        raise IntegrityError(f"{shown} is {declared} bytes; the manifest says {size}")
                    total = size if size is not None else declared
                    report.message(f"downloading {shown}")
                    for chunk in response.iter_bytes(_CHUNK):
                        done += len(chunk)
                        if done > cap:
                            raise IntegrityError(f"{shown} is larger than the expected {cap} bytes")
                        digest.update(chunk)
                        out.write(chunk)  # type: ignore[attr-defined]
                        report.advance(done, total)
                    break
            else:
                raise SidecarError(f"{shown}: too many redirects")
    except httpx.TimeoutException as exc:
        raise _Retryable(f"{shown} timed out ({type(exc).__name__})") from exc
    except (httpx.TransportError, httpx.StreamError) as exc:
        # Includes a body shorter than its Content-Length (RemoteProtocolError).
        raise _Retryable(f"{shown}: {type(exc).__name__}: {exc}") from exc
    if size is not None and done != size:
        raise IntegrityError(f"{shown} gave {done} bytes; the manifest says {size}")
    return digest.hexdigest()


def _content_length(response: httpx.Response) -> int | None:
    with contextlib.suppress(KeyError, ValueError):
        return int(response.headers["content-length"])
    return None
