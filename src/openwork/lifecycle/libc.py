"""The C library, for the few Linux calls Python does not wrap (``prctl``, ``inotify``)."""

from __future__ import annotations

import ctypes
import functools
import sys

__all__ = ["libc"]


@functools.cache
def libc() -> ctypes.CDLL | None:
    """libc through ``dlopen(NULL)``: the interpreter already links it. ``ctypes.util.find_library``
    would run ``ldconfig -p`` first, tens of milliseconds on every start before opencode is spawned."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        lib = ctypes.CDLL(None, use_errno=True)
        lib.prctl  # noqa: B018 - a libc without prctl is not one we can use
    except (OSError, AttributeError):
        return None
    return lib
