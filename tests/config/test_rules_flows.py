"""Contract rules about call flows: ring groups, queues, references, loops of instant modules."""

from __future__ import annotations

import pytest

from tests.config.checking import MINIMAL, Checker, edited

SALES = "destinations: [desk-1, desk-2]"
SUPPORT = "members: [desk-1, desk-2, alice, mobile]"
MENU = "      menu:\n        type: voice_menu\n"


# -- ring groups: 1 to 3 destinations, at most 60 s -------------------------------------------
def test_ring_group_with_four_destinations_is_refused_with_use_a_queue(check: Checker) -> None:
    result = check.minimal_with(SALES, "destinations: [desk-1, desk-2, alice, mobile]")
    message = result.only_error_at("destinations: [desk-1, desk-2, alice, mobile]")
    assert message == ("call_flows[main].modules.sales.destinations: a ring group has 1 to 3 "
                       "destinations, this one has 4: use a queue for 4 or more")


def test_ring_group_with_no_destination_is_refused(check: Checker) -> None:
    result = check.minimal_with(SALES, "destinations: []")
    message = result.only_error_at("destinations: []")
    assert message == ("call_flows[main].modules.sales.destinations: a ring group needs 1 to 3 "
                       "destinations")


def test_ring_group_with_three_destinations_ringing_60_seconds_passes(check: Checker) -> None:
    check(edited(MINIMAL, {SALES: "destinations: [desk-1, desk-2, alice]",
                           "ring_time: 20": "ring_time: 60"})).assert_valid()


def test_ring_group_ringing_longer_than_60_seconds_is_refused(check: Checker) -> None:
    result = check.minimal_with("ring_time: 20", "ring_time: 61")
    message = result.only_error_at("ring_time: 61")
    assert message == ("call_flows[main].modules.sales.ring_time: a ring group rings at most "
                       "60 s, not 61")


# -- queues: 4 or more members, at most 900 s of waiting --------------------------------------
def test_queue_waiting_longer_than_900_seconds_is_refused(check: Checker) -> None:
    result = check.minimal_with("max_wait: 300", "max_wait: 901")
    message = result.only_error_at("max_wait: 901")
    assert message == ("call_flows[main].modules.support.max_wait: a caller waits in a queue at "
                       "most 900 s (15 min), not 901")


def test_queue_waiting_900_seconds_passes(check: Checker) -> None:
    check.minimal_with("max_wait: 300", "max_wait: 900").assert_valid()


def test_queue_with_three_members_is_refused_with_use_a_ring_group(check: Checker) -> None:
    result = check.minimal_with(SUPPORT, "members: [desk-1, desk-2, alice]")
    message = result.only_error_at("members: [desk-1, desk-2, alice]")
    assert message == ("call_flows[main].modules.support.members: a queue has at least 4 "
                       "members, this one has 3: use a ring group for 1 to 3")


# -- every reference must exist -----------------------------------------------------------------
FIX = "define it, or fix the name"


@pytest.mark.parametrize(("old", "new", "expected"), [
    # modules, within their call flow
    ("start: hours", "start: hour",
     "call flow main: start: no module named 'hour' in its modules; add it, or start with one "
     "of: hours, menu, sales, support, voicemail"),
    ("open: menu", "open: menuu",
     "call flow main, module hours: open: no module named 'menuu' in this call flow; add it, "
     "or use one of: hours, menu, sales, support, voicemail"),
    ("closed: voicemail", "closed: vm", "module hours: closed: no module named 'vm'"),
    ('options: {"1": sales, "2": support}', 'options: {"1": sales, "2": suport}',
     "call flow main, module menu: options.2: no module named 'suport'"),
    ("on_timeout: sales", "on_timeout: sale", "module menu: on_timeout: no module named 'sale'"),
    ("next: voicemail\n      support:", "next: voicemal\n      support:",
     "module sales: next: no module named 'voicemal'"),
    # contact methods, including a user's app configuration by the user's name
    (SALES, "destinations: [desk-1, desk-9]",
     f"call flow main, module sales: no contact method named 'desk-9'; {FIX} (known: alice, "
     "desk-1, desk-2, mobile)"),
    (SUPPORT, "members: [desk-1, desk-2, alicia, mobile]",
     f"call flow main, module support: no contact method named 'alicia'; {FIX}"),
    ("value: desk-1}", "value: desk-9}",
     f"sms 33100000001: no contact method named 'desk-9'; {FIX}"),
    # delivery methods
    ("delivery_methods: [archive]", "delivery_methods: [archve]",
     f"contact method desk-2: recording: no delivery method named 'archve'; {FIX} (known: "
     "archive, ops-email)"),
    ("delivery_methods: [ops-email]", "delivery_methods: [ops-mail]",
     f"call flow main, module voicemail: no delivery method named 'ops-mail'; {FIX}"),
    ("  - name: archive\n", "  - name: archive\n    fallback: nowhere\n",
     f"delivery method archive: fallback: no delivery method named 'nowhere'; {FIX}"),
    # schedules
    ("        schedule: office", "        schedule: ofice",
     f"call flow main, module hours: no time schedule named 'ofice'; {FIX} (known: office)"),
    ("time_schedule: office", "time_schedule: ofice",
     f"user alice: no time schedule named 'ofice'; {FIX}"),
    # audio files
    ("greeting: greeting}", "greeting: welcome}",
     f"contact method desk-1: when_unavailable: no audio file named 'welcome'; {FIX} (known: "
     "greeting)"),
    ("greeting: greeting\n        options", "greeting: welcome\n        options",
     f"call flow main, module menu: no audio file named 'welcome'; {FIX}"),
], ids=["start", "time_router_open", "time_router_closed", "menu_option", "menu_timeout",
        "ring_group_next", "ring_group_destination", "queue_member", "sms_device",
        "recording_delivery", "voicemail_delivery", "delivery_fallback", "router_schedule",
        "user_schedule", "unavailable_greeting", "menu_greeting"])
