"""Retry policy: parsing, exponential growth with jitter, the cap, Retry-After, the deadline."""

from __future__ import annotations

import random

import pytest

from pbx_bridge.delivery.policy import DEFAULT_POLICY, BadRetryPolicy, RetryPolicy


def test_parse() -> None:
    assert RetryPolicy.parse("1m..6h for 4d") == RetryPolicy(60, 21600, 345600)
    assert RetryPolicy.parse("") is DEFAULT_POLICY
    assert RetryPolicy.parse("0.5s..2s for 10s").first == 0.5
    for bad in ("soon", "1m..6h", "6h..1m for 1d", "0s..1s for 1d"):
        with pytest.raises(BadRetryPolicy):
            RetryPolicy.parse(bad)


def test_the_default_goes_from_minutes_to_hours_for_days() -> None:
    rng = random.Random(1)
    delays = [DEFAULT_POLICY.backoff(n, rng) for n in range(1, 15)]
    assert 45 <= delays[0] <= 75
    assert all(d <= DEFAULT_POLICY.cap for d in delays)
    assert delays[-1] >= 3600
    assert DEFAULT_POLICY.give_up_after >= 3 * 86400


def test_jitter_spreads_retries() -> None:
    rng = random.Random(2)
    assert len({round(DEFAULT_POLICY.backoff(3, rng), 3) for _ in range(20)}) > 10


def test_retry_after_is_honoured_and_the_deadline_ends_it() -> None:
    policy = RetryPolicy(1, 10, 100, jitter=0)
    assert policy.next_attempt(created=0, now=5, failures=1) == 6
    assert policy.next_attempt(created=0, now=5, failures=1, retry_after=30) == 35
    assert policy.next_attempt(created=0, now=95, failures=9) == 100  # last try on the deadline
    assert policy.next_attempt(created=0, now=100, failures=10) is None
