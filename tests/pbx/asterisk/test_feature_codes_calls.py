"""Issue 5's feature codes on the real Asterisk: record on demand, blind and attended transfer,
through the generated dialplan and features file of files/lab.yaml, with sipp phones.

DTMF is AMI PlayDTMF with `Receive: true` on the pressing phone's channel: Asterisk takes the
digits as sent by that phone (RFC 4733 on the wire is covered by the lab notes). The digits of
one code are spaced like a person's key presses, well inside `featuredigittimeout`;
everything else waits on AMI events, with timeouts."""

from __future__ import annotations

import asyncio

import pytest

from pbx_bridge.lab.ami import event_is
from pbx_bridge.lab.pytest_plugin import CALLER
from pbx_bridge.lab.recordings import wav_stats
from pbx_bridge.pbx.asterisk.ami_protocol import AmiMessage
from pbx_bridge.pbx.asterisk.dialplan.features import in_transfer_codes
from tests.pbx.asterisk.conftest import RoutingLab

pytestmark = pytest.mark.asterisk

DIRECT_DID, RECORDED = "15551230001", "15551230004"
KEY_GAP = 0.15  # between two key presses of one code (featuredigittimeout is 1 s)


async def press(rl: RoutingLab, channel: str, digits: str) -> None:
    """The phone on `channel` presses `digits`, one key at a time. A transfer starts as soon
    as the number can only be that one (Asterisk's digit collection), so the final '#' may find
    the transferer's leg gone already: that key is not checked."""
    for index, digit in enumerate(digits):
        if index:
            await asyncio.sleep(KEY_GAP)
        await rl.ami.action("PlayDTMF", {"Channel": channel, "Digit": digit, "Duration": "100",
                                         "Receive": "true"}, check=digit != "#")


async def answered(rl: RoutingLab, since: int, phone: str) -> AmiMessage:
    """The DialEnd of `phone` answering, once both sides are bridged (codes work from then)."""
    dial = await rl.ami.wait_for(
        lambda m: m.event == "DialEnd" and m.get("DialStatus") == "ANSWER"
        and m.get("DestChannel", "").startswith(f"PJSIP/{phone}-"), 15, since=since)
    await rl.ami.wait_for(event_is("BridgeEnter", Channel=dial["DestChannel"]), 5, since=since)
    return dial


def linkedids(rl: RoutingLab, since: int) -> set[str]:
    return {e["Linkedid"] for e in rl.ami.events[since:]
            if e.event in ("Newchannel", "Hangup") and "Linkedid" in e}


async def test_record_on_demand_starts_and_stops_a_recording_of_an_unrecorded_call(
        routing_lab: RoutingLab) -> None:
    rl = routing_lab
    await rl.phone("lab101", "phone_answer.xml")
    mark = rl.ami.mark()
    call = asyncio.create_task(rl.carrier_call(DIRECT_DID, talk=6.0))
    dial = await answered(rl, mark, "lab101")
    desk = dial["DestChannel"]
    assert not any(e.event == "MixMonitorStart" for e in rl.ami.events[mark:])  # not recorded

    code = rl.config.feature_codes.record_on_demand
    await press(rl, desk, code)
    started = await rl.ami.wait_for(event_is("MixMonitorStart", Channel=desk), 5, since=mark)
    file = next(e["Value"] for e in rl.ami.events[mark:] if e.event == "VarSet"
                and e.get("Variable") == "MIXMONITOR_FILENAME" and e["Channel"] == desk)
    uniqueid = dial["DestUniqueid"]
    assert file.startswith(f"{rl.lab.layout.recordings}/ondemand-{uniqueid}-")
    await asyncio.sleep(2.0)  # two seconds of conversation on record
    await press(rl, desk, code)
    stopped = await rl.ami.wait_for(event_is("MixMonitorStop", Channel=desk), 5, since=mark)
    await rl.ami.wait_for(event_is("Newexten", Channel=desk, Context="pbx-bridge-ondemand-done",
                                   Application="Return"), 5, since=mark)
    [job] = [job for job in rl.store.jobs() if "/ondemand-" in job.file]
    assert job.file.endswith(file.rsplit("/", 1)[1]) and job.method == "lab-local"
    assert job.facts["service_name"] == "Call recording"
    assert (job.facts["src_number"], job.facts["dst_number"]) == (CALLER, DIRECT_DID)
    stats = wav_stats(rl.lab.recordings_dir / file.rsplit("/", 1)[1])
    between = float(stopped["Timestamp"]) - float(started["Timestamp"])
    assert 1.5 < between < 4 and abs(stats.seconds - between) < 0.6 and stats.rms > 100

    assert (await call).answered  # the call went on after the recording stopped
    await rl.ami.wait_for(event_is("Hangup", Channel=desk), 10, since=mark)
    assert len([j for j in rl.store.jobs() if "/ondemand-" in j.file]) == 1  # handed on once
    assert linkedids(rl, mark) == {dial["Uniqueid"]}


