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

from openwork.errors import ConfigError, StoreError, ValidationError
from openwork.store.atomic import read_regular, write_atomic

__all__ = [
    "MAX_ENTRIES",
    "MAX_VALUE_CHARS",
    "REFUSED_NAMES",
    "REFUSED_PREFIXES",
    "RESERVED_PREFIXES",
    "env_store_path",
    "load_env_store",
    "save_env_store",
    "validate_env",
]

RESERVED_PREFIXES = ("OPENWORK_", "OPENCODE_")
# What changes how a program loads or what engine it drives, rather than what it does: a value here would
# run code in our children before their own (a host token could then reach past a sandbox). Refused.
REFUSED_PREFIXES = ("LD_", "DYLD_", "CONTAINERS_", "DOCKER_")
REFUSED_NAMES = frozenset({"NODE_OPTIONS", "BUN_OPTIONS", "CONTAINER_HOST", "PYTHONPATH", "PYTHONSTARTUP"})
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
        if key.upper().startswith(REFUSED_PREFIXES) or key.upper() in REFUSED_NAMES:
            raise ValidationError(f"{key}: changes how programs load (not allowed in the env store)")
        if not isinstance(value, str):
            raise ValidationError(f"{key}: the value must be a string")
        if not _is_text(key) or not _is_text(value):
            raise ValidationError(f"{key!a}: not text (a lone surrogate cannot be passed to a program)")
        if any(c in value for c in "\x00\r\n") or len(value) > MAX_VALUE_CHARS:
            # One line each: the sandbox passes them in an env file, where a newline would start a new variable.
            raise ValidationError(
                f"{key}: the value has a line break or NUL, or is longer than {MAX_VALUE_CHARS} characters"
            )
        checked[key] = value
    return checked


def load_env_store(path: Path | None = None) -> dict[str, str]:
    """The store's values; ``{}`` when there is no store. A file that is not a valid store (or not a
    regular file, or a symlink) is a ``ConfigError`` naming it; the caller decides whether to keep its last
    good values. A store others may read is made 0600."""
    path = path or env_store_path()
    try:
        raw = read_regular(path, max_bytes=MAX_FILE_BYTES, private=True)
    except StoreError as exc:
        raise ConfigError(f"the env store is not usable: {exc.message}") from None
    if raw is None:
        return {}
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


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
