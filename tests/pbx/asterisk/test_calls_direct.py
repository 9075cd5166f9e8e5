"""Real calls through the generated dialplan: a direct DID to voicemail, phone-to-phone calls,
calls out through the trunk with the caller ID checked. Synchronised on AMI events and
process exits, never on sleeps."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from pbx_bridge.lab.ami import event_is
from pbx_bridge.lab.pytest_plugin import CALLER
from pbx_bridge.lab.recordings import wav_stats
from tests.pbx.asterisk.conftest import RoutingLab

pytestmark = pytest.mark.asterisk

DIRECT_DID = "15551230001"


def voicemail_jobs(rl: RoutingLab, uniqueid: str) -> list:
    return [job for job in rl.store.jobs() if f"voicemail-{uniqueid}." in job.file]


async def test_direct_did_rings_the_phone_then_records_a_voicemail_job(
        routing_lab: RoutingLab) -> None:
    rl = routing_lab
    await rl.phone("lab101", "phone_noanswer.xml")
    mark = rl.ami.mark()
    result = await rl.carrier_call(DIRECT_DID, talk=4.0)
    assert result.answered, result.stderr  # answered by the voicemail

    begin = await rl.ami.wait_for(event_is("DialBegin"), 5, since=mark)
    assert begin["DestChannel"].startswith("PJSIP/lab101-")
    end = await rl.ami.wait_for(event_is("DialEnd", DestUniqueid=begin["DestUniqueid"]), 5,
                                since=mark)
    assert end["DialStatus"] == "NOANSWER"
    greeting = await rl.ami.wait_for(event_is("Newexten", Application="Playback"), 5,
                                     since=mark)
    assert greeting["AppData"].endswith("/sounds/pbx-bridge-leave-a-message")
    record = await rl.ami.wait_for(event_is("Newexten", Application="Record"), 5, since=mark)
    # The hangup handler queued the message before Asterisk reported the Hangup.
    await rl.ami.wait_for(event_is("Hangup", Channel=begin["Channel"]), 5, since=mark)

    uniqueid = begin["Uniqueid"]
    assert record["AppData"].startswith(f"{rl.lab.layout.recordings}/voicemail-{uniqueid}.wav")
    [job] = voicemail_jobs(rl, uniqueid)
    assert job.method == "lab-local" and job.state == "queued"
    assert job.facts["service_name"] == "Voicemail"
    assert job.facts["src_number"] == CALLER and job.facts["dst_number"] == DIRECT_DID
    stats = wav_stats(rl.lab.recordings_dir / f"voicemail-{uniqueid}.wav")
    assert stats.rate == 8000 and stats.seconds > 1.5
    assert stats.rms > 100  # the caller's speech, not silence


async def test_internal_call_102_to_103_shows_the_internal_caller_id(
        routing_lab: RoutingLab) -> None:
    rl = routing_lab
    await rl.phone("lab103", "phone_answer.xml")
    mark = rl.ami.mark()
    rc, messages = await rl.phone_call("lab102", "103", pai="lab102", talk=1.5)
    assert rc == 0 and "SIP/2.0 200 OK" in messages

    begin = await rl.ami.wait_for(event_is("DialBegin"), 5, since=mark)
    assert begin["Channel"].startswith("PJSIP/lab102-")
    assert begin["DestChannel"].startswith("PJSIP/lab103-")
    assert (begin["CallerIDNum"], begin["CallerIDName"]) == ("102", "desk-102")
    end = await rl.ami.wait_for(event_is("DialEnd", DestUniqueid=begin["DestUniqueid"]), 5,
                                since=mark)
    assert end["DialStatus"] == "ANSWER"


def invite_to_carrier(messages: str) -> str:
    """The INVITE (with credentials-free headers) the carrier's UAS received."""
    start = messages.index("INVITE sip:")
    return messages[start:messages.index("\n\n", start)]


async def test_external_call_with_an_allowed_caller_id_reaches_the_carrier(
        routing_lab: RoutingLab) -> None:
    rl = routing_lab
    carrier, carrier_log = await rl.carrier_answers()
    rc, messages = await rl.phone_call("lab102", "12025550199", pai="15551230003", talk=1.5)
    assert rc == 0 and "SIP/2.0 200 OK" in messages
    assert await carrier.wait(10) == 0
    invite = invite_to_carrier(carrier_log.read_text(errors="replace"))
    assert invite.startswith("INVITE sip:12025550199@127.0.0.1:")
    assert "From: <sip:15551230003@" in invite or 'From: "desk-102" <sip:15551230003@' in invite
    assert "P-Asserted-Identity: " in invite and "<sip:15551230003@" in invite.split(
        "P-Asserted-Identity: ")[1]


async def test_pstn_forwarding_rings_its_number_through_the_trunk(
        routing_lab: RoutingLab) -> None:
    rl = routing_lab
    carrier, carrier_log = await rl.carrier_answers()
    rc, messages = await rl.phone_call("lab103", "201", pai="lab103", talk=1.0)
    assert rc == 0 and "SIP/2.0 200 OK" in messages
    assert await carrier.wait(10) == 0
    invite = invite_to_carrier(carrier_log.read_text(errors="replace"))
    assert invite.startswith("INVITE sip:12025557777@127.0.0.1:")
    assert "<sip:103@" in invite  # an internal call: the internal caller ID


async def test_external_call_without_a_caller_id_asked_uses_the_first_one(
        routing_lab: RoutingLab) -> None:
    rl = routing_lab
    carrier, carrier_log = await rl.carrier_answers()
    rc, _ = await rl.phone_call("lab102", "12025550199", pai="lab102", talk=1.0)
    assert rc == 0
    assert await carrier.wait(10) == 0
    assert "<sip:15551230002@" in invite_to_carrier(carrier_log.read_text(errors="replace"))


@pytest.mark.parametrize(("phone", "pai", "why"), [
    ("lab102", "15559990000", "caller ID '15559990000' is not allowed for desk-102"),
    ("lab103", "lab103", "desk-103 may not make external calls"),
])
async def test_external_call_refused_with_403(routing_lab: RoutingLab, phone: str, pai: str,
                                               why: str) -> None:
    rl = routing_lab
    mark = rl.ami.mark()
    with capture_logs() as logs:
        rc, messages = await rl.phone_call(phone, "12025550199", pai=pai)
    assert rc == 0
    [refusal] = [entry for entry in logs if entry["event"] == "call_refused"]
    assert why in refusal["reason"]
    assert "SIP/2.0 403 Forbidden" in messages and "SIP/2.0 200 OK\n" not in messages
    hangup = await rl.ami.wait_for(event_is("Hangup"), 5, since=mark)
    assert hangup["Cause"] == "21"
    assert not any(e.event == "DialBegin" for e in rl.ami.events[mark:])
