"""The AMI manager and the call feed against a real Asterisk 22 (the lab) with real SIP.

Synchronisation is by AMI events, the feed's outcomes and the MixMonitor post-command; never
sleeps.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from pbx_bridge.calls.events import RecordingFinished
from pbx_bridge.config.model import Config
from pbx_bridge.lab.ami import AmiClient, event_is
from pbx_bridge.lab.recordings import RecordingListener
from pbx_bridge.lab.runner import AsteriskLab
from pbx_bridge.lab.sipp import CarrierResult, SippPhone
from pbx_bridge.pbx.asterisk.ami_calls import AmiCallFeed
from pbx_bridge.pbx.asterisk.ami_protocol import AmiMessage
from pbx_bridge.pbx.asterisk.fastagi import AgiServer, AgiSession, Handler
from pbx_bridge.pbx.asterisk.manager import AmiLoginError, AmiManager, ManagerSettings
from pbx_bridge.store import open_store
from tests.routing.conftest import acme  # noqa: F401  (fixture)

pytestmark = pytest.mark.asterisk

DID = "15551230001"
CALLER = "15559876543"


class Feed(AmiCallFeed):
    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.done: asyncio.Queue[RecordingFinished] = asyncio.Queue()
        self.ready: asyncio.Queue[int] = asyncio.Queue()

    def finished(self, done: RecordingFinished) -> None:
        super().finished(done)
        self.done.put_nowait(done)

    async def on_ready(self, manager: AmiManager) -> None:
        await super().on_ready(manager)
        self.ready.put_nowait(manager.logins)


def settings() -> ManagerSettings:
    return ManagerSettings(ping_interval=5, ping_timeout=5, boot_wait=5, rng=random.Random(4))


def lab_config(acme: Config, username: str, tmp: Path) -> Config:  # noqa: F811
    """acme.yaml, with front-desk being the lab phone and owning the lab DID."""
    front = acme.contact_method("front-desk")
    assert front is not None
    desk = dataclasses.replace(front, username=username, did_numbers=(DID,))
    return dataclasses.replace(acme, sip_accounts=(desk, *acme.sip_accounts[1:]),
                               numbers=(*acme.numbers, DID), path=tmp / "acme.yaml")


async def test_wrong_secret_is_refused_once(asterisk_lab: AsteriskLab) -> None:
    lab = asterisk_lab
    manager = AmiManager("127.0.0.1", lab.ami_port, lab.ami_user, "wrong-secret",
                         settings=settings())
    with pytest.raises(AmiLoginError, match="Authentication failed"):
        await manager.start(timeout=10)
    assert manager.state == "failed" and manager._task is not None and manager._task.done()
    await manager.close()


async def test_real_recorded_call_reconciled_mid_call_then_delivered(
    asterisk_lab: AsteriskLab,
    ami: AmiClient,
    sip_phone: Callable[..., Awaitable[SippPhone]],
    agi_server: Callable[[dict[str, Handler]], Awaitable[AgiServer]],
    recording_listener: RecordingListener,
    place_carrier_call: Callable[..., Awaitable[CarrierResult]],
    acme: Config,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The bridge connects while the call is already up: reconciliation (CoreShowChannels +
    Status) must find the call and its MixMonitor file; the hangup then finishes it, and it
    becomes one delivery job per delivery method, for the file the post-command reports."""
    phone = await sip_phone()

    async def route(session: AgiSession) -> None:
        await session.set_variable("ROUTE_ENDPOINT", phone.account.username)

    agi = await agi_server({"route": route})
    recordings = asterisk_lab.layout.recordings
    asterisk_lab.write_include("extensions", f"""
[pbx-bridge-inbound]
exten => _X.,1,AGI(agi://127.0.0.1:{agi.port}/route,${{EXTEN}})
 same => n,MixMonitor({recordings}/${{UNIQUEID}}.wav,,{recording_listener.post_command()})
 same => n,Dial(PJSIP/${{ROUTE_ENDPOINT}},20)
 same => n,Hangup()
""")
    await asyncio.to_thread(asterisk_lab.reload, ["pbx_config.so"])

    store = open_store(f"sqlite:///{tmp_path / 'bridge.db'}")
    config = lab_config(acme, phone.account.username, tmp_path)
    feed = Feed(config, store, path_map=lambda p: asterisk_lab.host_path(p))
    lab = asterisk_lab
    manager = AmiManager("127.0.0.1", lab.ami_port, lab.ami_user, lab.ami_secret,
                         on_event=feed.on_event, wants=feed.ami.wants, on_ready=feed.on_ready,
                         settings=settings())
    mark = ami.mark()
    call = asyncio.create_task(place_carrier_call(DID, talk=3.0))
    try:
        await ami.wait_for(event_is("BridgeEnter"), 15, since=mark)  # answered and talking
        started = await ami.wait_for(event_is("MixMonitorStart"), 5, since=mark)
        await manager.start(timeout=10)
        assert await asyncio.wait_for(feed.ready.get(), 10) == 1
        linkedid, uniqueid = started["Linkedid"], started["Uniqueid"]
        # What Asterisk 22 answers (reconcile.py relies on it): `Variable: NAME=value`, and
        # `(null)` on a channel without the variable.
        statuses = await manager.action_list("Status", {"Variables": "MIXMONITOR_FILENAME"})
        found = {m["Uniqueid"]: m.getall("Variable") for m in statuses}
        assert found[uniqueid] == [f"MIXMONITOR_FILENAME={recordings}/{uniqueid}.wav"]
        assert ["MIXMONITOR_FILENAME=(null)"] in found.values()
        tracked = feed.tracker.calls[linkedid]  # rebuilt from Asterisk's own view
        file = f"{recordings}/{uniqueid}.wav"
        assert file in tracked.recordings and tracked.recordings[file].leg == uniqueid
        assert tracked.caller is not None and tracked.caller.number == CALLER
        assert {leg.endpoint for leg in tracked.legs.values()} >= {phone.account.username}

        result = await call
        assert result.answered, result.stderr
        done = await asyncio.wait_for(feed.done.get(), 10)
        closed = await recording_listener.wait(timeout=10)
        assert done.file == closed == file and done.signal == "hangup"
        assert done.caller.number == CALLER
        local = str(asterisk_lab.host_path(file).resolve())
        jobs = store.jobs(file=local)
        assert sorted(j.method for j in jobs) == ["archive-s3", "recordings-sftp"]
        assert jobs[0].facts["dst_number"] == DID and jobs[0].facts["src_number"] == CALLER
        assert feed.tracker.calls == {}
    finally:
        if not call.done():
            call.cancel()
        await manager.close()
        store.close()


