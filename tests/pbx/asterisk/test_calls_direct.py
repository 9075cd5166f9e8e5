"""Real calls through the generated dialplan: a direct DID to voicemail, phone-to-phone calls,
calls out through the trunk with the caller ID checked. Synchronised on AMI events and
process exits, never on sleeps."""

from __future__ import annotations

import pytest

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
