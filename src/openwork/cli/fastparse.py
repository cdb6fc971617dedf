"""Read a command's flags from argv and the environment without click, for the common shapes only.

``parse`` returns exactly the keyword arguments click would pass, or ``None`` whenever it is not sure:
an unknown token, ``--help``, a repeated option, a value click might convert differently or reject.
It is only ever a guess made early (``openwork.cli.early``): click still parses the command line, and
the guess is used only if it equals click's result. A test holds the two to agreement.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from openwork.cli.flags import Flag

__all__ = ["parse"]

_TRUE = frozenset({"1", "true"})
_FALSE = frozenset({"0", "false"})


def parse(args: Sequence[str], flags: Sequence[Flag], environ: Mapping[str, str]) -> dict[str, object] | None:
    """The values of ``flags`` given ``args`` (what follows the command's name) and ``environ``."""
    table: dict[str, tuple[Flag, bool]] = {}
    for flag in flags:
        table.update({opt: (flag, True) for opt in flag.opts})
        if flag.off:
            table[flag.off] = (flag, False)
    given: dict[str, object] = {}
    repeated: dict[str, list[object]] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        name, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        hit = table.get(name)
        if hit is None:
            return None
        flag, on = hit
        value: object
        if flag.kind in ("flag", "switch"):
            if eq:
                return None
            value = on
        else:
            if not eq:
                if i >= len(args):
                    return None
                inline = args[i]
                i += 1
            converted = _convert(flag, inline)
            if converted is None:
                return None
            value = converted
        if flag.multiple:
            repeated.setdefault(flag.name, []).append(value)
        elif flag.name in given:
            return None
        else:
            given[flag.name] = value
    values: dict[str, object] = {}
    for flag in flags:
        if flag.multiple:
            if flag.envvar:
                return None  # none of ours has one; click splits such values on whitespace
            values[flag.name] = tuple(repeated.get(flag.name, ()))
        elif flag.name in given:
            values[flag.name] = given[flag.name]
        elif flag.envvar and environ.get(flag.envvar):  # click ignores an empty variable
            from_env = _from_env(flag, environ[flag.envvar])
            if from_env is None:
                return None
            values[flag.name] = from_env
        else:
            values[flag.name] = _default(flag)
    return values


def _default(flag: Flag) -> object:
    if flag.kind == "flag":
        return bool(flag.default)
    if flag.kind in ("dir", "file") and isinstance(flag.default, str):
        return Path(flag.default)
    return flag.default


def _from_env(flag: Flag, raw: str) -> object | None:
    if flag.kind in ("flag", "switch"):
        word = raw.lower()
        return True if word in _TRUE else False if word in _FALSE else None
    return _convert(flag, raw)


def _convert(flag: Flag, raw: str) -> object | None:
    """``raw`` as click's type for ``flag`` would convert it, or ``None`` when it might not (or would fail)."""
    if not raw or raw.startswith("-"):
        return None  # empty, "-" (stdin to click.Path), or what may be a mistyped option
    match flag.kind:
        case "str":
            return raw
        case "choice":
            return raw if raw in flag.choices else None
        case "int" | "float":
            number: float
            if raw.isascii() and raw.isdigit():
                number = int(raw)
            elif flag.kind == "float" and raw.count(".") == 1 and raw.replace(".", "").isdigit() and raw.isascii():
                number = float(raw)
            else:
                return None
            if flag.kind == "float":
                number = float(number)
            low, high = flag.bounds or (number, number)
            return number if low <= number <= high else None
        case "dir" | "file":
            return Path(raw) if _path_acceptable(flag, raw) else None
        case _:
            return None


def _path_acceptable(flag: Flag, raw: str) -> bool:
    """What click.Path checks: an existing path must be of the right kind and readable; ``exists``."""
    try:
        is_dir = os.path.isdir(raw)
        exists = is_dir or os.path.exists(raw)
    except (OSError, ValueError):
        return False
    if not exists:
        return not flag.exists
    if is_dir != (flag.kind == "dir"):
        return False
    return os.access(raw, os.R_OK)
