"""The real Asterisk 22 call, served by the fake AMI server, through manager -> events ->
call state -> delivery jobs in a real SQLite store (acme.yaml's delivery methods)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from pbx_bridge.calls.events import RecordingFinished
from pbx_bridge.config.model import Config
from pbx_bridge.pbx.asterisk.ami_calls import AmiCallFeed
from pbx_bridge.pbx.asterisk.ami_protocol import AmiMessage
from pbx_bridge.pbx.asterisk.manager import AmiManager, ManagerSettings
from pbx_bridge.store import Store, open_store
from tests.pbx.asterisk.fake_ami import FakeAmi
from tests.routing.conftest import acme  # noqa: F401  (fixture)

CAPTURE = (Path(__file__).parent / "fixtures" / "asterisk22" /
           "did-call-answered-recorded.ami").read_bytes()
FILE = "/opt/h/rec/1795393172.0.wav"


def acme_call() -> list[bytes]:
    """The capture's events, as if the carrier called front-desk's direct DID."""
    text = (CAPTURE.replace(b"15551230001", b"12025550100")
            .replace(b"PJSIP/1002-", b"PJSIP/frontdesk-")
            .replace(b"PJSIP/carrier-", b"PJSIP/carrier-trunk-"))
    blocks = [b.lstrip(b"\r\n") for b in text.split(b"\r\n\r\n")]
    return [b + b"\r\n\r\n" for b in blocks if b.startswith(b"Event:")
            and not b.startswith(b"Event: FullyBooted")]


class Feed(AmiCallFeed):
    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.finished_queue: asyncio.Queue[RecordingFinished] = asyncio.Queue()
        self.ready_queue: asyncio.Queue[int] = asyncio.Queue()
        self.seen = 0  # AMI events handed to on_event
        self._event = asyncio.Event()

    def on_event(self, message: AmiMessage) -> None:
        super().on_event(message)
        self.seen += 1
        self._event.set()

    async def until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait, driven by incoming events, until `predicate()` holds."""
        async def loop() -> None:
            while not predicate():
                self._event.clear()
                await self._event.wait()

        await asyncio.wait_for(loop(), timeout)

    def finished(self, done: RecordingFinished) -> None:
        super().finished(done)
        self.finished_queue.put_nowait(done)

    async def on_ready(self, manager: AmiManager) -> None:
        await super().on_ready(manager)
        self.ready_queue.put_nowait(manager.logins)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 20))


def setup(config: Config, tmp: Path) -> tuple[Feed, Store]:
    store = open_store(f"sqlite:///{tmp / 'bridge.db'}")
    feed = Feed(config, store, path_map=lambda p: tmp / p.lstrip("/"), now=lambda: 2e9)
    (tmp / "var/spool/asterisk/monitor").mkdir(parents=True)
    return feed, store


def manager(feed: Feed, fake: FakeAmi) -> AmiManager:
    settings = ManagerSettings(ping_interval=30, backoff_initial=0.01, backoff_max=0.05,
                               rng=random.Random(2))
    return AmiManager("127.0.0.1", fake.port, "bridge", "s3cret", on_event=feed.on_event,
                      wants=feed.ami.wants, on_ready=feed.on_ready, settings=settings)


def test_real_call_becomes_one_job_per_delivery_method(acme: Config, tmp_path: Path) -> None:  # noqa: F811
    async def body() -> None:
        feed, store = setup(acme, tmp_path)
        fake = await FakeAmi().start()
        m = manager(feed, fake)
        await m.start(timeout=5)
        await asyncio.wait_for(feed.ready_queue.get(), 5)
        await fake.push(b"".join(acme_call()))
        done = await asyncio.wait_for(feed.finished_queue.get(), 5)
        assert (done.file, done.signal) == (FILE, "hangup")
        local = str(tmp_path / FILE.lstrip("/"))
        jobs = store.jobs(file=local)
        assert sorted(j.method for j in jobs) == ["archive-s3", "recordings-sftp"]
        facts = jobs[0].facts
        assert (facts["src_number"], facts["dst_number"], facts["service_name"]) == (
            "15559876543", "12025550100", "Call recording")
        first = feed.seen
        await fake.push(b"".join(acme_call()))  # the same call again: nothing new
        await feed.until(lambda: feed.seen == 2 * first)
        assert len(store.jobs()) == 2 and len(feed.requests) == 1
        await m.close()
        await fake.close()
        store.close()

    run(body)


