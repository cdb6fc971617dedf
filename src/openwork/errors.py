"""The one exception tree. Translated to HTTP in ``openwork.api.envelope`` and to exit codes in
``openwork.cli.output``. (``supervisor.state.IllegalTransition`` is an AssertionError on purpose: a bug.)"""

from __future__ import annotations

import errno

__all__ = [
    "STORAGE_FULL_ERRNOS",
    "ArchiveError",
    "AuthError",
    "ConfigError",
    "ConflictError",
    "ForbiddenError",
    "GaveUp",
    "Held",
    "InsufficientStorage",
    "IntegrityError",
    "NotCached",
    "NotFoundError",
    "OpenworkError",
    "PayloadTooLarge",
    "PortInUse",
    "RequestTimeout",
    "ServerBusy",
    "SidecarError",
    "StartTimeout",
    "StoreError",
    "SupervisorError",
    "Unreachable",
    "ValidationError",
    "WireError",
    "WriteDenied",
    "storage_full",
]

# What the OS says when a write finds no room: the device (ENOSPC) or the user's quota (EDQUOT) is full.
STORAGE_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_SQLITE_FULL = 13  # SQLITE_FULL, sqlite3's "database or disk is full" (the low byte of extended codes)


class OpenworkError(Exception):
    """Something openwork knows how to explain went wrong."""

    code = "internal_error"
    status = 500
    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(OpenworkError):
    """The configuration (flags, environment, files) is invalid or impossible."""

    code = "invalid_request"
    status = 400
    exit_code = 2


class ValidationError(OpenworkError):
    """A request or argument is malformed."""

    code = "invalid_request"
    status = 400
    exit_code = 2


class PortInUse(ConfigError):
    """The listening port is already taken by another process."""


class AuthError(OpenworkError):
    """The caller presented no valid credentials."""

    code = "unauthorized"
    status = 401


class ForbiddenError(OpenworkError):
    """The caller is authenticated but may not do this."""

    code = "forbidden"
    status = 403


class NotFoundError(OpenworkError):
    """The named resource does not exist."""

    code = "not_found"
    status = 404


class ConflictError(OpenworkError):
    """The request conflicts with the current state."""

    code = "conflict"
    status = 409


class PayloadTooLarge(OpenworkError):
    """A request body is larger than its route allows."""

    code = "payload_too_large"
    status = 413


class RequestTimeout(OpenworkError):
    """A request body did not arrive before its deadline."""

    code = "request_timeout"
    status = 408


class WriteDenied(ForbiddenError):
    """The host denied a write, or did not decide in time; nothing was written."""

    code = "write_denied"


class Unreachable(OpenworkError):
    """No server answered at the URL."""


class WireError(OpenworkError):
    """The server could not be reached or answered something that is not HTTP (the thin CLI's wire)."""


class ServerBusy(OpenworkError):
    """A bounded resource stayed taken for longer than the request may wait; try again."""

    code = "busy"
    status = 503


class StoreError(OpenworkError):
    """Persistent state could not be read or written."""


class InsufficientStorage(StoreError):
    """A write found the disk (or the quota) holding state or workspace files full; nothing was written."""

    code = "insufficient_storage"
    status = 507


class Held(StoreError):
    """Another process holds the lock."""


class SidecarError(OpenworkError):
    """A sidecar binary could not be resolved, fetched or run."""


class NotCached(SidecarError):
    """A binary only a download would give, asked of a resolver that must not download."""


class ArchiveError(SidecarError):
    """A downloaded archive is malformed or unsafe to unpack."""

    code = "bad_archive"


class IntegrityError(SidecarError):
    """Downloaded or cached bytes do not match their expected hash or size."""


class SupervisorError(OpenworkError):
    """A supervised service could not be started or kept running."""

    code = "bad_gateway"
    status = 502


class StartTimeout(SupervisorError):
    """A service did not become healthy before its start deadline."""


class GaveUp(SupervisorError):
    """A service failed too many times in a row and will not be restarted."""


def storage_full(exc: BaseException | None, where: str) -> InsufficientStorage | None:
    """An :class:`InsufficientStorage` naming ``where`` when ``exc``, or an error it was raised from or
    while handling, says the disk or the quota is full; else ``None``.

    The chain is walked because the real cause often hides behind a later error (sqlite3's "cannot
    rollback" after a failed COMMIT). Use it where the OS or sqlite3 error is caught::

        raise storage_full(exc, str(path)) or StoreError(f"cannot write {path}") from exc
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        full_os = isinstance(exc, OSError) and exc.errno in STORAGE_FULL_ERRNOS
        # sqlite3 errors carry ``sqlite_errorcode``; read it by name so this module never imports sqlite3.
        full_db = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF == _SQLITE_FULL
        if full_os or full_db:
            return InsufficientStorage(
                f"no space left on the device holding {where} (the disk or the quota is full); nothing was written",
                hint="free space there, then retry",
            )
        exc = exc.__cause__ or exc.__context__
    return None
