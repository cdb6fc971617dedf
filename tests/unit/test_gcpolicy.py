"""Start-up GC policy: the collector is held back while starting, then restored, with start-up frozen."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from openwork.lifecycle import gcpolicy


@pytest.fixture
def restore_gc() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*saved)


@pytest.mark.usefixtures("restore_gc")
def test_relax_then_settle_restores_the_thresholds_and_freezes_what_exists() -> None:
    before = gc.get_threshold()
    gcpolicy.relax_for_start_up()
    gcpolicy.relax_for_start_up()  # idempotent: the saved thresholds are the original ones
    assert gc.get_threshold()[0] == gcpolicy.START_UP_THRESHOLD
    gcpolicy.settle_after_start_up()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() > 0
    gcpolicy.settle_after_start_up()  # a no-op once settled
    assert gc.get_threshold() == before
