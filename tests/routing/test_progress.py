"""A call decided step by step (what the AGI router asks while the call runs), on acme.yaml."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from pbx_bridge.config.model import Config
from pbx_bridge.routing.progress import decide, step_at
from pbx_bridge.routing.resolve import UnknownNumber

NEW_YORK = ZoneInfo("America/New_York")
OPEN = datetime(2026, 11, 24, 10, 15, tzinfo=NEW_YORK)
CLOSED = datetime(2026, 11, 24, 21, 0, tzinfo=NEW_YORK)
MAIN, RECORDED = "12025550102", "12025550103"


def walk(acme: Config, number: str, outcomes: list[str], at: datetime = OPEN) -> list[str]:
    """The module/type of each step the PBX executes, feeding `outcomes` one by one."""
    seen, position = [], ""
    for outcome in ["", *outcomes]:
        decision = decide(acme, number, position, outcome, at)
        seen += [f"({p.type} {p.module})" for p in decision.passed]
        seen.append(f"{decision.step.type} {decision.step.module}")
        position = decision.position
        if decision.step.type == "hangup":
            break
    return seen


def test_open_hours_menu_then_key_1_rings_sales_then_voicemail(acme: Config) -> None:
    assert walk(acme, MAIN, ["KEY:1", "NOANSWER", "DONE"]) == [
        "(time_router office-hours)", "voice_menu menu", "ring_group sales",
        "voicemail sales-voicemail", "hangup sales-voicemail"]


def test_answered_ring_group_ends_the_call(acme: Config) -> None:
    assert walk(acme, MAIN, ["KEY:1", "ANSWER"])[-1] == "hangup sales"


def test_key_2_queue_timeout_goes_to_next(acme: Config) -> None:
    assert walk(acme, MAIN, ["KEY:2", "TIMEOUT"])[2:] == ["queue support",
                                                          "voicemail after-hours"]


def test_invalid_key_replays_the_menu_and_timeout_takes_on_timeout(acme: Config) -> None:
    assert walk(acme, MAIN, ["KEY:9", "TIMEOUT"])[1:] == ["voice_menu menu", "voice_menu menu",
                                                          "ring_group sales"]


def test_time_router_evaluated_at_each_decision(acme: Config) -> None:
    assert walk(acme, MAIN, [], at=CLOSED)[:2] == ["(time_router office-hours)",
                                                   "voicemail after-hours"]
    closed = decide(acme, MAIN, "", "", CLOSED)
    assert "closed: Tuesday 2026-11-24 21:00 EST is outside business-hours" in (
        closed.passed[0].reason)


def test_recorder_then_ring_then_notification_passed_on_the_way_out(acme: Config) -> None:
    assert walk(acme, RECORDED, ["DONE", "BUSY"]) == [
        "call_recorder record", "ring_group ring", "(notification notify)", "hangup notify"]


def test_direct_did_rings_then_when_unavailable(acme: Config) -> None:
    first = decide(acme, "+1 202 555 0100", "", "", OPEN)
    assert (first.kind, first.step.type, first.position) == ("direct_did", "contact_method",
                                                             "ring")
    assert first.step.destinations == ("front-desk",)
    after = decide(acme, "12025550100", "ring", "CHANUNAVAIL", OPEN)
    assert (after.step.type, after.step.greeting, after.position) == (
        "voicemail", "main-greeting", "after")
    assert after.step.delivery_methods == ("recordings-sftp", "archive-s3")
    assert decide(acme, "12025550100", "ring", "ANSWER", OPEN).step.type == "hangup"
    assert decide(acme, "12025550100", "after", "", OPEN).step.type == "hangup"


def test_app_user_outside_schedule_goes_straight_to_voicemail(acme: Config) -> None:
    decision = decide(acme, "12025550101", "", "", CLOSED)
    assert (decision.step.type, decision.position) == ("voicemail", "after")


def test_internal_number(acme: Config) -> None:
    decision = decide(acme, "103", "", "", OPEN)
    assert (decision.kind, decision.step.destinations) == ("internal", ("desk-3",))
    assert decide(acme, "103", "ring", "NOANSWER", OPEN).step.type == "hangup"  # nothing


def test_unknown_number_and_stale_position(acme: Config) -> None:
    with pytest.raises(UnknownNumber):
        decide(acme, "999", "", "", OPEN)
    assert decide(acme, MAIN, "m99", "NOANSWER", OPEN).step.type == "hangup"


def test_step_at_gives_the_voicemail_of_a_position(acme: Config) -> None:
    last = walk(acme, MAIN, ["KEY:1", "NOANSWER"])
    assert last[-1] == "voicemail sales-voicemail"
    position = decide(acme, MAIN, "m2", "NOANSWER", OPEN).position
    step = step_at(acme, MAIN, position, OPEN)
    assert step is not None and step.delivery_methods == ("ops-email",)
    direct = step_at(acme, "12025550100", "after", OPEN)
    assert direct is not None and direct.type == "voicemail"
