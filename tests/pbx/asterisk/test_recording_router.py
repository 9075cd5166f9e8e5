"""Policy recordings without Asterisk: the router's dial step decides and stores the facts
(once per channel and per call), and the AMI feed hands a stored recording on exactly once,
whichever way it is found finished (closed report, hangup, reconciliation, spool scan)."""

from __future__ import annotations

import asyncio
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

import tests.pbx.asterisk.test_call_routing as base
from pbx_bridge.calls.events import (
    LegAnswered,
    LegStarted,
    RecordingClosed,
    RecordingFinished,
    RecordingStarted,
)
from pbx_bridge.config.model import Config
from pbx_bridge.pbx.asterisk.ami_calls import AmiCallFeed
from pbx_bridge.pbx.asterisk.call_routing import CallRouter, RecordingsDir
from pbx_bridge.store import Store, open_store
from tests.pbx.asterisk.test_call_routing import (
    HOSTILE_NAME,
    HOSTILE_NUMBER,
    OPEN,
    PBX_DIR,
    UNIQUEID,
    agi_round,
)
from tests.routing.conftest import acme  # noqa: F401  (fixture)

T0 = "1795393172"
FRONT_DESK_DID = "12025550100"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield opened
    opened.close()


def router_for(config: Config, store: Store, tmp_path: Path) -> CallRouter:
    return CallRouter(config, store, clock=lambda: OPEN,
                      recordings=RecordingsDir(PBX_DIR, tmp_path / "rec"))


def step(router: CallRouter, *args: str, uniqueid: str = UNIQUEID, **caller: str
         ) -> dict[str, str]:
    """One `step` round on the channel `uniqueid` (args: origin, number, position, status,
    t0, linkedid)."""
    saved, base.UNIQUEID = base.UNIQUEID, uniqueid
    try:
        return asyncio.run(agi_round(router, "step", list(args), **caller))
    finally:
        base.UNIQUEID = saved


def test_inbound_external_to_a_recording_desk_starts_once_with_the_facts(
        acme: Config, store: Store, tmp_path: Path) -> None:  # noqa: F811
    router = router_for(acme, store, tmp_path)
    first = step(router, "trunk", FRONT_DESK_DID, "", "", T0, UNIQUEID,
                 callerid=HOSTILE_NUMBER, name=HOSTILE_NAME)
    file = f"{PBX_DIR}/rec-{UNIQUEID}"
    assert first["PBXB_REC"] == file  # Asterisk's ids only, never the caller's text
    [kept] = store.open_recordings(call=UNIQUEID)
    assert kept.file == file + ".wav" and kept.methods == ("recordings-sftp", "archive-s3")
    assert kept.facts["src_number"] == HOSTILE_NUMBER  # kept as data, cleaned when named
    assert kept.facts["dst_number"] == FRONT_DESK_DID and kept.facts["dst_name"] == "front-desk"
    assert kept.facts["service_name"] == "Call recording"
    assert kept.facts["call_time"] == "2026-11-23T00:19:32+00:00"
    # A blind transfer re-runs the dialplan on the same channel: same file, still one row.
    again = step(router, "trunk", FRONT_DESK_DID, "", "", T0, UNIQUEID)
    assert again["PBXB_REC"] == file and len(store.open_recordings()) == 1
    # Another leg of the same call (an attended transfer's Local channel): no second file.
    other = step(router, "trunk", FRONT_DESK_DID, "", "", T0, UNIQUEID,
                 uniqueid="1795393172.9")
    assert other["PBXB_REC"] == "" and len(store.open_recordings()) == 1


def test_flags_off_nothing_recorded_outbound_external_recorded_for_the_caller(
        acme: Config, store: Store, tmp_path: Path) -> None:  # noqa: F811
    router = router_for(acme, store, tmp_path)
    internal = step(router, "desk2", "103", "", "", T0, UNIQUEID, callerid="desk2")
    assert internal["PBXB_REC"] == "" and store.open_recordings() == []
    out = step(router, "app-alice", "12025559999", "", "", T0, UNIQUEID,
               callerid="12025550101")
    assert out["PBXB_REC"] == f"{PBX_DIR}/rec-{UNIQUEID}"
    [kept] = store.open_recordings()
    assert kept.methods == ("recordings-sftp",)
    assert (kept.facts["src_number"], kept.facts["src_name"], kept.facts["dst_number"]) == (
        "12025550101", "Alice Smith", "12025559999")


