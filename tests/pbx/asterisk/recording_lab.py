"""The lab of the real recording tests: files/recording.yaml rendered by `pbx-bridge
dialplan` into its own Asterisk, our FastAGI call router, and the bridge's AMI side (manager
+ call feed) sharing the router's store, as `pbx-bridge run` wires them. The manager reaches
Asterisk through `AmiProxy`, a TCP relay the test can cut (and keep cut) to drop the link.

Its own Asterisk (not the routing lab's): the outage tests restart it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pbx_bridge.calls.events import CallEnded, Outcome, RecordingFinished
from pbx_bridge.config.load import load_config
from pbx_bridge.config.model import Config
from pbx_bridge.lab.ami import AmiClient
from pbx_bridge.lab.pytest_plugin import LabLoop
from pbx_bridge.lab.runner import AsteriskLab
from pbx_bridge.pbx.asterisk.ami_calls import AmiCallFeed
from pbx_bridge.pbx.asterisk.ami_protocol import AmiMessage
from pbx_bridge.pbx.asterisk.manager import AmiManager, ManagerSettings
from tests.pbx.asterisk.conftest import RoutingLab, start_lab

CONFIG = Path(__file__).parent / "files" / "recording.yaml"


class AmiProxy:
    """127.0.0.1:port -> Asterisk's AMI. `cut()` drops every link; `cut(block=True)` also
    refuses new ones until `unblock()` (a network outage, as the bridge sees it)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.blocked = False
        self.accepted = 0
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> AmiProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.blocked:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:  # Asterisk not listening (restarting): the client sees a reset
            writer.transport.abort()
            return
        self.accepted += 1
        link = (writer, up_writer)
        self._links.add(link)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (OSError, ConnectionError):
                pass
            finally:
                for w in link:
                    w.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._links.discard(link)

    def cut(self, block: bool = False) -> None:
        self.blocked = block
        for link in list(self._links):
            for w in link:
                w.transport.abort()

    def unblock(self) -> None:
        self.blocked = False

    async def close(self) -> None:
        self.cut(block=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class Feed(AmiCallFeed):
    """The bridge's call feed, with what the tests wait on: finished recordings, ended
    calls and logins (each reconciliation done)."""

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.done: asyncio.Queue[RecordingFinished] = asyncio.Queue()
        self.ended: list[str] = []
        self.ready: asyncio.Queue[int] = asyncio.Queue()
        self._changed = asyncio.Event()

    def on_event(self, message: AmiMessage) -> None:
        super().on_event(message)
        self._changed.set()

    def handle(self, outcomes: list[Outcome]) -> None:
        super().handle(outcomes)
        self.ended += [o.call for o in outcomes if isinstance(o, CallEnded)]
        self._changed.set()

    def finished(self, done: RecordingFinished) -> None:
        super().finished(done)
        self.done.put_nowait(done)

    async def on_ready(self, manager: AmiManager) -> None:
        await super().on_ready(manager)
        self.ready.put_nowait(manager.logins)
        self._changed.set()

    async def until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait, driven by the feed's events, until `predicate()` holds."""
        async def loop() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(loop(), timeout)


@dataclass
class RecordingLab(RoutingLab):
    proxy: AmiProxy | None = None
    feed: Feed | None = None
    manager: AmiManager | None = None

    async def close(self) -> None:
        await self.disconnect_bridge()
        await super().close()
        if self.proxy is not None:
            await self.proxy.close()

    async def connect_bridge(self) -> Feed:
        """The bridge's AMI side, through the proxy; returns once it reconciled."""
        assert self.proxy is not None
        feed = Feed(self.config, self.store, path_map=self.lab.host_path)
        settings = ManagerSettings(ping_interval=5, ping_timeout=5, boot_wait=5,
                                   backoff_initial=0.2, backoff_max=1.0,
                                   rng=random.Random(5))
        self.manager = AmiManager("127.0.0.1", self.proxy.port, self.lab.ami_user,
                                  self.lab.ami_secret, on_event=feed.on_event,
                                  wants=feed.ami.wants, on_ready=feed.on_ready,
                                  settings=settings)
        self.feed = feed
        await self.manager.start(timeout=10)
        await asyncio.wait_for(feed.ready.get(), 10)
        return feed

    async def disconnect_bridge(self) -> None:
        if self.manager is not None:
            await self.manager.close()
        self.manager = self.feed = None
        if self.proxy is not None:
            self.proxy.unblock()

    def restart_asterisk(self) -> float:
        """Stop Asterisk (SIGTERM: calls end) and start it again on the same ports and
        files, with the lab runner; seconds until it is booted again."""
        return self.lab.restart()

    async def reconnect_test_ami(self) -> None:
        with contextlib.suppress(Exception):
            await self.ami.close()
        self.ami = await AmiClient.connect("127.0.0.1", self.lab.ami_port, self.lab.ami_user,
                                           self.lab.ami_secret)


def lab_config(lab: AsteriskLab) -> Config:
    loaded = load_config(CONFIG)
    assert loaded.ok, [str(p) for p in loaded.errors]
    assert loaded.config.system.pbx is not None
    return lab.with_recordings_here(loaded.config)


async def _start(root: Path, workdir: Path) -> RecordingLab:
    async def proxy(lab: AsteriskLab) -> AmiProxy:
        return await AmiProxy(lab.ami_port).start()

    rl = await start_lab(root, workdir, lab_config, RecordingLab, {"proxy": proxy})
    assert isinstance(rl, RecordingLab)
    return rl


@pytest.fixture(scope="session")
def recording_session(lab_root: Path, lab_loop: LabLoop,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordingLab]:
    rl = lab_loop.run(_start(lab_root, tmp_path_factory.mktemp("recording")))
    print(f"\nrecording lab Asterisk {rl.lab.name}: ready in {rl.lab.ready_seconds:.3f} s")
    try:
        yield rl
    finally:
        rl.shut_down(lab_loop)


@pytest.fixture
def recording_lab(recording_session: RecordingLab, lab_loop: LabLoop) -> Iterator[RecordingLab]:
    """The session's recording lab with the bridge's AMI side connected (through the proxy);
    no phone and no bridge link left after."""
    rl = recording_session
    lab_loop.run(rl.connect_bridge())
    yield rl

    async def after() -> None:
        await rl.disconnect_bridge()
        await rl.stop_processes()

    lab_loop.run(after())
