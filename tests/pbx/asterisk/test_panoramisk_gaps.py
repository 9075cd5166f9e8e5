"""panoramisk 1.4's measured gaps, reproduced against the same fake AMI server that
test_manager.py runs our AmiManager against (why the bridge does not use its Manager).

Each test asserts panoramisk's *current* behaviour; if a future release fixes one, the test
fails and the choice in manager.py's docstring can be revisited.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest

from tests.pbx.asterisk.fake_ami import FakeAmi, frame

panoramisk = pytest.importorskip("panoramisk")
from panoramisk import Manager  # noqa: E402
from panoramisk.ami_protocol import AMIProtocol  # noqa: E402


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 20))


def manager(fake: FakeAmi, secret: str = "s3cret", **kw: object) -> Manager:
    return Manager(loop=asyncio.get_running_loop(), host="127.0.0.1", port=fake.port,
                   username="bridge", secret=secret, log=logging.getLogger("pano-test"), **kw)


def test_wrong_secret_is_retried_forever_without_an_error() -> None:
    async def body() -> None:
        fake = await FakeAmi().start()
        m = manager(fake, secret="wrong", reconnect_timeout=0)
        await m.connect()  # returns normally
        await fake.wait_for(lambda: len(fake.logins) >= 3)  # and tries again, and again
        assert fake.logins[:3] == [False, False, False] and not m.authenticated
        m.close()
        await fake.stop_listening()
        fake.drop_all()

    run(body)


def test_connect_returns_before_login() -> None:
    async def body() -> None:
        fake = await FakeAmi().start()
        fake.login_gate = asyncio.Event()
        m = manager(fake)
        await m.connect()
        await fake.wait_for(lambda: len(fake.actions) == 1)
        assert not m.authenticated  # connect() is done, the login is not answered yet
        fake.login_gate.set()
        m.close()
        await fake.close()

    run(body)


def test_unanswered_pings_go_unnoticed() -> None:
    async def body() -> None:
        fake = await FakeAmi().start()
        m = manager(fake, ping_delay=1, ping_interval=1)  # int-cast: 1 s is the minimum
        await m.connect()
        await fake.wait_for(lambda: fake.logins == [True])
        fake.silent = True  # half-open: nothing answered any more
        await fake.wait_for(lambda: sum(a.get("Action") == "Ping" for a in fake.actions) >= 3)
        assert fake.connections == 1  # three pings unanswered, still "connected"
        m.close()
        await fake.close()

    run(body)


def test_action_during_outage_hangs() -> None:
    async def body() -> None:
        fake = await FakeAmi().start()
        m = manager(fake, reconnect_timeout=60)
        await m.connect()
        await fake.wait_for(lambda: fake.logins == [True])
        await fake.stop_listening()
        fake.drop_all()
        await fake.wait_for(lambda: fake.active == 0)
        future = m.send_action({"Action": "Status"})
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(future), 0.5)  # parked; no error, no end
        assert not future.done()
        m.close()
        await fake.close()

    run(body)


def test_utf8_character_split_across_reads_is_dropped() -> None:
    async def body() -> None:
        got: list[str] = []
        m = Manager(loop=asyncio.get_running_loop())
        m.register_event("*", lambda _m, message: got.append(message["CallerIDName"]))
        protocol = AMIProtocol()
        protocol.connection_made(asyncio.Transport())
        protocol.factory, protocol.encoding = m, "utf8"
        data = frame(("Event", "Newchannel"), ("CallerIDName", "Müller"))
        cut = data.index("ü".encode()) + 1
        protocol.data_received(data[:cut])
        protocol.data_received(data[cut:])
        assert got == ["Mller"]

    run(body)
