from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openwork.errors import ConfigError
from openwork.supervisor.policy import RestartPolicy


def test_default_schedule_doubles_from_half_a_second_to_thirty() -> None:
    policy = RestartPolicy()
    assert [policy.delay_for(n) for n in range(1, 10)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]


@given(st.integers(min_value=1, max_value=10_000))
def test_delay_is_monotonic_and_capped(failures: int) -> None:
    policy = RestartPolicy()
    assert policy.delay_for(failures) <= policy.max_delay
    assert policy.delay_for(failures) <= policy.delay_for(failures + 1)


@pytest.mark.parametrize(
    "kwargs",
    [{"initial_delay": -1}, {"initial_delay": 5, "max_delay": 1}, {"max_failures": 0}, {"start_timeout": 0}],
)
def test_impossible_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        RestartPolicy(**kwargs)  # type: ignore[arg-type]
