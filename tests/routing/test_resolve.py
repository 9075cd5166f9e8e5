"""The resolver on acme.yaml: where calls go at given instants, and why."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from pbx_bridge.config.model import Config
from pbx_bridge.routing.resolve import UnknownNumber, resolve

NEW_YORK = ZoneInfo("America/New_York")
MAIN_LINE, RECORDED_LINE = "12025550102", "12025550103"


def at(text: str) -> datetime:
    """An instant given as New York wall-clock time (acme's system time zone)."""
    return datetime.fromisoformat(text).replace(tzinfo=NEW_YORK)


def path(plan) -> list[tuple[str, str]]:
    return [(step.type, step.module) for step in plan.steps]


def test_weekday_open_hours_play_the_menu_then_ring_sales_then_voicemail(acme: Config) -> None:
    plan = resolve(acme, MAIN_LINE, "12025550123", at("2026-11-24T10:15"))
    assert plan.kind == "call_flow" and plan.target == "main-line"
    assert path(plan) == [("time_router", "office-hours"), ("voice_menu", "menu"),
                          ("ring_group", "sales"), ("voicemail", "sales-voicemail")]
    assert plan.steps[0].reason.endswith("open: Tuesday 2026-11-24 10:15 EST is within "
                                         "mon-fri 09:00-17:30 (business-hours)")
    sales = plan.steps[2]
    assert sales.destinations == ("desk-2", "desk-3", "bob-mobile") and sales.ring_time == 25
    assert sales.reason == "menu: no key pressed within 8 s"


def test_pressing_2_goes_to_the_support_queue(acme: Config) -> None:
    plan = resolve(acme, MAIN_LINE, "", at("2026-11-24T10:15"), presses="2")
    assert path(plan)[2:] == [("queue", "support"), ("voicemail", "after-hours")]
    assert plan.steps[2].max_wait == 600 and len(plan.steps[2].destinations) == 5
    assert plan.steps[2].reason == "menu: caller pressed 2"


def test_an_invalid_key_replays_the_menu(acme: Config) -> None:
    plan = resolve(acme, MAIN_LINE, "", at("2026-11-24T10:15"), presses="71")
    assert path(plan)[1:4] == [("voice_menu", "menu"), ("voice_menu", "menu"),
                               ("ring_group", "sales")]
    assert plan.steps[2].reason == "menu: caller pressed 7, not an option"


def test_closing_time_is_excluded_from_the_interval(acme: Config) -> None:
    assert resolve(acme, MAIN_LINE, "", at("2026-11-24T17:29")).steps[1].module == "menu"
    assert resolve(acme, MAIN_LINE, "", at("2026-11-24T17:30")).steps[1].module == "after-hours"
    assert resolve(acme, MAIN_LINE, "", at("2026-11-24T08:59")).steps[1].module == "after-hours"


def test_saturday_has_short_hours(acme: Config) -> None:
    open_ = resolve(acme, MAIN_LINE, "", at("2026-11-28T11:00"))
    assert open_.steps[1].module == "menu"
    assert "within sat 10:00-14:00" in open_.steps[0].reason
    closed = resolve(acme, MAIN_LINE, "", at("2026-11-28T14:00"))
    assert path(closed) == [("time_router", "office-hours"), ("voicemail", "after-hours")]
    assert "closed: Saturday 2026-11-28 14:00 EST is outside business-hours" in \
        closed.steps[0].reason


def test_sunday_is_closed(acme: Config) -> None:
    plan = resolve(acme, MAIN_LINE, "", at("2026-11-29T11:00"))
    assert path(plan)[-1] == ("voicemail", "after-hours")


def test_a_holiday_is_closed_all_day_even_in_open_hours(acme: Config) -> None:
    plan = resolve(acme, MAIN_LINE, "", at("2026-12-25T11:00"))  # a Friday
    assert path(plan) == [("time_router", "office-hours"), ("voicemail", "after-hours")]
    assert plan.steps[0].reason.endswith("closed: 2026-12-25 is a holiday of business-hours")
    assert plan.steps[1].reason == "office-hours: closed"


@pytest.mark.parametrize(("utc", "local", "is_open"), [
    # Spring forward (Sunday 2026-03-08 02:00 EST -> 03:00 EDT): the same UTC time of day
    # is 08:30 on the Friday before (closed) and 09:30 on the Monday after (open).
    ("2026-03-06T13:30:00+00:00", "2026-03-06T08:30:00-05:00", False),
    ("2026-03-09T13:30:00+00:00", "2026-03-09T09:30:00-04:00", True),
    # The hour either side of the change itself (a Sunday: closed on both sides).
    ("2026-03-08T06:30:00+00:00", "2026-03-08T01:30:00-05:00", False),
    ("2026-03-08T07:30:00+00:00", "2026-03-08T03:30:00-04:00", False),
    # Fall back (Sunday 2026-11-01 02:00 EDT -> 01:00 EST).
    ("2026-10-30T21:15:00+00:00", "2026-10-30T17:15:00-04:00", True),
    ("2026-11-02T21:15:00+00:00", "2026-11-02T16:15:00-05:00", True),
    ("2026-11-02T22:45:00+00:00", "2026-11-02T17:45:00-05:00", False),
    ("2026-11-01T05:30:00+00:00", "2026-11-01T01:30:00-04:00", False),
    ("2026-11-01T06:30:00+00:00", "2026-11-01T01:30:00-05:00", False),
])
def test_dst_changes_keep_wall_clock_hours(acme: Config, utc: str, local: str,
                                            is_open: bool) -> None:
    plan = resolve(acme, MAIN_LINE, "", datetime.fromisoformat(utc))
    assert plan.at == local
    assert (plan.steps[1].module == "menu") is is_open


def test_a_direct_did_rings_the_sip_account_then_its_voicemail(acme: Config) -> None:
    plan = resolve(acme, "+1 (202) 555-0100", "", at("2026-11-24T10:00"))
    assert (plan.number, plan.kind, plan.target) == ("12025550100", "direct_did", "front-desk")
    ring, voicemail = plan.steps
    assert (ring.type, ring.destinations, ring.ring_time) == ("contact_method",
                                                              ("front-desk",), 20)
    assert (voicemail.type, voicemail.greeting) == ("voicemail", "main-greeting")
    assert voicemail.delivery_methods == ("recordings-sftp", "archive-s3")
    assert voicemail.reason == ("front-desk did not answer within 20 s: when unavailable, "
                                "voicemail")


def test_an_app_user_outside_her_schedule_goes_straight_to_voicemail(acme: Config) -> None:
    plan = resolve(acme, "12025550101", "", at("2026-11-24T20:00"))
    assert path(plan) == [("voicemail", "alice")]
    assert "not rung, its user's time schedule is closed" in plan.steps[0].reason
    inside = resolve(acme, "12025550101", "", at("2026-11-24T10:00"))
    assert path(inside) == [("contact_method", "alice"), ("voicemail", "alice")]


def test_the_recorded_line_records_rings_then_notifies_and_ends(acme: Config) -> None:
    plan = resolve(acme, RECORDED_LINE, "", at("2026-11-24T10:00"))
    assert path(plan) == [("call_recorder", "record"), ("ring_group", "ring"),
                          ("notification", "notify"), ("hangup", "notify")]
    assert plan.steps[0].delivery_methods == ("archive-s3",)
    assert plan.steps[1].destinations == ("front-desk",) and plan.steps[1].ring_time == 20
    assert plan.steps[2].delivery_methods == ("ops-email",)


def test_an_internal_number_rings_its_contact_method(acme: Config) -> None:
    plan = resolve(acme, "103", "100", at("2026-11-24T10:00"))
    assert plan.kind == "internal"
    assert path(plan) == [("contact_method", "desk-3"), ("hangup", "desk-3")]


def test_an_unknown_number_is_refused(acme: Config) -> None:
    with pytest.raises(UnknownNumber, match="12025550199 is not a DID"):
        resolve(acme, "12025550199", "", at("2026-11-24T10:00"))
