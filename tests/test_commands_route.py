"""`pbx-bridge route` as an operator runs it: text for people, JSON as CONTRACT.md says."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pbx_bridge.cli import main
from tests.routing.conftest import ACME


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["route", str(ACME), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_plan_has_number_and_steps_with_the_contract_fields(capsys) -> None:
    code, out, _ = run(capsys, "--to", "12025550102", "--at", "2026-11-24T10:00", "--json")
    assert code == 0
    plan = json.loads(out)
    assert plan["number"] == "12025550102"
    assert [s["type"] for s in plan["steps"]] == ["time_router", "voice_menu", "ring_group",
                                                  "voicemail"]
    for step in plan["steps"]:
        assert {"module", "type", "reason"} <= step.keys()
    ring = plan["steps"][2]
    assert ring["module"] == "sales"
    assert ring["destinations"] == ["desk-2", "desk-3", "bob-mobile"]
    assert ring["ring_time"] == 25


def test_json_queue_step_has_max_wait(capsys) -> None:
    _, out, _ = run(capsys, "--to", "12025550102", "--at", "2026-11-24T10:00", "--press", "2",
                    "--json")
    queue = json.loads(out)["steps"][2]
    assert (queue["type"], queue["max_wait"]) == ("queue", 600)
    assert queue["destinations"][0] == "front-desk"


def test_json_direct_did_names_the_contact_method(capsys) -> None:
    _, out, _ = run(capsys, "--to", "+12025550100", "--at", "2026-11-24T10:00Z", "--json")
    steps = json.loads(out)["steps"]
    assert steps[0] == {"module": "front-desk", "type": "contact_method",
                        "reason": "12025550100 is a direct DID of SIP account front-desk",
                        "destinations": ["front-desk"], "ring_time": 20}
    assert steps[1]["type"] == "voicemail"


def test_text_output_says_what_happens_and_why(capsys) -> None:
    code, out, _ = run(capsys, "--to", "12025550102", "--at", "2026-12-25T11:00")
    assert code == 0
    assert "12025550102 at 2026-12-25T11:00:00-05:00: call flow main-line" in out
    assert "1. time_router office-hours: goes to after-hours" in out
    assert "why: start of call flow main-line; closed: 2026-12-25 is a holiday" in out
    assert "2. voicemail after-hours: plays main-greeting, records a message for ops-email, " \
           "recordings-sftp" in out


def test_an_unknown_number_exits_1(capsys) -> None:
    code, _, err = run(capsys, "--to", "999")
    assert code == 1
    assert "999 is not a DID or internal number of this system" in err


def test_a_bad_time_is_a_clear_error(capsys) -> None:
    code, _, err = run(capsys, "--to", "12025550102", "--at", "next tuesday")
    assert code == 2 and "is not an ISO-8601 time" in err


def test_the_console_script_runs_route() -> None:
    done = subprocess.run([sys.executable, "-m", "pbx_bridge.cli", "route", str(ACME), "--to",
                           "12025550103", "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["steps"][0]["type"] == "call_recorder"
