"""`pbx-bridge route` says what will be recorded and why (text and the `recording` JSON)."""

from __future__ import annotations

import json

import pytest

from pbx_bridge.cli import main
from tests.routing.conftest import ACME


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["route", str(ACME), "--at", "2026-11-24T10:00", *args])
    out, _ = capsys.readouterr()
    return code, out


def test_json_recording_field_for_a_call_recorder_flow(capsys) -> None:
    code, out = run(capsys, "--to", "12025550103", "--from", "15551112222", "--json")
    assert code == 0
    plan = json.loads(out)
    assert [s["type"] for s in plan["steps"]][:2] == ["call_recorder", "ring_group"]
    rec = plan["recording"]
    assert rec["caller_contact_method"] is None
    assert rec["call_recorders"] == [{"step": 1, "module": "record",
                                      "delivery_methods": ["archive-s3"]}]
    (answered,) = rec["if_answered"]
    assert answered == {
        "step": 2, "destination": "front-desk", "record": True,
        "delivery_methods": ["archive-s3", "recordings-sftp"],
        "reasons": ["call recorder record", "front-desk records inbound external calls"],
        "on_demand": ["front-desk"]}


def test_json_keeps_every_contract_field(capsys) -> None:
    _, out = run(capsys, "--to", "12025550102", "--json")
    plan = json.loads(out)
    assert {"number", "kind", "target", "at", "from", "steps", "recording"} <= plan.keys()
    ring = next(s for s in plan["steps"] if s["type"] == "ring_group")
    decisions = [d for d in plan["recording"]["if_answered"] if d["step"] == 3]
    assert [d["destination"] for d in decisions] == ring["destinations"]


def test_internal_call_reads_the_internal_flags(capsys) -> None:
    _, out = run(capsys, "--to", "101", "--from", "102", "--json")
    rec = json.loads(out)["recording"]
    assert rec["caller_contact_method"] == "desk-2"
    (answered,) = rec["if_answered"]
    assert not answered["record"]
    assert answered["reasons"] == [
        "desk-2 does not record outbound internal calls (outbound_internal off)",
        "alice does not record inbound internal calls (inbound_internal off)"]


def test_text_says_what_is_recorded_and_why(capsys) -> None:
    _, out = run(capsys, "--to", "12025550103")
    assert ("recording, if front-desk answers: recorded for archive-s3, recordings-sftp "
            "(call recorder record; front-desk records inbound external calls); "
            "on demand: front-desk") in out
