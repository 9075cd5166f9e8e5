"""Issue 5, must-show 1, on the real Asterisk: the recording policy applied to real calls
(files/recording.yaml). A sipp carrier calls a desk's DID, a sipp phone answers; the router
decides at the dial step, the dialplan records the caller's leg with MixMonitor, the bridge's
AMI side delivers the closed file: one recording with audio, one job per delivery method,
with the call's facts. Synchronised on AMI events and the feed's outcomes, never on sleeps.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path

import pytest

from pbx_bridge.calls.events import RecordingFinished
from pbx_bridge.lab.ami import event_is
from pbx_bridge.lab.pytest_plugin import CALLER
from pbx_bridge.lab.recordings import wav_stats
from pbx_bridge.store import Job
from tests.pbx.asterisk.recording_lab import (  # noqa: F401  (fixtures)
    RecordingLab,
    recording_lab,
    recording_session,
)

pytestmark = pytest.mark.asterisk

RECORDED_DID, PLAIN_DID, ELSEWHERE_DID = "15551240001", "15551240002", "15551240004"
QUEUE_NUMBER, TEAM_NUMBER = "15551240005", "15551240006"


def jobs_of(rl: RecordingLab, pbx_file: str) -> list[Job]:
    return rl.store.jobs(file=str(rl.lab.host_path(pbx_file).resolve()))


async def finished(rl: RecordingLab, timeout: float = 15.0) -> RecordingFinished:
    assert rl.feed is not None
    return await asyncio.wait_for(rl.feed.done.get(), timeout)


async def test_inbound_external_flag_on_one_recording_one_job_per_method(
        recording_lab: RecordingLab) -> None:  # noqa: F811
    rl = recording_lab
    await rl.phone("rec201")
    mark, placed = rl.ami.mark(), time.time()
    result = await rl.carrier_call(RECORDED_DID, talk=3.0)
    assert result.answered, result.stderr

    done = await finished(rl)
    begin = await rl.ami.wait_for(event_is("DialBegin"), 5, since=mark)
    carrier_leg = begin["Uniqueid"]
    file = f"{rl.lab.layout.recordings}/rec-{carrier_leg}.wav"
    # StopMixMonitor in the hangup handler closes the file, then Asterisk says MixMonitorStop
    # (and the dialplan's UserEvent follows): either way, after the file was closed.
    assert done.file == file and done.signal in ("stopped", "closed")
    starts = [e for e in rl.ami.events[mark:] if e.event == "MixMonitorStart"]
    assert [e["Uniqueid"] for e in starts] == [carrier_leg]  # once, on the caller's leg
    stats = wav_stats(rl.lab.host_path(file))
    assert stats.rate == 8000 and stats.seconds > 1.5 and stats.rms > 100

    jobs = jobs_of(rl, file)
    assert sorted(job.method for job in jobs) == ["rec-archive", "rec-local"]
    for job in jobs:
        facts = job.facts
        assert (facts["service_name"], facts["src_number"], facts["dst_number"]) == (
            "Call recording", CALLER, RECORDED_DID)
        started = datetime.fromisoformat(facts["call_time"]).timestamp()
        assert placed - 2 <= started <= placed + 5  # PBXB_T0: when the call came in
    stored = rl.store.recording(file)
    assert stored is not None and stored.finished is not None
    assert stored.facts["dst_name"] == "desk-201"
    assert rl.feed is not None and rl.feed.done.empty() and len(rl.feed.requests) == 1


async def test_inbound_external_flag_off_no_recording_no_job(
        recording_lab: RecordingLab) -> None:  # noqa: F811
    rl = recording_lab
    assert rl.feed is not None
    await rl.phone("rec202")
    mark, jobs_before = rl.ami.mark(), len(rl.store.jobs())
    result = await rl.carrier_call(PLAIN_DID, talk=2.0)
    assert result.answered, result.stderr

    begin = await rl.ami.wait_for(event_is("DialBegin"), 5, since=mark)
    call = begin["Linkedid"]
    await rl.feed.until(lambda: call in rl.feed.ended)  # the bridge saw the whole call
    assert not any(e.event == "MixMonitorStart" for e in rl.ami.events[mark:])
    assert rl.feed.done.empty() and len(rl.store.jobs()) == jobs_before
    assert rl.store.open_recordings(call=call) == []
    assert not list(rl.lab.recordings_dir.glob(f"rec-{begin['Uniqueid']}*"))


async def test_outbound_external_recorded_for_the_calling_desk(
        recording_lab: RecordingLab) -> None:  # noqa: F811
    rl = recording_lab
    carrier, _ = await rl.carrier_answers()
    mark = rl.ami.mark()
    rc, messages = await rl.phone_call("rec203", "12025550199", pai="rec203", talk=2.5)
    assert rc == 0 and "SIP/2.0 200 OK" in messages
    assert await carrier.wait(10) == 0

    done = await finished(rl)
    begin = await rl.ami.wait_for(event_is("DialBegin"), 5, since=mark)
    assert done.file == f"{rl.lab.layout.recordings}/rec-{begin['Uniqueid']}.wav"
    [job] = jobs_of(rl, done.file)
    assert job.method == "rec-local"
    assert (job.facts["src_number"], job.facts["src_name"], job.facts["dst_number"]) == (
        "15551240002", "desk-203", "12025550199")
    assert wav_stats(rl.lab.host_path(done.file)).rms > 100


async def test_internal_call_recorded_for_the_answering_desk(
        recording_lab: RecordingLab) -> None:  # noqa: F811
    rl = recording_lab
    await rl.phone("rec204")
    mark = rl.ami.mark()
    rc, messages = await rl.phone_call("rec203", "204", pai="rec203", talk=2.5)
    assert rc == 0 and "SIP/2.0 200 OK" in messages

    done = await finished(rl)
    begin = await rl.ami.wait_for(event_is("DialBegin"), 5, since=mark)
    assert done.file == f"{rl.lab.layout.recordings}/rec-{begin['Uniqueid']}.wav"
    [job] = jobs_of(rl, done.file)
    assert job.method == "rec-archive"  # desk-204's inbound_internal, not desk-203's
    assert (job.facts["src_number"], job.facts["src_name"], job.facts["dst_number"]) == (
        "203", "desk-203", "204")


async def test_blind_transfer_the_recording_follows_the_call_once(
        recording_lab: RecordingLab) -> None:  # noqa: F811
    """Carrier -> desk-201 (recorded on the carrier's leg); desk-201 blind-transfers the
    caller to desk-204's DID (AMI BlindTransfer, as the transfer feature code does); the
    dialplan runs again on the carrier's channel: no second MixMonitor, one file, delivered
    once to both desks' methods (rule 7: the new answering side adds its own)."""
    rl = recording_lab
    await rl.phones(rec201="phone_answer.xml", rec204="phone_answer.xml")
    mark = rl.ami.mark()
    call = asyncio.create_task(rl.carrier_call(RECORDED_DID, talk=5.0))
    dial = await rl.ami.wait_for(event_is("DialEnd", DialStatus="ANSWER"), 15, since=mark)
    await rl.ami.wait_for(event_is("BridgeEnter", Channel=dial["DestChannel"]), 5, since=mark)
    reply = await rl.ami.action("BlindTransfer", {
        "Channel": dial["DestChannel"], "Context": "pbx-bridge-inbound",
        "Exten": ELSEWHERE_DID})
    assert reply.response == "Success", reply
    second = await rl.ami.wait_for(
        lambda e: e.event == "DialEnd" and e.get("DialStatus") == "ANSWER"
        and e.get("DestChannel", "").startswith("PJSIP/rec204-"), 15, since=mark)
    result = await call
    assert result.answered, result.stderr

    done = await finished(rl)
    assert done.file == f"{rl.lab.layout.recordings}/rec-{dial['Uniqueid']}.wav"
    assert second["Uniqueid"] == dial["Uniqueid"]  # the caller's leg dialled again
    starts = [e for e in rl.ami.events[mark:] if e.event == "MixMonitorStart"]
    assert [e["Uniqueid"] for e in starts] == [dial["Uniqueid"]]
    assert sorted(job.method for job in jobs_of(rl, done.file)) == ["rec-archive",
                                                                   "rec-local"]
    stats = wav_stats(rl.lab.host_path(done.file))
    assert stats.seconds > 3 and stats.rms > 100
    assert rl.feed is not None and rl.feed.done.empty()


async def test_internal_call_to_a_queue_recorded_for_the_calling_desk(
        recording_lab: RecordingLab) -> None:  # noqa: F811
    """desk-205 (outbound_internal) calls the queue's number; desk-202 (every flag off)
    answers: one recording on the caller's leg, for desk-205's method only."""
    rl = recording_lab
    await rl.phone("rec202")
    mark = rl.ami.mark()
    rc, messages = await rl.phone_call("rec205", QUEUE_NUMBER, pai="rec205", talk=2.5)
    assert rc == 0 and "SIP/2.0 200 OK" in messages

    done = await finished(rl)
    join = await rl.ami.wait_for(event_is("QueueCallerJoin"), 5, since=mark)
    await rl.ami.wait_for(event_is("AgentConnect"), 5, since=mark)
    assert done.file == f"{rl.lab.layout.recordings}/rec-{join['Uniqueid']}.wav"
    [job] = jobs_of(rl, done.file)
    assert job.method == "rec-local"
    assert (job.facts["src_number"], job.facts["dst_number"]) == ("205", QUEUE_NUMBER)
    assert wav_stats(rl.lab.host_path(done.file)).rms > 100


async def test_busy_desk_voicemail_is_a_voicemail_not_a_call_recording(
        recording_lab: RecordingLab) -> None:  # noqa: F811
    """desk-201 records inbound external calls but is busy: the caller leaves a voicemail.
    The message is delivered as a voicemail; the caller's leg recorded no conversation, so
    its policy recording is removed, not delivered."""
    rl = recording_lab
    assert rl.feed is not None
    await rl.phone("rec201", "phone_busy.xml")
    mark, jobs_before = rl.ami.mark(), len(rl.store.jobs())
    result = await rl.carrier_call(RECORDED_DID, talk=2.5)
    assert result.answered, result.stderr  # by the voicemail

    done = await finished(rl)
    begin = await rl.ami.wait_for(event_is("DialBegin"), 5, since=mark)
    uniqueid = begin["Uniqueid"]
    assert done.file == f"{rl.lab.layout.recordings}/rec-{uniqueid}.wav"
    assert not done.answered and not rl.lab.host_path(done.file).exists()
    await rl.ami.wait_for(event_is("Hangup", Uniqueid=uniqueid), 5, since=mark)
    new = rl.store.jobs()[jobs_before:]
    assert [Path(job.file).name for job in new] == [f"voicemail-{uniqueid}.wav"] * 2
    assert {job.facts["service_name"] for job in new} == {"Voicemail"}
    stored = rl.store.recording(done.file)
    assert stored is not None and stored.finished is not None


@pytest.mark.parametrize(("phone", "methods"), [("rec204", ["rec-archive"]), ("rec202", [])])
async def test_ring_group_recording_kept_for_the_member_who_answered(
        recording_lab: RecordingLab, phone: str, methods: list[str]) -> None:  # noqa: F811
    """A carrier call to a ring group of desk-202 (no flag) and desk-204 (inbound_external):
    recorded on the caller's leg from the start; delivered for desk-204 when it answers,
    removed when desk-202 answers (nobody who took part asked)."""
    rl = recording_lab
    await rl.phone(phone)
    mark = rl.ami.mark()
    result = await rl.carrier_call(TEAM_NUMBER, talk=2.0)
    assert result.answered, result.stderr

    done = await finished(rl)
    begin = await rl.ami.wait_for(event_is("DialBegin"), 5, since=mark)
    assert done.file == f"{rl.lab.layout.recordings}/rec-{begin['Uniqueid']}.wav"
    assert done.callee.endpoint == phone
    assert sorted(job.method for job in jobs_of(rl, done.file)) == methods
    assert rl.lab.host_path(done.file).exists() == bool(methods)
    stored = rl.store.recording(done.file)
    assert stored is not None and stored.finished is not None


async def test_on_demand_stopped_mid_call_leaves_the_policy_recording_whole(
        recording_lab: RecordingLab) -> None:  # noqa: F811
    """desk-203 calls out (recorded by its outbound_external flag, on its own leg) and also
    records a part on demand, on the same leg. Asterisk's MixMonitorStop of that part names
    no file: the policy recording must go on and be delivered once, whole, at the end."""
    rl = recording_lab
    assert rl.feed is not None
    carrier, _ = await rl.carrier_answers()
    mark = rl.ami.mark()
    call = asyncio.create_task(rl.phone_call("rec203", "12025550199", pai="rec203", talk=6.0))
    policy = await rl.ami.wait_for(event_is("MixMonitorStart"), 10, since=mark)
    dial = await rl.ami.wait_for(event_is("DialEnd", DialStatus="ANSWER"), 15, since=mark)
    caller = dial["Channel"]
    await rl.ami.wait_for(event_is("BridgeEnter", Channel=caller), 5, since=mark)
    policy_file = f"{rl.lab.layout.recordings}/rec-{dial['Uniqueid']}.wav"
    assert policy["Channel"] == caller

    code = rl.config.feature_codes.record_on_demand
    await press(rl, caller, code)
    await rl.ami.wait_for(lambda e: e.event == "MixMonitorStart" and e is not policy, 5,
                          since=mark)
    await press(rl, caller, code)
    await rl.ami.wait_for(event_is("MixMonitorStop", Channel=caller), 5, since=mark)
    part = await finished(rl)  # the on-demand file (the router's: it queues it)
    assert "/ondemand-" in part.file and part.on_demand
    assert policy_file in rl.feed.tracker.calls[dial["Linkedid"]].recordings  # still going
    stored = rl.store.recording(policy_file)
    assert stored is not None and stored.finished is None

    rc, _ = await call
    assert rc == 0 and await carrier.wait(10) == 0
    done = await finished(rl)
    assert done.file == policy_file and rl.feed.done.empty()
    [job] = jobs_of(rl, policy_file)
    assert job.method == "rec-local"
    assert wav_stats(rl.lab.host_path(policy_file)).seconds > 4  # the whole call


async def press(rl: RecordingLab, channel: str, digits: str) -> None:
    """The phone on `channel` presses `digits` (AMI PlayDTMF, Receive), keys 0.15 s apart
    (Asterisk's featuredigittimeout is 1 s): pacing the keys, not waiting for anything."""
    for index, digit in enumerate(digits):
        if index:
            await asyncio.sleep(0.15)
        await rl.ami.action("PlayDTMF", {"Channel": channel, "Digit": digit, "Duration": "100",
                                         "Receive": "true"})