def test_call_ending_during_an_outage_is_delivered_after_reconnect(
        acme: Config, tmp_path: Path) -> None:  # noqa: F811
    async def body() -> None:
        feed, store = setup(acme, tmp_path)
        fake = await FakeAmi().start()
        events = acme_call()
        answered = next(i for i, e in enumerate(events) if b"Event: BridgeEnter" in e)
        m = manager(feed, fake)
        await m.start(timeout=5)
        await asyncio.wait_for(feed.ready_queue.get(), 5)
        await fake.push(b"".join(events[:answered + 2]))
        await feed.until(lambda: "1795393172.0" in feed.tracker.calls and
                         FILE in feed.tracker.calls["1795393172.0"].recordings)
        fake.channels = []  # the call hangs up while the bridge is away
        fake.drop_all()
        assert await asyncio.wait_for(feed.ready_queue.get(), 5) == 2
        done = await asyncio.wait_for(feed.finished_queue.get(), 5)
        assert done.signal == "reconciled" and done.callee.endpoint == "frontdesk"
        assert len(store.jobs(file=str(tmp_path / FILE.lstrip("/")))) == 2
        await m.close()
        await fake.close()
        store.close()

    run(body)


def test_spool_scan_finds_only_unclaimed_old_recordings(acme: Config, tmp_path: Path) -> None:  # noqa: F811
    feed, store = setup(acme, tmp_path)
    spool = tmp_path / "var/spool/asterisk/monitor"
    for name in ("claimed.wav", "orphan.wav", "fresh.wav", "notes.txt"):
        (spool / name).write_bytes(b"RIFF")
    old = 2e9 - 3600
    for name in ("claimed.wav", "orphan.wav", "notes.txt"):
        os.utime(spool / name, (old, old))
    (spool / "fresh.wav").touch()  # still being written, perhaps
    os.utime(spool / "fresh.wav", (2e9 - 5, 2e9 - 5))
    done = RecordingFinished("9.0", "9.0", 1.0, "/var/spool/asterisk/monitor/claimed.wav",
                             "hangup", dialled="12025550103")
    feed.finished(done)
    assert feed.scan_spool() == [str((spool / "orphan.wav").resolve())]
    assert feed.orphans == [str((spool / "orphan.wav").resolve())]
    store.close()


def test_manager_from_config_needs_the_secret(acme: Config, tmp_path: Path,  # noqa: F811
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    feed, store = setup(acme, tmp_path)
    monkeypatch.setenv("ACME_AMI_SECRET", "s3cret")
    m = feed.manager()
    assert (m.host, m.port, m.username) == ("127.0.0.1", 5038, "bridge")
    assert "s3cret" not in repr(m)
    no_ami = dataclasses.replace(acme, system=dataclasses.replace(
        acme.system, pbx=dataclasses.replace(acme.system.pbx, ami=None)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"system\.pbx\.ami"):
        AmiCallFeed(no_ami, store).manager()
    store.close()


def test_router_owned_files_are_left_to_the_router(acme: Config, tmp_path: Path) -> None:  # noqa: F811
    feed, store = setup(acme, tmp_path)
    feed.finished(RecordingFinished("9.0", "9.0", 1.0, "/rec/call-9.0-2.wav", "hangup",
                                    dialled="12025550103"))
    assert store.jobs() == [] and feed.requests == []
    feed.finished(RecordingFinished("9.0", "9.0", 1.0, "/rec/9.0.wav", "hangup",
                                    dialled="12025550103"))
    assert [j.method for j in store.jobs()] == ["archive-s3"]  # the flow's call recorder
    store.close()
