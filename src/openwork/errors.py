"""The one exception tree. Translated to HTTP in ``api.errors`` and to exit codes in ``cli.output``."""

from __future__ import annotations

__all__ = [
    "AuthError",
    "ConfigError",
    "ConflictError",
    "ForbiddenError",
    "GaveUp",
    "IntegrityError",
    "NotFoundError",
    "OpenworkError",
    "PortInUse",
    "SidecarError",
    "StartTimeout",
    "StoreError",
    "SupervisorError",
    "ValidationError",
]


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


class StoreError(OpenworkError):
    """Persistent state could not be read or written."""


class SidecarError(OpenworkError):
    """A sidecar binary could not be resolved, fetched or run."""


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