def test_reference_to_something_that_does_not_exist_is_refused(
        check: Checker, old: str, new: str, expected: str) -> None:
    result = check.minimal_with(old, new)
    changed_line = next(line for line in new.splitlines() if line not in old.splitlines())
    message = result.only_error_at(changed_line.strip())
    assert expected in message


def test_a_users_app_configuration_is_referred_to_by_the_users_name(check: Checker) -> None:
    check.minimal_with(SALES, "destinations: [alice]").assert_valid()


def test_a_user_without_app_configuration_cannot_be_rung(check: Checker) -> None:
    result = check.minimal_with(SALES, "destinations: [desk-1, bob]")
    message = result.only_error_at("destinations: [desk-1, bob]")
    assert message == ("call flow main, module sales: user 'bob' has no app_configuration, so "
                       "there is nothing of theirs to ring; add one to the user, or name a "
                       "contact method")


def test_a_user_that_does_not_exist_cannot_be_rung(check: Checker) -> None:
    result = check.minimal_with(SALES, "destinations: [desk-1, carol]")
    assert "no contact method named 'carol'" in result.only_error_at("[desk-1, carol]")


def test_a_delivery_method_cannot_fall_back_to_itself(check: Checker) -> None:
    result = check.minimal_with("  - name: archive\n", "  - name: archive\n    fallback: archive\n")
    message = result.only_error_at("fallback: archive")
    assert message == "delivery method archive: fallback cannot be the method itself"


# -- loops of modules that take no time ---------------------------------------------------------
def test_time_router_routing_to_itself_is_refused(check: Checker) -> None:
    result = check.minimal_with("closed: voicemail", "closed: hours")
    message = result.only_error_at("closed: hours")
    assert message.startswith("call flow main: hours -> hours loops without the call waiting "
                              "anywhere")
    assert message.endswith("route it to a module that rings, plays or records")


def test_loop_through_a_recorder_and_a_notification_is_refused_where_it_closes(
        check: Checker) -> None:
    result = check(edited(MINIMAL, {
        "open: menu": "open: record",
        MENU: ("      record:\n        type: call_recorder\n        next: notify\n"
               "      notify:\n        type: notification\n        next: hours  # back\n" + MENU),
    }))
    message = result.only_error_at("# back")
    assert message.startswith("call flow main: hours -> record -> notify -> hours loops without "
                              "the call waiting anywhere (time routers, call recorders and "
                              "notifications take no time)")


def test_two_notifications_passing_the_call_to_each_other_are_refused(check: Checker) -> None:
    result = check(edited(MINIMAL, {
        "closed: voicemail": "closed: tell-a",
        MENU: ("      tell-a:\n        type: notification\n        next: tell-b\n"
               "      tell-b:\n        type: notification\n        next: tell-a  # back\n" + MENU),
    }))
    assert "tell-a -> tell-b -> tell-a loops" in result.only_error_at("# back")


def test_voice_menu_may_repeat_itself(check: Checker) -> None:
    check(edited(MINIMAL, {'"2": support}': '"2": support, "9": menu}',
                           "on_timeout: sales": "on_timeout: menu"})).assert_valid()


def test_voice_menu_may_go_back_to_a_time_router(check: Checker) -> None:
    check.minimal_with("on_timeout: sales", "on_timeout: hours").assert_valid()


def test_ring_group_may_fail_over_to_a_ring_group(check: Checker) -> None:
    check(edited(MINIMAL, {
        "next: voicemail\n      support:": "next: overflow\n      support:",
        MENU: ("      overflow:\n        type: ring_group\n        destinations: [mobile]\n"
               "        next: sales\n" + MENU),
    })).assert_valid()


def test_a_recorder_before_a_ring_group_that_comes_back_is_no_loop(check: Checker) -> None:
    check(edited(MINIMAL, {
        "open: menu": "open: record",
        MENU: "      record:\n        type: call_recorder\n        next: sales\n" + MENU,
        "next: voicemail\n      support:": "next: record\n      support:",
    })).assert_valid()


def test_with_many_names_a_missing_reference_suggests_the_closest_instead_of_listing_all(
        check: Checker) -> None:
    extra = "".join(f"    - name: phone-{n}\n      number: \"3360000{n:04d}\"\n"
                    for n in range(20))
    result = check(edited(MINIMAL, {
        "  pstn_forwardings:\n": f"  pstn_forwardings:\n{extra}",
        "destinations: [desk-1, desk-2]": "destinations: [desk-1, phone-7x]",
    }))
    message = result.only_error_at("destinations: [desk-1, phone-7x]")
    assert message.endswith("no contact method named 'phone-7x'; define it, or fix the name "
                            "(did you mean 'phone-7' or 'phone-17' or 'phone-9'? 24 are defined)")
