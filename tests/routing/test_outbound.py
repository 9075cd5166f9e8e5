"""Calls a contact method makes: which caller ID goes out, and what is refused."""

from __future__ import annotations

from pbx_bridge.config.model import Config
from pbx_bridge.routing.outbound import internal_caller_id, is_did, is_ours, outbound


def test_allowed_caller_id_asked_for_is_used(acme: Config) -> None:
    alice = acme.contact_method("alice")
    assert alice is not None
    call = outbound(acme, alice, "+1 (202) 555-9999", "+12025550101")
    assert (call.allowed, call.number, call.trunk, call.caller_id) == (
        True, "12025559999", "carrier-trunk", "12025550101")


def test_no_caller_id_asked_gives_the_first_allowed(acme: Config) -> None:
    alice = acme.contact_method("alice")
    assert alice is not None
    for asked in ("", "101", "app-alice", "alice"):
        assert outbound(acme, alice, "12025559999", asked, "app-alice").caller_id == "12025550101"


def test_other_caller_id_refused_naming_it(acme: Config) -> None:
    alice = acme.contact_method("alice")
    assert alice is not None
    call = outbound(acme, alice, "12025559999", "12025550100\r\nX: y")
    assert not call.allowed
    assert call.reason.startswith("caller ID '12025550100X: y' is not allowed for alice")


def test_external_calls_off_refused(acme: Config) -> None:
    desk = acme.contact_method("desk-2")
    assert desk is not None
    call = outbound(acme, desk, "12025559999", "")
    assert not call.allowed and "may not make external calls" in call.reason


def test_internal_numbers_and_dids_are_ours(acme: Config) -> None:
    assert is_ours(acme, "103") and is_ours(acme, "+12025550102")
    assert not is_ours(acme, "12025559999")
    assert is_did(acme, "12025550100") and is_did(acme, "12025550102")
    assert not is_did(acme, "103")
    desk = acme.contact_method("desk-2")
    assert desk is not None and internal_caller_id(desk) == "102"
