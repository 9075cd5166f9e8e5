"""Time schedules: [from, to) intervals on the wall clock, overnight rules, holidays."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from pbx_bridge.config.model import ScheduleRule, TimeSchedule
from pbx_bridge.config.source import Where
from pbx_bridge.routing.schedule import describe_rule, evaluate

HERE = Where("t.yaml", 1)
PARIS = ZoneInfo("Europe/Paris")


def schedule(*rules: ScheduleRule, holidays: tuple[date, ...] = ()) -> TimeSchedule:
    return TimeSchedule(HERE, {}, "s", rules, holidays)


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS)


def test_an_overnight_rule_runs_into_the_next_day() -> None:
    night = schedule(ScheduleRule(HERE, {}, frozenset({4}), time(22), time(6)))  # fri 22-06
    assert evaluate(night, local("2026-11-27T23:00")).open  # Friday evening
    assert evaluate(night, local("2026-11-28T05:59")).open  # Saturday early
    assert not evaluate(night, local("2026-11-28T06:00")).open
    assert not evaluate(night, local("2026-11-27T05:00")).open  # Friday early: Thursday unlisted


def test_24_00_closes_at_midnight() -> None:
    all_day = schedule(ScheduleRule(HERE, {}, frozenset({0}), time(0), time.max))
    assert evaluate(all_day, local("2026-11-23T23:59:59")).open
    assert not evaluate(all_day, local("2026-11-24T00:00")).open
    assert describe_rule(all_day.rules[0]) == "mon 00:00-24:00"


def test_a_holiday_wins_over_every_rule() -> None:
    s = schedule(ScheduleRule(HERE, {}, frozenset(range(7)), time(0), time.max),
                 holidays=(date(2026, 12, 25),))
    verdict = evaluate(s, local("2026-12-25T12:00"))
    assert (verdict.open, verdict.holiday) == (False, True)


def test_wall_clock_hours_in_the_repeated_autumn_hour() -> None:
    """02:30 happens twice on 2026-10-25 in Paris; a 02:00-03:00 rule is open both times."""
    s = schedule(ScheduleRule(HERE, {}, frozenset({6}), time(2), time(3)))

    def utc(text: str) -> datetime:
        return datetime.fromisoformat(text + "+00:00").astimezone(PARIS)

    assert utc("2026-10-25T00:30").strftime("%H:%M %Z") == "02:30 CEST"
    assert utc("2026-10-25T01:30").strftime("%H:%M %Z") == "02:30 CET"
    assert evaluate(s, utc("2026-10-25T00:30")).open
    assert evaluate(s, utc("2026-10-25T01:30")).open
    assert not evaluate(s, utc("2026-10-25T02:30")).open
    assert not evaluate(s, utc("2026-10-24T23:30")).open
