"""Issue 5, must-show 5, on the real Asterisk: the bridge's AMI link dropped mid-call (the
socket cut through `AmiProxy`, and Asterisk itself restarted with the lab runner). After the
reconnect the call is known again (reconciliation) and its recording is delivered exactly
once: the jobs for its file are one per delivery method, also after a further reconnect.
Synchronised on AMI events, the manager's state and the feed's outcomes, never on sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from pbx_bridge.lab.ami import event_is
from pbx_bridge.lab.pytest_plugin import CALLER
from pbx_bridge.lab.recordings import wav_stats
from pbx_bridge.store import Job
from tests.pbx.asterisk.recording_lab import (  # noqa: F401  (fixtures)
    Feed,
    RecordingLab,
    recording_lab,
    recording_session,
)

pytestmark = pytest.mark.asterisk

RECORDED_DID = "15551240001"
METHODS = ["rec-archive", "rec-local"]


def jobs_of(rl: RecordingLab, pbx_file: str) -> list[Job]:
    return rl.store.jobs(file=str(rl.lab.host_path(pbx_file).resolve()))


def parts(rl: RecordingLab) -> tuple[Feed, asyncio.Queue[int]]:
    assert rl.feed is not None and rl.manager is not None and rl.proxy is not None
    return rl.feed, rl.feed.ready


async def recorded_call(rl: RecordingLab, talk: float, tracked: bool = True
                        ) -> tuple[asyncio.Task, str, str]:
    """A carrier call to desk-201, answered and recorded; (sipp task, call id, file)."""
    feed, _ = parts(rl)
    mark = rl.ami.mark()
    call = asyncio.create_task(rl.carrier_call(RECORDED_DID, talk=talk))
    started = await rl.ami.wait_for(event_is("MixMonitorStart"), 15, since=mark)
    await rl.ami.wait_for(event_is("DialEnd", DialStatus="ANSWER"), 15, since=mark)
    linkedid = started["Linkedid"]
    file = f"{rl.lab.layout.recordings}/rec-{started['Uniqueid']}.wav"
    if tracked:
        await feed.until(lambda: linkedid in feed.tracker.calls
                         and file in feed.tracker.calls[linkedid].recordings)
    return call, linkedid, file


async def reconnect_once_more(rl: RecordingLab, logins: int) -> None:
    """Cut the link again after the call: the replayed state and the spool scan must not
    deliver the recording a second time."""
    feed, ready = parts(rl)
    assert rl.proxy is not None
    rl.proxy.cut()
    assert await asyncio.wait_for(ready.get(), 10) == logins
    assert feed.done.empty()


async def test_ami_socket_cut_mid_call_call_known_again_delivered_once(
        recording_lab: RecordingLab) -> None:  # noqa: F811
    rl = recording_lab
    feed, ready = parts(rl)
    assert rl.proxy is not None
    await rl.phone("rec201")
    call, linkedid, file = await recorded_call(rl, talk=5.0)

    rl.proxy.cut()  # the socket dies mid-call; the manager reconnects at once
    assert await asyncio.wait_for(ready.get(), 10) == 2  # logged in again and reconciled
    known = feed.tracker.calls[linkedid]
    assert file in known.recordings and known.caller is not None
    assert known.caller.number == CALLER and known.callee is not None
    assert known.callee.endpoint == "rec201"

    result = await call
    assert result.answered, result.stderr
    done = await asyncio.wait_for(feed.done.get(), 10)
    assert done.file == file
    assert sorted(job.method for job in jobs_of(rl, file)) == METHODS
    await reconnect_once_more(rl, 3)
    assert sorted(job.method for job in jobs_of(rl, file)) == METHODS
    assert len(feed.requests) == 1 and wav_stats(rl.lab.host_path(file)).rms > 100


async def test_ami_link_down_while_the_call_ends_delivered_once_after_reconnect(
        recording_lab: RecordingLab) -> None:  # noqa: F811
    rl = recording_lab
    feed, ready = parts(rl)
    assert rl.proxy is not None and rl.manager is not None
    await rl.phone("rec201")
    mark = rl.ami.mark()
    call, linkedid, file = await recorded_call(rl, talk=3.0)

    rl.proxy.cut(block=True)  # down, and stays down
    await rl.manager.wait_until(lambda m: m.state != "ready", 5)
    result = await call
    assert result.answered, result.stderr
    await rl.ami.wait_for(event_is("UserEvent", UserEvent="PbxBridgeRecordingClosed"), 10,
                          since=mark)
    await rl.ami.wait_for(event_is("Hangup", Uniqueid=linkedid), 10, since=mark)
    assert feed.done.empty() and jobs_of(rl, file) == []  # the bridge saw none of the end

    rl.proxy.unblock()
    assert await asyncio.wait_for(ready.get(), 10) == 2
    done = await asyncio.wait_for(feed.done.get(), 10)
    assert (done.file, done.signal) == (file, "reconciled")  # its legs are gone
    assert linkedid not in feed.tracker.calls
    assert sorted(job.method for job in jobs_of(rl, file)) == METHODS
    assert jobs_of(rl, file)[0].facts["src_number"] == CALLER
    await reconnect_once_more(rl, 3)
    assert sorted(job.method for job in jobs_of(rl, file)) == METHODS


async def audio_written(path: Path, at_least: int, timeout: float = 10.0) -> None:
    """Until MixMonitor has written `at_least` bytes to `path`. Asterisk reports no event
    while a recording grows, so this one wait checks the file every 50 ms, bounded."""
    async def grown() -> None:
        while not (path.is_file() and path.stat().st_size >= at_least):
            await asyncio.sleep(0.05)

    await asyncio.wait_for(grown(), timeout)


@pytest.mark.parametrize("seen", [True, False], ids=["link-cut-then-restart",
                                                     "link-down-for-the-whole-call"])
async def test_asterisk_restarted_mid_call_recording_delivered_once(
        recording_lab: RecordingLab, seen: bool) -> None:  # noqa: F811
    """Asterisk is restarted (SIGTERM, then started again on the same ports) while the
    bridge's AMI link is down: the call ends with it. Link cut mid-call: after the reconnect
    the reconciliation finds the legs it knew gone. Link down from before the call until after
    the restart: only the facts the router stored when the recording started, and the spool
    scan, can deliver it. (With the link up, Asterisk's shutdown runs the hangup handler, whose
    StopMixMonitor reaches the bridge before Asterisk exits: the ordinary path.)"""
    rl = recording_lab
    feed, ready = parts(rl)
    assert rl.proxy is not None and rl.manager is not None
    await rl.phone("rec201")
    if not seen:
        rl.proxy.cut(block=True)
        await rl.manager.wait_until(lambda m: m.state != "ready", 5)
    call, linkedid, file = await recorded_call(rl, talk=20.0, tracked=seen)
    host = rl.lab.host_path(file)
    await audio_written(host, at_least=16_000)  # about a second of the conversation
    if seen:
        rl.proxy.cut(block=True)
        await rl.manager.wait_until(lambda m: m.state != "ready", 5)

    seconds = await asyncio.to_thread(rl.restart_asterisk)
    call.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await call
    await rl.stop_processes()  # the phone's registration died with Asterisk
    await rl.reconnect_test_ami()
    assert feed.done.empty() and jobs_of(rl, file) == []
    rl.proxy.unblock()
    assert await asyncio.wait_for(ready.get(), 15) == 2
    if seen:
        done = await asyncio.wait_for(feed.done.get(), 10)
        assert (done.file, done.signal) == (file, "reconciled")
    assert sorted(job.method for job in jobs_of(rl, file)) == METHODS
    stored = rl.store.recording(file)
    assert stored is not None and stored.finished is not None
    facts = jobs_of(rl, file)[0].facts
    assert (facts["src_number"], facts["dst_number"]) == (CALLER, RECORDED_DID)
    assert linkedid not in feed.tracker.calls
    assert wav_stats(host).rms > 100
    await reconnect_once_more(rl, 3)
    assert sorted(job.method for job in jobs_of(rl, file)) == METHODS
    print(f"Asterisk restarted in {seconds:.3f} s")