async def test_blind_transfer_moves_the_call_and_one_recording_holds_both_halves(
        routing_lab: RoutingLab) -> None:
    rl = routing_lab
    await rl.phones(lab105="phone_answer.xml", lab102="phone_answer.xml")
    mark = rl.ami.mark()
    console = rl.lab.console_log.stat().st_size
    call = asyncio.create_task(rl.carrier_call(RECORDED, talk=6.0))
    recording = await rl.ami.wait_for(event_is("MixMonitorStart"), 10, since=mark)
    dial = await answered(rl, mark, "lab105")
    carrier = dial["Channel"]
    assert recording["Channel"] == carrier  # the call recorder records the caller's leg

    await press(rl, dial["DestChannel"], rl.config.feature_codes.unattended_transfer + "102#")
    moved = await rl.ami.wait_for(event_is("BlindTransfer"), 10, since=mark)
    assert moved["Result"] == "Success" and moved["TransfereeChannel"] == carrier
    target = await answered(rl, mark, "lab102")
    assert target["Channel"].startswith("Local/102@pbx-bridge-xfer-desk-105")
    await rl.ami.wait_for(event_is("Hangup", Channel=dial["DestChannel"]), 5, since=mark)

    result = await call
    assert result.answered, result.stderr
    hangup = await rl.ami.wait_for(event_is("Hangup", Channel=carrier), 10, since=mark)
    uniqueid = dial["Uniqueid"]
    [job] = [job for job in rl.store.jobs() if f"call-{uniqueid}-m0." in job.file]
    assert (job.method, job.facts["dst_number"]) == ("lab-local", RECORDED)
    assert not [e for e in rl.ami.events[mark:] if e.event == "MixMonitorStart"][1:]
    stats = wav_stats(rl.lab.recordings_dir / f"call-{uniqueid}-m0.wav")
    talked = float(hangup["Timestamp"]) - float(dial["Timestamp"])  # answer to hangup
    before = float(moved["Timestamp"]) - float(dial["Timestamp"])
    print(f"recording {stats.seconds:.2f} s, call answered {talked:.2f} s, "
          f"transferred after {before:.2f} s")
    assert abs(stats.seconds - talked) < 1.0 and stats.seconds > before + 2  # both halves
    assert stats.rms > 100
    assert linkedids(rl, mark) == {uniqueid}  # every leg, the Local pair too, on one call
    log = rl.lab.console_log.read_bytes()[console:].decode(errors="replace")
    assert "Playing 'pbx-transfer" in log  # "Transfer" announced to the transferer


async def test_attended_transfer_consults_then_completes(routing_lab: RoutingLab) -> None:
    rl = routing_lab
    await rl.phones(lab101="phone_answer.xml", lab102="phone_answer.xml")
    mark = rl.ami.mark()
    call = asyncio.create_task(rl.carrier_call(DIRECT_DID, talk=7.0))
    dial = await answered(rl, mark, "lab101")
    desk = dial["DestChannel"]

    await press(rl, desk, rl.config.feature_codes.attended_transfer + "102#")
    consult = await answered(rl, mark, "lab102")  # the transferer talks to the target
    assert consult["Channel"].startswith("Local/102@pbx-bridge-xfer-desk-101")
    complete = in_transfer_codes(list(rl.config.feature_codes.as_dict().values()))
    await press(rl, desk, complete["atxfercomplete"])
    done = await rl.ami.wait_for(event_is("AttendedTransfer"), 10, since=mark)
    assert done["Result"] == "Success" and done["TransfereeChannel"] == dial["Channel"]
    await rl.ami.wait_for(event_is("Hangup", Channel=desk), 5, since=mark)

    result = await call
    assert result.answered, result.stderr
    target = await rl.ami.wait_for(event_is("Hangup", Channel=consult["DestChannel"]), 10,
                                   since=mark)
    assert float(target["Timestamp"]) - float(done["Timestamp"]) > 1  # caller and target talked
    assert linkedids(rl, mark) == {dial["Uniqueid"]}


