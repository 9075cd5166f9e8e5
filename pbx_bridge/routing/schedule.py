"""Is a time schedule open at a local wall-clock time? Pure; the caller supplies the time.

Intervals are `[from, to)` in the system time zone's wall clock, so a rule keeps meaning
"09:00 to 17:30" on both sides of a DST change. A rule whose `to` is at or before its `from`
runs past midnight into the next day. Holidays close the whole local day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from pbx_bridge.config.model import ScheduleRule, TimeSchedule

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Verdict:
    open: bool
    holiday: bool
    reason: str


def _clock(value: time) -> str:
    return "24:00" if value == time.max else value.strftime("%H:%M")


def describe_rule(rule: ScheduleRule) -> str:
    days = sorted(rule.days)
    if len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
        day_text = f"{DAY_NAMES[days[0]]}-{DAY_NAMES[days[-1]]}"
    else:
        day_text = ",".join(DAY_NAMES[d] for d in days)
    return f"{day_text} {_clock(rule.start)}-{_clock(rule.end)}"


def _matches(rule: ScheduleRule, local: datetime) -> bool:
    now, weekday = local.time(), local.weekday()
    if rule.start < rule.end:
        return weekday in rule.days and rule.start <= now < rule.end
    # Past midnight: the evening part today, or the early part of the day after a listed day.
    return (weekday in rule.days and now >= rule.start) or (
        (weekday - 1) % 7 in rule.days and now < rule.end
    )


def evaluate(schedule: TimeSchedule, local: datetime) -> Verdict:
    """`local` is an aware datetime already in the system time zone."""
    stamp = f"{local.strftime('%A %Y-%m-%d %H:%M')} {local.tzname()}"
    day = local.date()
    if day in schedule.holidays:
        return Verdict(False, True, f"closed: {day.isoformat()} is a holiday of {schedule.name}")
    for rule in schedule.rules:
        if _matches(rule, local):
            return Verdict(True, False, f"open: {stamp} is within {describe_rule(rule)} "
                                        f"({schedule.name})")
    return Verdict(False, False, f"closed: {stamp} is outside {schedule.name}")