class EventFeed(Feed):
    """Also keeps every neutral event the feed applied."""

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)
        self.events: list[object] = []

    def on_event(self, message: AmiMessage) -> None:
        for event in self.ami.translate(message):
            self.events.append(event)
            outcomes = self.tracker.apply(event)
            if outcomes:
                self.handle(outcomes)


async def test_real_blind_transfer_recording_follows_the_call(
    asterisk_lab: AsteriskLab,
    ami: AmiClient,
    sip_phone: Callable[..., Awaitable[SippPhone]],
    agi_server: Callable[[dict[str, Handler]], Awaitable[AgiServer]],
    recording_listener: RecordingListener,
    place_carrier_call: Callable[..., Awaitable[CarrierResult]],
    acme: Config,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Carrier -> desk A (recorded on the carrier's leg); A is blind-transferred (AMI
    BlindTransfer) to desk B; the carrier hangs up. One recording, finished once, with the
    transfer counted and the facts of the call as it started."""
    first, second = await sip_phone(), await sip_phone()

    async def route(session: AgiSession) -> None:
        await session.set_variable("ROUTE_ENDPOINT", first.account.username)

    agi = await agi_server({"route": route})
    recordings = asterisk_lab.layout.recordings
    asterisk_lab.write_include("extensions", f"""
[pbx-bridge-inbound]
exten => _X.,1,AGI(agi://127.0.0.1:{agi.port}/route,${{EXTEN}})
 same => n,MixMonitor({recordings}/${{UNIQUEID}}.wav,,{recording_listener.post_command()})
 same => n,Dial(PJSIP/${{ROUTE_ENDPOINT}},20)
 same => n,Hangup()
[pbx-bridge-xfer]
exten => _X.,1,Dial(PJSIP/${{EXTEN}},20)
 same => n,Hangup()
""")
    await asyncio.to_thread(asterisk_lab.reload, ["pbx_config.so"])
    store = open_store(f"sqlite:///{tmp_path / 'bridge.db'}")
    feed = EventFeed(lab_config(acme, first.account.username, tmp_path), store,
                     path_map=lambda p: asterisk_lab.host_path(p))
    lab = asterisk_lab
    manager = AmiManager("127.0.0.1", lab.ami_port, lab.ami_user, lab.ami_secret,
                         on_event=feed.on_event, wants=feed.ami.wants, on_ready=feed.on_ready,
                         settings=settings())
    await manager.start(timeout=10)
    await asyncio.wait_for(feed.ready.get(), 10)
    mark = ami.mark()
    call = asyncio.create_task(place_carrier_call(DID, talk=5.0))
    try:
        dial = await ami.wait_for(event_is("DialEnd", DialStatus="ANSWER"), 15, since=mark)
        # A transfer needs the two sides bridged first ("Transfer invalid" before that).
        await ami.wait_for(event_is("BridgeEnter", Channel=dial["DestChannel"]), 5, since=mark)
        reply = await manager.action("BlindTransfer", {
            "Channel": dial["DestChannel"], "Context": "pbx-bridge-xfer",
            "Exten": second.account.username})
        assert reply.response == "Success"
        await ami.wait_for(event_is("BlindTransfer", Result="Success"), 5, since=mark)
        result = await call
        assert result.answered, result.stderr
        done = await asyncio.wait_for(feed.done.get(), 10)
        closed = await recording_listener.wait(timeout=10)
        assert done.file == closed and done.signal == "hangup" and done.transfers == 1
        assert done.callee.endpoint == first.account.username  # whom the call was for
        assert feed.done.empty() and feed.tracker.calls == {}
        names = [type(e).__name__ for e in feed.events]
        assert names.count("BlindTransferred") == 1
        transfer = next(e for e in feed.events if type(e).__name__ == "BlindTransferred")
        assert transfer.target == second.account.username  # type: ignore[attr-defined]
        assert transfer.call == done.call  # type: ignore[attr-defined]
        answered = {e.leg for e in feed.events if type(e).__name__ == "LegStarted"
                    and e.endpoint == second.account.username}  # type: ignore[attr-defined]
        assert answered, "desk B's leg belongs to the same call (Linkedid)"
        assert len(store.jobs()) == 2
    finally:
        if not call.done():
            call.cancel()
        await manager.close()
        store.close()
