"""Progress for long CLI work: a rich bar on a terminal, one line per step otherwise, nothing with --json."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

import click

__all__ = ["TerminalProgress"]


class TerminalProgress:
    """Implements ``openwork.sidecars.progress.Progress``; use as a context manager."""

    def __init__(self, *, quiet: bool) -> None:
        self._quiet = quiet
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> TerminalProgress:
        if not self._quiet and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

            self._bar = Progress(
                "{task.description}",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()

    def message(self, text: str) -> None:
        if self._quiet:
            return
        if self._bar is not None:
            self._bar.console.print(text)
        else:
            click.echo(text, err=True)

    def advance(self, done: int, total: int | None) -> None:
        if self._bar is None:
            return
        if self._task is None:
            self._task = self._bar.add_task("downloading", total=total)
        self._bar.update(self._task, completed=done, total=total)
