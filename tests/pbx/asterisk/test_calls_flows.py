"""Real calls through call flows of files/lab.yaml: the time router (clock injected into the
router), the voice menu with a key pressed by the caller, a ring group, a queue, and the
`next` module when nobody answers. Synchronised on AMI events, never on sleeps."""

from __future__ import annotations

import asyncio

import pytest

from pbx_bridge.lab.ami import event_is
from pbx_bridge.lab.recordings import wav_stats
from pbx_bridge.pbx.asterisk.ami_protocol import AmiMessage
from tests.pbx.asterisk.conftest import CLOSED, RoutingLab

pytestmark = pytest.mark.asterisk

MAIN, SUPPORT, RECORDED = "15551230002", "15551230003", "15551230004"


async def dial_ends(rl: RoutingLab, since: int, count: int) -> dict[str, str]:
    """Endpoint -> DialStatus of the next `count` dialled legs (DialEnd events)."""
    found: dict[str, str] = {}
    position = since
    while len(found) < count:
        event = await rl.ami.wait_for(event_is("DialEnd"), 10, since=position)
        position = rl.ami.events.index(event, position) + 1
        found[event["DestChannel"].split("/")[1].rsplit("-", 1)[0]] = event["DialStatus"]
    return found


async def voicemail_left(rl: RoutingLab, since: int) -> tuple[AmiMessage, list]:
    """The Record of a voicemail module, then (after hangup) the delivery job of its file."""
    record = await rl.ami.wait_for(
        event_is("Newexten", Context="pbx-bridge-voicemail", Application="Record"), 15,
        since=since)
    await rl.ami.wait_for(event_is("Hangup", Channel=record["Channel"]), 15, since=since)
    uniqueid = record["Uniqueid"]
    jobs = [job for job in rl.store.jobs() if f"voicemail-{uniqueid}." in job.file]
    return record, jobs


async def test_open_hours_menu_replayed_on_bad_key_then_1_ring_group_second_answers(
        routing_lab: RoutingLab) -> None:
    rl = routing_lab
    await rl.phones(lab102="phone_noanswer.xml", lab103="phone_answer.xml",
                    lab104="phone_noanswer.xml")
    mark = rl.ami.mark()
    call = asyncio.create_task(rl.carrier_call(MAIN, talk=4.0))
    replayed = await rl.press("9", since=mark)  # not an option: the menu plays again
    await rl.press("1", since=replayed)
    result = await call
    assert result.answered, result.stderr

    menus = [e for e in rl.ami.events[mark:] if e.get("Application") == "Read"]
    assert len(menus) == 2
    assert all("/sounds/pbx-bridge-welcome," in menu["AppData"] for menu in menus)
    assert await dial_ends(rl, mark, 3) == {"lab102": "CANCEL", "lab103": "ANSWER",
                                            "lab104": "CANCEL"}
    assert not any(e.event == "Newexten" and e.get("Application") == "Record"
                   for e in rl.ami.events[mark:])


async def test_ring_group_all_busy_goes_to_its_next_module(routing_lab: RoutingLab) -> None:
    rl = routing_lab
    await rl.phones(lab102="phone_busy.xml", lab103="phone_busy.xml", lab104="phone_busy.xml")
    mark = rl.ami.mark()
    call = asyncio.create_task(rl.carrier_call(MAIN, talk=4.0))
    await rl.press("1", since=mark)
    assert (await call).answered

    assert await dial_ends(rl, mark, 3) == {"lab102": "BUSY", "lab103": "BUSY",
                                            "lab104": "BUSY"}
    record, jobs = await voicemail_left(rl, mark)
    assert [job.method for job in jobs] == ["lab-local"]  # sales-voicemail's method
    assert jobs[0].facts["dst_number"] == MAIN
    assert wav_stats(rl.lab.recordings_dir / f"voicemail-{record['Uniqueid']}.wav").rms > 100


