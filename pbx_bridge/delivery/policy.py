"""When to try again: exponential back-off with jitter, a cap, and a deadline. Pure.

A method's `retry: "1m..6h for 4d"` reads: first retry after about a minute, doubling, never
more than six hours apart, and give up (visibly, with an alert) four days after the job began.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = r"(\d+(?:\.\d+)?)\s*([smhd])"
_POLICY = re.compile(rf"^\s*{_DURATION}\s*\.\.\s*{_DURATION}\s+for\s+{_DURATION}\s*$")


class BadRetryPolicy(ValueError):
    pass


@dataclass(frozen=True)
class RetryPolicy:
    first: float = 60.0
    cap: float = 6 * 3600.0
    give_up_after: float = 4 * 86400.0
    jitter: float = 0.2  # ±20 %: many jobs failing together must not retry in lockstep

    @staticmethod
    def parse(text: str) -> RetryPolicy:
        if not text.strip():
            return DEFAULT_POLICY
        match = _POLICY.match(text)
        if not match:
            raise BadRetryPolicy(f"retry {text!r}: write it like \"1m..6h for 4d\" "
                                 "(units s, m, h, d)")
        first, cap, deadline = (float(match.group(i)) * _UNITS[match.group(i + 1)]
                                for i in (1, 3, 5))
        if first <= 0 or cap < first or deadline < first:
            raise BadRetryPolicy(f"retry {text!r}: need 0 < first <= cap and first <= deadline")
        return RetryPolicy(first, cap, deadline)

    def backoff(self, failures: int, rng: random.Random | None = None) -> float:
        """The pause after the `failures`-th failed attempt (1-based)."""
        base = min(self.cap, self.first * 2.0 ** max(failures - 1, 0))
        spread = (rng or random).uniform(1 - self.jitter, 1 + self.jitter)
        return min(self.cap, base * spread)

    def next_attempt(self, *, created: float, now: float, failures: int,
                     retry_after: float | None = None,
                     rng: random.Random | None = None) -> float | None:
        """When to try next, or None to give up. A server's Retry-After is honoured, even when
        it asks for longer than our own back-off; the last try lands on the deadline."""
        deadline = created + self.give_up_after
        if now >= deadline:
            return None
        delay = self.backoff(failures, rng)
        if retry_after is not None and retry_after > 0:
            delay = max(delay, retry_after)
        return min(now + delay, deadline)


DEFAULT_POLICY = RetryPolicy()
