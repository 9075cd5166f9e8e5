"""The recording precedence rule, one case per clause of recording_policy's docstring."""

from __future__ import annotations

import itertools

import pytest

from pbx_bridge.calls.recording_policy import (
    Recorder,
    decide,
    flag_for,
    on_demand_methods,
)
from pbx_bridge.config.model import ContactMethod, Recording
from pbx_bridge.config.source import Where

HERE = Where("t.yaml", 1)


def cm(name: str, *flags: str, methods: tuple[str, ...] = ("m-x",),
       on_demand: bool = False) -> ContactMethod:
    rec = Recording(HERE, delivery_methods=methods, on_demand=on_demand,
                    **{flag: True for flag in flags})
    return ContactMethod(HERE, name=name, recording=rec)


def test_flag_each_side_reads() -> None:
    assert flag_for(placing=True, other_is_ours=False) == "outbound_external"
    assert flag_for(placing=True, other_is_ours=True) == "outbound_internal"
    assert flag_for(placing=False, other_is_ours=False) == "inbound_external"
    assert flag_for(placing=False, other_is_ours=True) == "inbound_internal"


@pytest.mark.parametrize("flag", Recording.FLAGS)
def test_exactly_one_situation_per_flag(flag: str) -> None:
    """A contact method with one flag on is recorded in exactly one of the four situations."""
    me = cm("me", flag, methods=("mine",))
    situations = {
        "outbound_external": decide(me, None),
        "outbound_internal": decide(me, cm("peer", methods=())),
        "inbound_external": decide(None, me),
        "inbound_internal": decide(cm("peer", methods=()), me),
    }
    assert {name for name, d in situations.items() if d.record} == {flag}
    assert situations[flag].delivery_methods == ("mine",)


def test_external_inbound_to_desk() -> None:
    d = decide(None, cm("desk", "inbound_external", methods=("sftp", "s3")))
    assert d.record and d.delivery_methods == ("sftp", "s3")
    assert d.reasons == ("desk records inbound external calls",)


def test_one_request_is_enough_nobody_vetoes() -> None:
    caller = cm("alice", "outbound_internal", methods=("a",))
    callee = cm("bob", methods=("b",))  # every flag off
    d = decide(caller, callee)
    assert d.record and d.delivery_methods == ("a",)
    assert "bob does not record inbound internal calls (inbound_internal off)" in d.reasons


def test_union_in_order_without_duplicates() -> None:
    caller = cm("alice", "outbound_internal", methods=("shared", "a"))
    callee = cm("bob", "inbound_internal", methods=("b", "shared"))
    d = decide(caller, callee, [Recorder("rec", ("archive", "shared"))])
    assert d.delivery_methods == ("archive", "shared", "a", "b")
    assert d.reasons[0] == "call recorder rec"


def test_call_recorder_alone_records() -> None:
    d = decide(None, cm("desk"), [Recorder("rec", ("archive",))])
    assert d.record and d.delivery_methods == ("archive",)


def test_a_request_with_no_delivery_method_does_not_count() -> None:
    d = decide(None, cm("desk", "inbound_external", methods=()),
               [Recorder("rec", ())])
    assert not d.record and d.delivery_methods == ()
    assert "desk records inbound external calls but has no delivery method: ignored" in d.reasons
    assert "call recorder rec has no delivery method: ignored" in d.reasons


def test_nobody_of_ours() -> None:
    d = decide(None, None)
    assert not d.record
    assert d.summary() == ("not recorded (no side of the call is a contact method of this "
                           "system)")


def test_on_demand() -> None:
    desk = cm("desk", on_demand=True, methods=("od",))
    d = decide(None, desk)
    assert not d.record and d.on_demand == ("desk",)
    assert d.summary().endswith("; on demand: desk")
    assert on_demand_methods(desk) == ("od",)
    assert on_demand_methods(cm("plain")) == ()
    assert on_demand_methods(None) == ()
    assert decide(None, cm("x", on_demand=True, methods=())).on_demand == ()


def test_decision_is_symmetric_in_who_asks() -> None:
    """Whatever the flags, the call is recorded iff some side (or recorder) asks with methods."""
    for a_flags, b_flags in itertools.product(
            itertools.combinations(Recording.FLAGS, 1), repeat=2):
        a, b = cm("a", *a_flags, methods=("A",)), cm("b", *b_flags, methods=("B",))
        d = decide(a, b)
        expected = tuple(m for m, asks in (("A", "outbound_internal" in a_flags),
                                           ("B", "inbound_internal" in b_flags)) if asks)
        assert d.delivery_methods == expected


def test_as_json() -> None:
    d = decide(None, cm("desk", "inbound_external", methods=("s",), on_demand=True))
    assert d.as_json() == {"record": True, "delivery_methods": ["s"],
                           "reasons": ["desk records inbound external calls"],
                           "on_demand": ["desk"]}


def test_before_answer_one_callee_is_decide_several_only_the_caller() -> None:
    from pbx_bridge.calls.recording_policy import decide_before_answer

    desk = cm("desk", "inbound_external", methods=("desk-m",))
    other = cm("other", "inbound_internal", methods=("other-m",))
    caller = cm("caller", "outbound_internal", methods=("caller-m",))
    assert decide_before_answer(None, [desk]) == decide(None, desk)
    assert decide_before_answer(caller, []) == decide(caller, None)
    several = decide_before_answer(None, [desk, other])
    assert not several.record and "may answer" in several.reasons[-1]
    asked = decide_before_answer(caller, [desk, other])
    assert asked.record and asked.delivery_methods == ("caller-m",)


def test_if_answered_by_lists_the_members_that_would_ask() -> None:
    from pbx_bridge.calls.recording_policy import if_answered_by

    ext = cm("ext", "inbound_external", methods=("ext-m",))
    inner = cm("inner", "inbound_internal", methods=("inner-m",))
    silent = cm("silent", "inbound_external", methods=())
    caller = cm("caller")
    assert if_answered_by(None, [ext]) == {}  # one callee: decide() counts it already
    assert if_answered_by(None, [ext, inner, silent]) == {"ext": ("ext-m",)}
    assert if_answered_by(caller, [ext, inner]) == {"inner": ("inner-m",)}
