"""click options from the flag table (``openwork.cli.flags``): the one place a ``Flag`` becomes click."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from openwork.cli.flags import Flag

__all__ = ["click_option", "with_flags"]


def _type(flag: Flag) -> click.ParamType[Any] | None:
    low, high = flag.bounds or (None, None)
    match flag.kind:
        case "int":
            return click.IntRange(None if low is None else int(low), None if high is None else int(high))
        case "float":
            return click.FloatRange(low, high)
        case "choice":
            return click.Choice(flag.choices)
        case "dir":
            return click.Path(file_okay=False, path_type=Path)
        case "file":
            return click.Path(dir_okay=False, exists=flag.exists, path_type=Path)
        case _:
            return None  # str, flag, switch: click's own


def click_option(flag: Flag) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    # A switch is declared "--x/--no-x"; the keyword name is given explicitly either way.
    decls = [f"{flag.opts[0]}/{flag.off}", flag.name] if flag.kind == "switch" else [*flag.opts, flag.name]
    extra: dict[str, Any] = {}
    if flag.kind == "flag":
        extra["is_flag"] = True
    if flag.default is not None or flag.kind == "switch":
        extra["default"] = flag.default
    if flag.envvar:
        extra["envvar"] = flag.envvar
    if flag.metavar:
        extra["metavar"] = flag.metavar
    return click.option(
        *decls,
        type=_type(flag),
        multiple=flag.multiple,
        show_default=flag.show_default,
        help=flag.help,
        **extra,
    )


def with_flags(flags: Iterable[Flag]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator adding ``flags`` as options, listed in ``--help`` in the table's order."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for flag in reversed(tuple(flags)):
            func = click_option(flag)(func)
        return func

    return decorate
