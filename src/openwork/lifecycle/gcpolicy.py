"""Garbage collection around start-up.

Start-up allocates hundreds of thousands of objects that all live for the whole run (modules, classes,
pydantic schemas, route tables). With the default thresholds the collector scans them again and again
while they are being created, CPU spent while opencode boots on the same cores. So the
collector is held back until the server is ready; then ``gc.freeze`` moves everything start-up made
out of every later collection's way (it would survive them anyway). No full collection first: it
would stall the first requests to free a few start-up cycles (figures: docs/benchmarks.md).
"""

from __future__ import annotations

import gc

__all__ = ["START_UP_THRESHOLD", "relax_for_start_up", "settle_after_start_up"]

START_UP_THRESHOLD = 50_000  # young-generation allocations between collections while starting
_saved: tuple[int, int, int] | None = None


def relax_for_start_up() -> None:
    """Collect rarely until :func:`settle_after_start_up`. Idempotent."""
    global _saved
    if _saved is None:
        _saved = gc.get_threshold()
        gc.set_threshold(START_UP_THRESHOLD, _saved[1], _saved[2])


def settle_after_start_up() -> None:
    """Freeze what start-up made, restore the thresholds. A no-op unless relaxed."""
    global _saved
    if _saved is None:
        return
    gc.freeze()
    gc.set_threshold(*_saved)
    _saved = None
