"""What the demo decides before anything starts (pure): the sample calls of config/example.yaml
and their expected outcomes, the run's secrets, and how a call's report is judged."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbx_bridge.config.load import load_config
from pbx_bridge.lab.demo_bridge import FileReport
from pbx_bridge.lab.demo_calls import CallReport, describe, expectation_problems
from pbx_bridge.lab.demo_plan import (
    ANSWER,
    BUSY,
    NOANSWER,
    endpoints,
    first_scenarios,
    give_secrets,
    sample_calls,
    unknown_number,
)
from pbx_bridge.lab.recordings import WavStats
from pbx_bridge.lab.sipp import CarrierResult
from pbx_bridge.store import Job

EXAMPLE = Path(__file__).parents[2] / "config" / "example.yaml"


@pytest.fixture(scope="module")
def example():
    loaded = load_config(EXAMPLE)
    assert loaded.ok
    return loaded.config


def test_the_sample_calls_of_the_example_office(example) -> None:
    calls = sample_calls(example)
    summary = [(c.did, c.at.strftime("%a %Y-%m-%d %H:%M %Z"), c.keys, c.expect, c.answered_by,
                c.recorded, c.files) for c in calls]
    assert summary == [
        ("33170000102", "Tue 2026-11-24 10:00 CET", "1", "answered", "sales2", True, 1),
        ("33170000102", "Fri 2026-12-25 10:00 CET", "", "voicemail", "", False, 1),
        ("33170000100", "Tue 2026-11-24 10:00 CET", "", "answered", "reception", False, 0),
        ("33170000100", "Tue 2026-11-24 10:00 CET", "", "voicemail", "", False, 1),
        ("33170000199", "Tue 2026-11-24 10:00 CET", "", "refused", "", False, 0),
    ]
    assert calls[0].phones == {"sales1": NOANSWER, "sales2": ANSWER, "app-claire": NOANSWER}
    assert calls[3].phones == {"reception": BUSY}
    assert len({c.caller for c in calls}) == len(calls)  # distinct names in the delivery log
    assert [s.module for s in calls[0].plan.steps] == ["hours", "record", "menu", "sales",
                                                       "after-hours"]


def test_phones_register_once_as_their_first_call_needs(example) -> None:
    calls = sample_calls(example)
    assert first_scenarios(calls, list(endpoints(example))) == {
        "reception": ANSWER, "sales1": NOANSWER, "sales2": ANSWER, "app-claire": NOANSWER}


def test_every_env_secret_gets_a_fresh_value_and_only_names_come_back(example) -> None:
    environ: dict[str, str] = {"PBX_BRIDGE_AMI_SECRET": "old"}
    names = give_secrets(example, environ)
    assert names == ["PBX_BRIDGE_AMI_SECRET", "PBX_BRIDGE_RECEPTION_PASSWORD",
                     "PBX_BRIDGE_SALES1_PASSWORD", "PBX_BRIDGE_SALES2_PASSWORD",
                     "PBX_BRIDGE_SMTP_PASSWORD"]
    assert environ["PBX_BRIDGE_AMI_SECRET"] != "old"
    assert len(set(environ.values())) == 5 and all(len(v) >= 20 for v in environ.values())


def test_the_unknown_number_is_no_did(example) -> None:
    number = unknown_number(example)
    assert number not in example.numbers and example.call_flow_for(number) is None
    assert example.contact_method_for_did(number) is None


def _job(job_id: int, file: str) -> Job:
    return Job(job_id, file, "recordings-local", {}, "x", 0.0, "queued", 0.0)


def _report(example, index: int, **kw) -> CallReport:
    return CallReport(sample_calls(example)[index], uniqueid="1795421377.0",
                      carrier=CarrierResult(0, 6.0, ""), **kw)


def test_a_call_as_the_resolver_said_has_no_problems(example) -> None:
    recording = FileReport("call", Path("/r/call-1795421377.0-m1.wav"),
                           [_job(3, "/r/call-1795421377.0-m1.wav")], WavStats(6.0, 8000, 1, 3000))
    steps = [{"event": "call_step", "step": t, "module": m, "reason": r} for t, m, r in (
        ("time_router", "hours", "start; open: Tuesday"), ("call_recorder", "record", "x"),
        ("voice_menu", "menu", "x"), ("ring_group", "sales", "menu: caller pressed 1"))]
    report = _report(example, 0, steps=steps, files=[recording],
                     legs={"sales1": "CANCEL", "sales2": "ANSWER", "app-claire": "CANCEL"})
    assert expectation_problems(report) == []
    lines = describe(report, {"sales1": "sales-1", "sales2": "sales-2", "app-claire": "claire"})
    assert lines[0] == ("route: time_router hours -> call_recorder record -> voice_menu menu "
                        "-> ring_group sales")
    assert "answered by sales-2" in lines
    assert ("recording call-1795421377.0-m1.wav: 6.00 s, RMS 3000; queued as #3 "
            "recordings-local") in lines


def test_what_differs_from_the_expected_outcome_is_named(example) -> None:
    silent = FileReport("voicemail", Path("/r/voicemail-1.2.wav"), [],
                        WavStats(0.2, 8000, 1, 3.0))
    steps = [{"event": "call_step", "step": "ring_group", "module": "sales", "reason": "x"}]
    problems = expectation_problems(_report(example, 1, steps=steps, files=[silent],
                                            legs={"sales1": "ANSWER"}))
    assert problems == [
        "expected voicemail, but sales1 answered",
        "route [('ring_group', 'sales')] differs from the resolver's plan "
        "[('time_router', 'hours'), ('voicemail', 'after-hours')]",
        "voicemail-1.2.wav: 0.20 s, RMS 3: expected speech",
        "voicemail-1.2.wav: not queued for delivery",
    ]
    refused = CallReport(sample_calls(example)[4], carrier=CarrierResult(1, 0.1, ""),
                         hangup_cause="16")
    assert expectation_problems(refused) == ["expected hangup cause 1, got 16"]