def wav(path: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x10\x20" * int(8000 * seconds))


def test_feed_hands_a_stored_recording_on_once_whatever_finds_it(
        acme: Config, store: Store, tmp_path: Path) -> None:  # noqa: F811
    router = router_for(acme, store, tmp_path)
    step(router, "trunk", FRONT_DESK_DID, "", "", T0, UNIQUEID)
    file = f"{PBX_DIR}/rec-{UNIQUEID}.wav"
    host = tmp_path / "rec" / f"rec-{UNIQUEID}.wav"
    wav(host, 1.0)
    feed = AmiCallFeed(acme, store, path_map=lambda p: tmp_path / "rec" / Path(p).name)
    feed.tracker.apply(LegStarted(UNIQUEID, UNIQUEID, 1.0, "PJSIP/carrier-1", "carrier-trunk",
                                  "15559876543", "Caller", FRONT_DESK_DID, origin=True))
    feed.tracker.apply(LegStarted(UNIQUEID, "1795393172.8", 1.1, "PJSIP/frontdesk-2",
                                  "frontdesk"))
    feed.tracker.apply(LegAnswered(UNIQUEID, "1795393172.8", 2.0))
    feed.handle(feed.tracker.apply(RecordingStarted(UNIQUEID, UNIQUEID, 1.0, file)))
    feed.handle(feed.tracker.apply(RecordingClosed(UNIQUEID, UNIQUEID, 5.0, file)))
    jobs = store.jobs(file=str(host.resolve()))
    assert sorted(job.method for job in jobs) == ["archive-s3", "recordings-sftp"]
    assert jobs[0].facts["dst_number"] == FRONT_DESK_DID
    # Found again by a spool scan (the call is gone), or by a closed report for a file the
    # tracker forgot: nothing more.
    feed.scan_spool()
    feed.finished(RecordingFinished(UNIQUEID, UNIQUEID, 6.0, file, "reconciled"))
    assert len(store.jobs()) == 2 and len(feed.requests) == 1


def test_spool_scan_delivers_a_stored_recording_whose_call_is_gone_and_drops_empty_ones(
        acme: Config, store: Store, tmp_path: Path) -> None:  # noqa: F811
    router = router_for(acme, store, tmp_path)
    step(router, "trunk", FRONT_DESK_DID, "", "", T0, UNIQUEID)
    step(router, "trunk", FRONT_DESK_DID, "", "", T0, "1795393172.20",
         uniqueid="1795393172.20")
    wav(tmp_path / "rec" / f"rec-{UNIQUEID}.wav", 1.0)
    wav(tmp_path / "rec" / "rec-1795393172.20.wav", 0.0)  # header only: nothing recorded
    feed = AmiCallFeed(acme, store, path_map=lambda p: tmp_path / "rec" / Path(p).name)
    feed.tracker.apply(LegStarted("1795393172.20", "1795393172.20", 1.0, origin=True))
    feed.scan_spool()  # the second call is live: left alone
    assert len(store.jobs()) == 2 and len(store.open_recordings()) == 1
    assert feed.orphans == []  # stored recordings are never reported as unclaimed
    feed.tracker.calls.clear()
    feed.scan_spool()
    assert len(store.jobs()) == 2 and store.open_recordings() == []
    assert not (tmp_path / "rec" / "rec-1795393172.20.wav").exists()


def test_feed_drops_a_recording_nobody_answered(
        acme: Config, store: Store, tmp_path: Path) -> None:  # noqa: F811
    """The desk did not answer and the caller left a voicemail: the voicemail is delivered
    as such (the router's file); the policy recording of the same leg is not a call."""
    router = router_for(acme, store, tmp_path)
    step(router, "trunk", FRONT_DESK_DID, "", "", T0, UNIQUEID)
    file = f"{PBX_DIR}/rec-{UNIQUEID}.wav"
    host = tmp_path / "rec" / f"rec-{UNIQUEID}.wav"
    wav(host, 2.0)  # the greeting and the message
    feed = AmiCallFeed(acme, store, path_map=lambda p: tmp_path / "rec" / Path(p).name)
    feed.tracker.apply(LegStarted(UNIQUEID, UNIQUEID, 1.0, "PJSIP/carrier-1", origin=True))
    feed.tracker.apply(LegAnswered(UNIQUEID, UNIQUEID, 6.0))  # Answer() of the voicemail
    feed.handle(feed.tracker.apply(RecordingStarted(UNIQUEID, UNIQUEID, 1.0, file)))
    feed.handle(feed.tracker.apply(RecordingClosed(UNIQUEID, UNIQUEID, 9.0, file)))
    assert store.jobs() == [] and not host.exists()
    assert store.open_recordings() == [] and feed.requests == []


MAIN_LINE = "12025550102"  # menu, key 2: the support queue (front-desk records if it answers)


def queue_call(router: CallRouter) -> dict[str, str]:
    menu = step(router, "trunk", MAIN_LINE, "", "", T0, UNIQUEID)
    return step(router, "trunk", MAIN_LINE, menu["PBXB_POS"], "KEY2", T0, UNIQUEID)


@pytest.mark.parametrize(("answerer", "methods"), [
    ("frontdesk", ["archive-s3", "recordings-sftp"]),  # its inbound_external: delivered
    ("desk2", []),  # every flag off, the caller outside: removed
    (None, []),  # who answered is unknown (spool scan after an outage): kept, not delivered
])
def test_queue_recording_follows_the_member_who_answered(
        acme: Config, store: Store, tmp_path: Path,  # noqa: F811
        answerer: str | None, methods: list[str]) -> None:
    router = router_for(acme, store, tmp_path)
    assert queue_call(router)["PBXB_REC"] == f"{PBX_DIR}/rec-{UNIQUEID}"
    [kept] = store.open_recordings()
    assert kept.methods == () and kept.facts["if_answered_by"] == {
        "front-desk": ["recordings-sftp", "archive-s3"]}
    host = tmp_path / "rec" / f"rec-{UNIQUEID}.wav"
    wav(host, 1.0)
    feed = AmiCallFeed(acme, store, path_map=lambda p: tmp_path / "rec" / Path(p).name)
    if answerer is None:
        feed.scan_spool()
    else:
        feed.tracker.apply(LegStarted(UNIQUEID, UNIQUEID, 1.0, "PJSIP/carrier-1", origin=True))
        member = "1795393172.8"
        feed.tracker.apply(LegStarted(UNIQUEID, member, 2.0, f"PJSIP/{answerer}-2", answerer))
        feed.tracker.apply(LegAnswered(UNIQUEID, member, 3.0))
        feed.handle(feed.tracker.apply(RecordingStarted(UNIQUEID, UNIQUEID, 1.0, kept.file)))
        feed.handle(feed.tracker.apply(RecordingClosed(UNIQUEID, UNIQUEID, 9.0, kept.file)))
    assert sorted(job.method for job in store.jobs()) == methods
    assert host.exists() == bool(methods or answerer is None)
    assert store.open_recordings() == []
