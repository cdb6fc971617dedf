"""The user env store: ``{"KEY": "value"}`` in ``~/.config/openwork/env.json`` (``OPENWORK_ENV_STORE``
overrides), applied to every child we spawn (opencode, the router, the sandbox). It exists because a host
launched from a GUI lacks the shell's environment (API keys, proxies, PATH additions).

Keys are environment names; ``OPENWORK_*`` and ``OPENCODE_*`` are ours and refused, so a value in the
store can never change how the server itself or opencode's login behaves. The file is private (0600,
read without following a symlink) and written atomically; a corrupt file is an error that names it, and
the caller keeps the last good values.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from openwork.errors import ConfigError, ValidationError
from openwork.store.atomic import write_atomic

__all__ = [
    "MAX_ENTRIES",
    "MAX_VALUE_CHARS",
    "RESERVED_PREFIXES",
    "env_store_path",
    "load_env_store",
    "save_env_store",
    "validate_env",
]

RESERVED_PREFIXES = ("OPENWORK_", "OPENCODE_")
MAX_ENTRIES = 256
MAX_VALUE_CHARS = 32_768
MAX_FILE_BYTES = 1024 * 1024
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def env_store_path() -> Path:
    env = os.environ.get("OPENWORK_ENV_STORE", "").strip()
    return Path(env).expanduser() if env else Path.home() / ".config" / "openwork" / "env.json"


def validate_env(values: object) -> dict[str, str]:
    """The store's content, checked: an object of environment names to strings, no reserved key."""
    if not isinstance(values, dict):
        raise ValidationError('the env store is a JSON object: {"KEY": "value"}')
    if len(values) > MAX_ENTRIES:
        raise ValidationError(f"the env store holds at most {MAX_ENTRIES} variables")
    checked: dict[str, str] = {}
    for key, value in values.items():
        if not isinstance(key, str) or not _NAME.match(key):
            raise ValidationError(f"{key!r} is not an environment variable name (letters, digits, _)")
        if key.upper().startswith(RESERVED_PREFIXES):
            raise ValidationError(f"{key}: OPENWORK_* and OPENCODE_* are the server's own settings, not the store's")
        if not isinstance(value, str):
            raise ValidationError(f"{key}: the value must be a string")
        if any(c in value for c in "\x00\r\n") or len(value) > MAX_VALUE_CHARS:
            # One line each: the sandbox passes them in an env file, where a newline would start a new variable.
            raise ValidationError(
                f"{key}: the value has a line break or NUL, or is longer than {MAX_VALUE_CHARS} characters"
            )
        checked[key] = value
    return checked


def load_env_store(path: Path | None = None) -> dict[str, str]:
    """The store's values; ``{}`` when there is no store. A file that is not a valid store is a
    ``ConfigError`` naming it (the caller decides whether to keep its last good values)."""
    path = path or env_store_path()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read the env store {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        raw = handle.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"the env store {path} is larger than {MAX_FILE_BYTES} bytes")
    try:
        return validate_env(json.loads(raw.decode("utf-8")))
    except (ValueError, ValidationError) as exc:
        message = exc.message if isinstance(exc, ValidationError) else f"not valid JSON ({exc})"
        raise ConfigError(f"the env store {path} is not valid: {message}") from None


def save_env_store(values: dict[str, str], path: Path | None = None) -> dict[str, str]:
    """Validate and write the whole store atomically (0600); returns what was written."""
    checked = validate_env(values)
    path = path or env_store_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, json.dumps(checked, indent=2, sort_keys=True) + "\n", mode=0o600)
    return checked