async def test_queue_of_four_answered_by_one(routing_lab: RoutingLab) -> None:
    rl = routing_lab
    await rl.phones(lab102="phone_noanswer.xml", lab103="phone_noanswer.xml",
                    lab104="phone_answer.xml", lab105="phone_noanswer.xml")
    mark = rl.ami.mark()
    result = await rl.carrier_call(SUPPORT, talk=2.0)
    assert result.answered, result.stderr

    joined = await rl.ami.wait_for(event_is("QueueCallerJoin"), 5, since=mark)
    assert joined["Queue"] == "pbx-bridge-support-queue"
    connect = await rl.ami.wait_for(event_is("AgentConnect"), 5, since=mark)
    assert connect["Interface"] == "PJSIP/lab104"
    called = {e["Interface"] for e in rl.ami.events[mark:] if e.event == "AgentCalled"}
    assert called == {"PJSIP/lab102", "PJSIP/lab103", "PJSIP/lab104", "PJSIP/lab105"}


async def test_queue_max_wait_reached_goes_to_its_next_module(routing_lab: RoutingLab) -> None:
    rl = routing_lab
    await rl.phones(lab102="phone_noanswer.xml", lab103="phone_noanswer.xml",
                    lab104="phone_noanswer.xml", lab105="phone_noanswer.xml")
    mark = rl.ami.mark()
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await rl.carrier_call(SUPPORT, talk=3.0)
    assert result.answered, result.stderr

    # Queue left on its own timeout (the caller stayed), and the dialplan asked for `next`.
    await rl.ami.wait_for(event_is("VarSet", Variable="QUEUESTATUS", Value="TIMEOUT"), 1,
                          since=mark)
    record, jobs = await voicemail_left(rl, mark)
    assert [job.facts["service_name"] for job in jobs] == ["Voicemail"]
    waited = float(record["Timestamp"]) - float(
        (await rl.ami.wait_for(event_is("QueueCallerJoin"), 1, since=mark))["Timestamp"])
    assert 3.5 < waited < 8  # max_wait 4 s
    assert loop.time() - started < 15


async def test_closed_hours_go_straight_to_voicemail(routing_lab: RoutingLab) -> None:
    rl = routing_lab
    rl.router.clock = lambda: CLOSED  # Tuesday 22:00 in New York, without waiting for it
    mark = rl.ami.mark()
    result = await rl.carrier_call(MAIN, talk=4.0)
    assert result.answered, result.stderr

    greeting = await rl.ami.wait_for(event_is("Newexten", Application="Playback"), 5,
                                     since=mark)
    assert greeting["AppData"].endswith("/sounds/pbx-bridge-leave-a-message")
    record, jobs = await voicemail_left(rl, mark)
    assert [job.method for job in jobs] == ["lab-local"]
    assert not any(e.event in ("DialBegin", "QueueCallerJoin") or e.get("Application") == "Read"
                   for e in rl.ami.events[mark:])
    stats = wav_stats(rl.lab.recordings_dir / f"voicemail-{record['Uniqueid']}.wav")
    assert stats.seconds > 1.5 and stats.rms > 100


async def test_call_recorder_records_the_answered_call_then_queues_it(
        routing_lab: RoutingLab) -> None:
    rl = routing_lab
    await rl.phone("lab105", "phone_answer.xml")
    mark = rl.ami.mark()
    result = await rl.carrier_call(RECORDED, talk=3.0)
    assert result.answered, result.stderr

    started = await rl.ami.wait_for(event_is("MixMonitorStart"), 5, since=mark)
    uniqueid = started["Uniqueid"]
    end = await rl.ami.wait_for(event_is("DialEnd", DialStatus="ANSWER"), 5, since=mark)
    assert end["DestChannel"].startswith("PJSIP/lab105-")
    await rl.ami.wait_for(event_is("Hangup", Channel=started["Channel"]), 10, since=mark)
    [job] = [job for job in rl.store.jobs() if f"call-{uniqueid}-m0." in job.file]
    assert (job.method, job.facts["service_name"]) == ("lab-local", "Call recording")
    stats = wav_stats(rl.lab.recordings_dir / f"call-{uniqueid}-m0.wav")
    assert stats.seconds > 2 and stats.rms > 100