async def test_attended_transfer_target_declines_back_to_the_caller(
        routing_lab: RoutingLab) -> None:
    rl = routing_lab
    await rl.phones(lab101="phone_answer.xml", lab103="phone_busy.xml")
    mark = rl.ami.mark()
    call = asyncio.create_task(rl.carrier_call(DIRECT_DID, talk=7.0))
    dial = await answered(rl, mark, "lab101")
    desk, carrier = dial["DestChannel"], dial["Channel"]
    bridge = (await rl.ami.wait_for(event_is("BridgeEnter", Channel=carrier), 5,
                                    since=mark))["BridgeUniqueid"]

    await press(rl, desk, rl.config.feature_codes.attended_transfer + "103#")
    busy = await rl.ami.wait_for(
        lambda m: m.event == "DialEnd" and m.get("DestChannel", "").startswith("PJSIP/lab103-"),
        10, since=mark)
    assert busy["DialStatus"] == "BUSY"
    left = rl.ami.events.index(busy, mark)
    back = await rl.ami.wait_for(event_is("BridgeEnter", Channel=desk, BridgeUniqueid=bridge),
                                 10, since=left)  # the transferer talks to the caller again

    result = await call
    assert result.answered, result.stderr
    end = await rl.ami.wait_for(event_is("Hangup", Channel=desk), 10, since=mark)
    assert float(end["Timestamp"]) - float(back["Timestamp"]) > 1
    assert not any(e.event == "AttendedTransfer" and e.get("Result") == "Success"
                   for e in rl.ami.events[mark:])
    assert linkedids(rl, mark) == {dial["Uniqueid"]}


async def test_phone_caller_blind_transfers_the_callee_to_an_e164_number_through_the_trunk(
        routing_lab: RoutingLab) -> None:
    """desk-102 calls desk-105, then sends desk-105 out to an E.164 number: the calling
    phone's own leg has the codes (set over AGI), the target is checked against desk-102's
    rights (it may call out, with its first caller ID) and placed through the trunk."""
    rl = routing_lab
    await rl.phone("lab105", "phone_answer.xml")
    carrier, carrier_log = await rl.carrier_answers()
    mark = rl.ami.mark()
    call = asyncio.create_task(rl.phone_call("lab102", "105", pai="lab102", talk=8.0))
    dial = await answered(rl, mark, "lab105")
    desk = dial["Channel"]
    assert desk.startswith("PJSIP/lab102-")

    await press(rl, desk, rl.config.feature_codes.unattended_transfer + "12025550199#")
    moved = await rl.ami.wait_for(event_is("BlindTransfer"), 10, since=mark)
    assert moved["Result"] == "Success" and moved["TransfereeChannel"] == dial["DestChannel"]
    out = await rl.ami.wait_for(
        lambda m: m.event == "DialEnd" and m.get("DestChannel", "").startswith("PJSIP/carrier-"),
        10, since=mark)
    assert out["DialStatus"] == "ANSWER" and out["Channel"] == dial["DestChannel"]
    await rl.ami.action("Hangup", {"Channel": dial["DestChannel"]})  # desk-105 hangs up
    assert await carrier.wait(10) == 0
    await call
    invite = carrier_log.read_text(errors="replace")
    invite = invite[invite.index("INVITE sip:"):]
    assert invite.startswith("INVITE sip:12025550199@127.0.0.1:")
    assert "<sip:15551230002@" in invite.split("\n\n", 1)[0]  # desk-102's caller ID
    assert linkedids(rl, mark) == {dial["Uniqueid"]}


