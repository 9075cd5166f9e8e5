"""The AMI manager against a fake AMI server: each of panoramisk's measured gaps, closed."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import pytest
from structlog.testing import capture_logs

from pbx_bridge.calls.events import CallEnded, Outcome, RecordingFinished
from pbx_bridge.calls.state import CallTracker
from pbx_bridge.pbx.asterisk.ami_protocol import AmiMessage
from pbx_bridge.pbx.asterisk.events import AmiEvents
from pbx_bridge.pbx.asterisk.manager import (
    AmiActionError,
    AmiLoginError,
    AmiManager,
    AmiUnavailable,
    ManagerSettings,
    backoff_delay,
)
from pbx_bridge.pbx.asterisk.reconcile import reconcile
from tests.pbx.asterisk.fake_ami import FakeAmi, frame

FAST = dict(ping_interval=30.0, ping_timeout=1.0, action_timeout=2.0, connect_timeout=2.0,
            boot_wait=2.0, backoff_initial=0.01, backoff_max=0.05)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 20))


def manager_for(fake: FakeAmi, secret: str = "s3cret", **kw: object) -> AmiManager:
    settings = ManagerSettings(**{**FAST, **kw.pop("settings", {})}, rng=random.Random(1))  # type: ignore[arg-type]
    return AmiManager("127.0.0.1", fake.port, "bridge", secret, settings=settings,
                      **kw)  # type: ignore[arg-type]


def test_start_returns_only_after_login_and_actions_work() -> None:
    async def body() -> None:
        fake = await FakeAmi().start()
        fake.login_gate = asyncio.Event()
        manager = manager_for(fake)
        starting = asyncio.create_task(manager.start(timeout=5))
        await fake.wait_for(lambda: len(fake.actions) == 1)  # the Login is in, unanswered
        assert not starting.done() and manager.state == "connecting"
        fake.login_gate.set()
        await starting
        assert manager.state == "ready" and fake.logins == [True]
        reply = await manager.action("Ping")
        assert reply["Ping"] == "Pong"
        assert [a["Action"] for a in fake.actions] == ["Login", "Ping"]
        with pytest.raises(AmiActionError, match="Invalid/unknown"):
            await manager.action("NoSuchThing")
        await manager.close()
        await fake.close()

    run(body)


def test_wrong_secret_is_reported_and_never_retried() -> None:
    async def body() -> None:
        fake = await FakeAmi().start()
        manager = manager_for(fake, secret="wrong")
        with capture_logs() as logs, pytest.raises(AmiLoginError, match="Authentication"):
            await manager.start(timeout=5)
        assert manager.state == "failed"
        assert manager._task is not None and manager._task.done()  # nothing left to retry
        assert fake.logins == [False] and fake.connections == 1
        refused = [e for e in logs if e["event"] == "ami_login_refused"]
        assert refused and refused[0]["log_level"] == "error" and not refused[0]["retrying"]
        assert "wrong" not in repr(logs)  # the secret is never logged
        with pytest.raises(AmiLoginError):
            await manager.action("Ping", timeout=0.1)
        await manager.close()
        await fake.close()

    run(body)


def test_half_open_link_is_detected_and_reconnected() -> None:
    async def body() -> None:
        fake = await FakeAmi().start()
        ready = asyncio.Queue[int]()

        async def on_ready(m: AmiManager) -> None:
            ready.put_nowait(m.logins)

        manager = manager_for(fake, on_ready=on_ready,
                              settings=dict(ping_interval=0.05, ping_timeout=0.2))
        with capture_logs() as logs:
            await manager.start(timeout=5)
            assert await asyncio.wait_for(ready.get(), 5) == 1
            fake.silent = True  # still connected, answers nothing
            await fake.wait_for(lambda: fake.connections == 2)
            fake.silent = False
            assert await asyncio.wait_for(ready.get(), 5) == 2
        assert any(e["event"] == "ami_link_dead" for e in logs)
        await manager.close()
        await fake.close()

    run(body)


def test_reconnects_after_drop_and_outage_with_backoff() -> None:
    async def body() -> None:
        fake = await FakeAmi().start()
        ready = asyncio.Queue[int]()

        async def on_ready(m: AmiManager) -> None:
            ready.put_nowait(m.logins)

        manager = manager_for(fake, on_ready=on_ready)
        with capture_logs() as logs:
            await manager.start(timeout=5)
            await asyncio.wait_for(ready.get(), 5)
            await fake.stop_listening()
            fake.drop_all()  # Asterisk restarts: link gone, port closed for a while
            # the drop, then at least two refused attempts while nobody listens
            await manager.wait_until(lambda m: m.failures >= 3, 5)
            await fake.start()  # back on the same port
            assert await asyncio.wait_for(ready.get(), 5) == 2
        retries = [e for e in logs if e["event"] == "ami_disconnected"]
        assert retries and all(0 < e["retry_in"] <= 0.05 for e in retries)
        await manager.close()
        await fake.close()

    run(body)


def test_backoff_grows_caps_and_jitters() -> None:
    rng = random.Random(3)
    delays = [backoff_delay(n, 0.5, 30.0, rng) for n in range(12)]
    for n, delay in enumerate(delays):
        full = min(30.0, 0.5 * 2 ** n)
        assert full / 2 <= delay <= full
    assert max(delays) <= 30.0 and delays[-1] >= 15.0
    assert len({round(backoff_delay(3, 0.5, 30.0, rng), 6) for _ in range(20)}) > 10


def test_action_during_outage_fails_within_its_timeout() -> None:
    async def body() -> None:
        fake = await FakeAmi().start()
        manager = manager_for(fake)
        await manager.start(timeout=5)
        await fake.stop_listening()
        fake.drop_all()
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(AmiUnavailable):
            await manager.action("Ping", timeout=0.3)
        assert loop.time() - start < 2.0
        await manager.close()
        await fake.close()

    run(body)


def test_action_in_flight_fails_at_once_when_the_link_drops() -> None:
    async def body() -> None:
        fake = await FakeAmi().start()
        manager = manager_for(fake)
        await manager.start(timeout=5)
        fake.silent = True
        pending = asyncio.create_task(manager.action("Ping", timeout=10))
        await fake.wait_for(lambda: len(fake.actions) == 2)
        fake.drop_all()
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(AmiUnavailable, match="lost"):
            await pending
        assert loop.time() - start < 2.0
        await manager.close()
        await fake.close()

    run(body)


def test_first_connect_while_asterisk_is_down_then_up() -> None:
    async def body() -> None:
        fake = await FakeAmi().start()
        await fake.stop_listening()  # the port is known but nobody listens
        manager = manager_for(fake)
        with pytest.raises(AmiUnavailable, match="not ready"):
            await manager.start(timeout=0.2)  # does not raise ConnectionRefused; keeps trying
        await fake.start()
        await manager.wait_ready(timeout=5)
        assert fake.logins == [True]
        await manager.close()
        await fake.close()

    run(body)


def test_no_fullybooted_still_gets_ready_after_boot_wait() -> None:
    async def body() -> None:
        fake = await FakeAmi().start()
        fake.fullybooted = False  # e.g. the AMI user may not read system events
        manager = manager_for(fake, settings=dict(boot_wait=0.1))
        with capture_logs() as logs:
            await manager.start(timeout=5)
        assert any(e["event"] == "ami_no_fullybooted" for e in logs)
        await manager.close()
        await fake.close()

    run(body)


def test_utf8_split_across_reads_and_event_filter() -> None:
    async def body() -> None:
        fake = await FakeAmi().start()
        got: asyncio.Queue[AmiMessage] = asyncio.Queue()
        ami = AmiEvents()
        manager = manager_for(fake, on_event=got.put_nowait, wants=ami.wants)
        await manager.start(timeout=5)
        skipped = frame(("Event", "Newexten"), ("Uniqueid", "1.0"), ("AppData", "x"))
        wanted = frame(("Event", "Newchannel"), ("Channel", "PJSIP/carrier-00000001"),
                       ("CallerIDNum", "15559876543"), ("CallerIDName", "Müller"),
                       ("Uniqueid", "1.0"), ("Linkedid", "1.0"))
        data = skipped + wanted
        cut = data.index("ü".encode()) + 1  # between the two bytes of 'ü'
        await fake.push(data, [cut])
        message = await asyncio.wait_for(got.get(), 5)
        assert message["CallerIDName"] == "Müller" and got.empty()  # Newexten never decoded
        await manager.close()
        await fake.close()

    run(body)


def test_reconciliation_after_reconnect_rebuilds_calls() -> None:
    async def body() -> None:
        fake = await FakeAmi().start()
        tracker, ami = CallTracker(), AmiEvents()
        outcomes: list[Outcome] = []
        done = asyncio.Queue[int]()

        def handle(out: list[Outcome]) -> None:
            outcomes.extend(out)
            done.put_nowait(len(out))

        async def on_ready(m: AmiManager) -> None:
            await reconcile(m, tracker, ami, handle, now=lambda: 50.0)

        leg = {"Channel": "PJSIP/carrier-00000001", "Uniqueid": "7.0", "Linkedid": "7.0",
               "CallerIDNum": "15559876543", "CallerIDName": "Ann", "Exten": "15551230001",
               "ChannelStateDesc": "Up"}
        fake.channels = [leg, {**leg, "Channel": "PJSIP/1002-00000002", "Uniqueid": "7.1",
                               "CallerIDNum": "1002", "CallerIDName": "Bob", "Exten": "s"}]
        fake.statuses = [{"Channel": leg["Channel"], "Uniqueid": "7.0", "Linkedid": "7.0",
                          "Variable": "MIXMONITOR_FILENAME=/rec/7.0.wav"}]
        manager = manager_for(fake, on_ready=on_ready)
        await manager.start(timeout=5)
        await asyncio.wait_for(done.get(), 5)
        call = tracker.calls["7.0"]
        assert set(call.legs) == {"7.0", "7.1"} and "/rec/7.0.wav" in call.recordings
        assert call.callee is not None and call.callee.name == "Bob"
        # The call ends while the bridge is disconnected; after the reconnect it is gone.
        fake.channels, fake.statuses = [], []
        fake.drop_all()
        await asyncio.wait_for(done.get(), 5)
        (rec,) = [o for o in outcomes if isinstance(o, RecordingFinished)]
        assert (rec.file, rec.signal, rec.caller.name) == ("/rec/7.0.wav", "reconciled", "Ann")
        assert any(isinstance(o, CallEnded) for o in outcomes) and tracker.calls == {}
        await manager.close()
        await fake.close()

    run(body)


def test_a_failing_event_handler_does_not_drop_the_link() -> None:
    async def body() -> None:
        fake = await FakeAmi().start()
        got: list[str] = []

        def handler(message: AmiMessage) -> None:
            if message.get("Uniqueid") == "bad":
                raise RuntimeError("bug in a handler")
            got.append(message["Uniqueid"])

        manager = manager_for(fake, on_event=handler)
        await manager.start(timeout=5)
        with capture_logs() as logs:
            await fake.push(frame(("Event", "Hangup"), ("Uniqueid", "bad")) +
                            frame(("Event", "Hangup"), ("Uniqueid", "good")))
            reply = await manager.action("Ping")  # answered after both events were read
        assert reply["Ping"] == "Pong" and got == ["good"] and fake.connections == 1
        assert any(e["event"] == "ami_event_handler_failed" for e in logs)
        await manager.close()
        await fake.close()

    run(body)


def test_status_variables_as_asterisk_22_writes_them() -> None:
    from pbx_bridge.pbx.asterisk.reconcile import recording_files

    statuses = [AmiMessage([("Event", "Status"), ("Uniqueid", "5.1"), ("Linkedid", "5.0"),
                            ("Variable", "MIXMONITOR_FILENAME=(null)")]),
                AmiMessage([("Event", "Status"), ("Uniqueid", "5.0"), ("Linkedid", "5.0"),
                            ("Variable", "MIXMONITOR_FILENAME=/rec/5.0.wav")]),
                AmiMessage([("Event", "Status"), ("Uniqueid", "6.0"),
                            ("ChanVariable", "MIXMONITOR_FILENAME=/rec/6.0.wav")])]
    assert recording_files(statuses) == {"5.0": ("5.0", "/rec/5.0.wav"),
                                         "6.0": ("6.0", "/rec/6.0.wav")}


def test_a_field_with_a_line_break_is_never_sent() -> None:
    """Caller-supplied text cannot inject AMI headers or actions."""
    async def body() -> None:
        fake = await FakeAmi().start()
        manager = manager_for(fake)
        await manager.start(timeout=5)
        with pytest.raises(ValueError, match="line break"):
            await manager.action("Setvar", {"Variable": "X", "Value": "Evil\r\nAction: Command"})
        reply = await manager.action("Ping")
        assert reply["Ping"] == "Pong"
        assert [a["Action"] for a in fake.actions] == ["Login", "Ping"]
        await manager.close()
        await fake.close()

    run(body)