async def test_pstn_forwarded_leg_blind_transfers_its_caller(routing_lab: RoutingLab) -> None:
    """desk-103 calls 201, the mobile (a PSTN forwarding with allow_call_transfer) reached
    through the trunk; the mobile's leg, found by its number on the trunk, sends desk-103 on
    to 104. desk-103's leg ran our routing, so it reaches 104 through a Local channel."""
    rl = routing_lab
    await rl.phone("lab104", "phone_answer.xml")
    _carrier, _log = await rl.carrier_answers()
    mark = rl.ami.mark()
    call = asyncio.create_task(rl.phone_call("lab103", "201", pai="lab103", talk=8.0))
    dial = await rl.ami.wait_for(
        lambda m: m.event == "DialEnd" and m.get("DialStatus") == "ANSWER"
        and m.get("DestChannel", "").startswith("PJSIP/carrier-"), 15, since=mark)
    mobile = dial["DestChannel"]
    await rl.ami.wait_for(event_is("BridgeEnter", Channel=mobile), 5, since=mark)

    await press(rl, mobile, rl.config.feature_codes.unattended_transfer + "104#")
    moved = await rl.ami.wait_for(event_is("BlindTransfer"), 10, since=mark)
    assert moved["Result"] == "Success" and moved["TransfereeChannel"] == dial["Channel"]
    target = await answered(rl, mark, "lab104")
    assert target["Channel"].startswith("Local/104@pbx-bridge-xfer-mobile")
    await rl.ami.action("Hangup", {"Channel": target["DestChannel"]})  # desk-104 hangs up
    await call
    assert linkedids(rl, mark) == {dial["Uniqueid"]}


async def test_queue_member_blind_transfers_the_caller(routing_lab: RoutingLab) -> None:
    """The support queue: desk-105 answers, and sends the caller on to 101 (queue members get
    their codes from the queue's gosub, as rung legs do from Dial's predial handler)."""
    rl = routing_lab
    await rl.phones(lab105="phone_answer.xml", lab101="phone_answer.xml")
    mark = rl.ami.mark()
    call = asyncio.create_task(rl.carrier_call("15551230003", talk=6.0))
    member = await answered(rl, mark, "lab105")
    await press(rl, member["DestChannel"], rl.config.feature_codes.unattended_transfer + "101#")
    moved = await rl.ami.wait_for(event_is("BlindTransfer"), 10, since=mark)
    assert moved["Result"] == "Success" and moved["TransfereeChannel"] == member["Channel"]
    target = await answered(rl, mark, "lab101")
    assert target["Channel"].startswith("Local/101@pbx-bridge-xfer-desk-105")
    assert (await call).answered
    assert linkedids(rl, mark) == {member["Uniqueid"]}


async def test_transfer_to_a_number_the_transferer_may_not_reach_is_refused_call_stays(
        routing_lab: RoutingLab) -> None:
    """desk-101 may not call out: an E.164 target is not in its transfer context, so Asterisk
    refuses it while the digits come in ("pbx-invalid"), and the caller is never moved."""
    rl = routing_lab
    await rl.phone("lab101", "phone_answer.xml")
    mark = rl.ami.mark()
    console = rl.lab.console_log.stat().st_size
    call = asyncio.create_task(rl.carrier_call(DIRECT_DID, talk=5.0))
    dial = await answered(rl, mark, "lab101")
    code = rl.config.feature_codes.unattended_transfer
    await press(rl, dial["DestChannel"], code + "12025550199#")
    result = await call  # the caller stays until they hang up themselves (sipp's BYE, rc 0)
    assert result.answered and result.seconds >= 5, result.stderr
    caller_end = await rl.ami.wait_for(event_is("Hangup", Channel=dial["Channel"]), 5, since=mark)
    assert caller_end["Cause"] == "16"
    # desk-101 is still being asked for a number (attempts left): put it down, not to leak
    await rl.ami.action("Hangup", {"Channel": dial["DestChannel"]}, check=False)
    await rl.ami.wait_for(event_is("Hangup", Channel=dial["DestChannel"]), 5, since=mark)
    assert not any(e.event == "BlindTransfer" for e in rl.ami.events[mark:])
    assert len([e for e in rl.ami.events[mark:] if e.event == "DialBegin"]) == 1
    log = rl.lab.console_log.read_bytes()[console:].decode(errors="replace")
    assert "Dialed '12@pbx-bridge-xfer-desk-101' does not exist" in log
