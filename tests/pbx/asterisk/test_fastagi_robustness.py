"""FastAGI server under hostile and broken clients (issue 4, must-show item 6).

Clients that connect and close at once, send binary garbage, send 1 MB of headers with no
blank line, stay silent, or drip a header line at a time must never stall good sessions running
at the same time; silent and dripping clients are dropped after the (injected) header timeout;
garbage is dropped as soon as it shows. Synchronisation is by events and reads with timeouts.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import Awaitable

import pytest
from structlog.testing import capture_logs

from pbx_bridge.pbx.asterisk.fastagi import (
    AgiEnvParser,
    AgiHangup,
    AgiServer,
    AgiSession,
    loop_factory,
)

GOOD_SESSIONS = 40
GOOD_LIMIT = 1.0  # seconds, per good session, while the bad clients are active


def env_block(script: str = "route", *args: str, eol: str = "\n") -> bytes:
    lines = [
        "agi_network: yes",
        f"agi_network_script: {script}",
        f"agi_request: agi://127.0.0.1:4573/{script}",
        "agi_channel: PJSIP/carrier-00000007",
        "agi_language: en",
        "agi_type: PJSIP",
        "agi_uniqueid: 1795393172.7",
        "agi_version: 22.5.2",
        "agi_callerid: 15559876543",
        "agi_calleridname: Müller",
        "agi_context: pbx-bridge-inbound",
        "agi_extension: 15551230001",
        "agi_priority: 2",
    ]
    lines += [f"agi_arg_{i}: {value}" for i, value in enumerate(args, 1)]
    return (eol.join(lines) + eol + eol).encode()


async def fake_asterisk(port: int, env: bytes) -> tuple[list[str], float]:
    """One well-behaved call: env, `200 result=1` to every command. Returns (commands, secs)."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(env)
    commands: list[str] = []
    try:
        while line := await reader.readline():
            commands.append(line.decode().rstrip("\n"))
            writer.write(b"200 result=1 (x)\n")
            await writer.drain()
    finally:
        writer.close()
    return commands, time.perf_counter() - started


async def route(session: AgiSession) -> None:
    await session.set_variable("ROUTE_ENDPOINT", f"ep-{session.args[0]}")
    await session.set_variable("ROUTE_RING_SECONDS", "20")
    await session.get_variable("CALLERID(name)")


async def closed_by_server(reader: asyncio.StreamReader, timeout: float) -> float:
    """Seconds until the server closes (EOF or reset), failing after `timeout`."""
    started = time.perf_counter()
    async with asyncio.timeout(timeout):
        while True:
            try:
                if not await reader.read(65536):
                    break
            except OSError:  # reset: the server aborted a connection with unread input
                break
    return time.perf_counter() - started


def run(coro: Awaitable[None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))  # type: ignore[arg-type]


class Heartbeat:
    """Ticks every 5 ms; `max_gap` shows whether anything froze the event loop."""

    def __init__(self) -> None:
        self.max_gap = 0.0
        self._task = asyncio.create_task(self._beat())

    async def _beat(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            self.max_gap, last = max(self.max_gap, now - last), now

    def stop(self) -> None:
        self._task.cancel()


def test_bad_clients_never_stall_concurrent_good_sessions() -> None:
    async def main() -> None:
        stuck = asyncio.Event()

        async def never_returns(session: AgiSession) -> None:
            await session.set_variable("STUCK", "1")
            stuck.set()
            await asyncio.Event().wait()  # a handler waiting on something that never comes

        rng = random.Random(4)
        server = AgiServer({"route": route, "stuck": never_returns}, header_timeout=10.0)
        await server.start()
        beat = Heartbeat()
        writers: list[asyncio.StreamWriter] = []
        dropped: dict[str, asyncio.Task[float]] = {}

        async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writers.append(writer)
            return reader, writer

        async def flood(writer: asyncio.StreamWriter) -> None:
            chunk = b"agi_big: " + b"x" * 65527
            for _ in range(16):  # 1 MB of header, never a blank line
                writer.write(chunk)
                try:
                    await writer.drain()
                except OSError:
                    return  # the server dropped us: that is the point

        try:
            # A stuck session first: it must hold nobody else.
            stuck_call = asyncio.create_task(fake_asterisk(server.port, env_block("stuck")))
            async with asyncio.timeout(5):
                await stuck.wait()
            for _ in range(10):  # connect and close at once, like a TCP health probe
                (await connect())[1].close()
            for _ in range(5):  # a caller hanging up in the middle of the environment
                _, writer = await connect()
                writer.write(env_block("route", "1")[:57])
                writer.write_eof()
            for i in range(5):  # binary garbage, with and without line breaks
                reader, writer = await connect()
                noise = bytes(rng.getrandbits(8) for _ in range(4096))
                writer.write(noise if i % 2 else noise.replace(b"\n", b"") + b"\n\n")
                dropped[f"garbage{i}"] = asyncio.create_task(closed_by_server(reader, 5))
            reader, writer = await connect()
            writer.write(b"GET / HTTP/1.1\r\nHost: pbx\r\n\r\n")
            dropped["http"] = asyncio.create_task(closed_by_server(reader, 5))
            floods = []
            for i in range(3):
                reader, writer = await connect()
                floods.append(asyncio.create_task(flood(writer)))
                dropped[f"flood{i}"] = asyncio.create_task(closed_by_server(reader, 5))
            silent = [await connect() for _ in range(10)]  # connected, never a byte
            _, drip = await connect()
            drip.write(b"agi_network: yes\nagi_netw")  # part of a block, then nothing

            calls = [
                asyncio.create_task(fake_asterisk(server.port, env_block("route", str(i))))
                for i in range(GOOD_SESSIONS)
            ]
            async with asyncio.timeout(10):
                results = await asyncio.gather(*calls)
            slowest = max(seconds for _, seconds in results)
            assert slowest < GOOD_LIMIT, f"a good session took {slowest:.3f} s"
            for i, (commands, _) in enumerate(results):
                assert commands == [
                    f'SET VARIABLE ROUTE_ENDPOINT "ep-{i}"',
                    'SET VARIABLE ROUTE_RING_SECONDS "20"',
                    "GET VARIABLE CALLERID(name)",
                ]

            # Garbage and floods were dropped on sight, not at the header timeout.
            async with asyncio.timeout(5):
                waited = {name: await task for name, task in dropped.items()}
            assert max(waited.values()) < GOOD_LIMIT, waited
            await asyncio.gather(*floods)
            # The silent ones are still connected (so nothing above was freed by the timeout)
            # and the stuck session still runs; yet the loop never froze.
            assert not stuck_call.done()
            for reader, _ in silent:
                assert not reader.at_eof()
            assert beat.max_gap < 0.5, f"event loop stalled {beat.max_gap:.3f} s"

            # Still serving afterwards.
            commands, seconds = await fake_asterisk(server.port, env_block("route", "after"))
            assert len(commands) == 3 and seconds < GOOD_LIMIT
        finally:
            beat.stop()
            for writer in writers:
                writer.close()
            async with asyncio.timeout(5):
                await server.close()  # cancels the stuck handler, drops the silent peers
        stuck_commands, _ = await asyncio.wait_for(stuck_call, 5)
        assert stuck_commands == ['SET VARIABLE STUCK "1"']

    run(main())


def test_silent_and_dripping_clients_dropped_after_header_timeout() -> None:
    async def main() -> None:
        timeout = 0.3
        async with AgiServer({"route": route}, header_timeout=timeout) as server:
            with capture_logs() as logs:
                silent_reader, silent = await asyncio.open_connection("127.0.0.1", server.port)
                drip_reader, drip = await asyncio.open_connection("127.0.0.1", server.port)

                async def dripping() -> float:
                    # A valid header line every 20 ms, never the blank line (slowloris):
                    # the timeout bounds the whole block, not each read.
                    started = time.perf_counter()
                    for n in range(500):
                        drip.write(f"agi_line_{n}: x\n".encode())
                        try:
                            async with asyncio.timeout(0.02):
                                if not await drip_reader.read(1):
                                    return time.perf_counter() - started
                        except TimeoutError:
                            continue
                    raise AssertionError("a dripping client was never dropped")

                silent_after, drip_after = await asyncio.gather(
                    closed_by_server(silent_reader, 5.0), dripping()
                )
                commands, _ = await fake_asterisk(server.port, env_block("route", "1"))
            silent.close()
            drip.close()
        for waited in (silent_after, drip_after):
            assert timeout * 0.9 <= waited < timeout + 1.0
        assert len(commands) == 3
        assert [e["event"] for e in logs].count("agi_header_timeout") == 2

    run(main())


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_env_any_line_ending_any_split(eol: str) -> None:
    data = env_block("route", "15551230001", eol=eol) + b"200 result=1\n"
    whole = AgiEnvParser()
    assert whole.feed(data) == b"200 result=1\n"
    for size in (1, 2, 3, 7, 64):
        parser = AgiEnvParser()
        rest = b"".join(parser.feed(data[i : i + size]) for i in range(0, len(data), size))
        assert rest == b"200 result=1\n"
        assert parser.env == whole.env
        assert parser.env["agi_calleridname"] == "Müller"
        assert parser.env["agi_arg_1"] == "15551230001"


def test_garbage_is_refused_before_the_block_ends() -> None:
    for junk in (b"\x16\x03\x01\x02\x00\x01", b"GET /", b"ag\x00", b"agi_x: 1\nSSH-2.0"):
        with pytest.raises(Exception, match="not an AGI environment line"):
            AgiEnvParser().feed(junk)
    ok = AgiEnvParser()
    assert ok.feed(b"ag") == b"" and ok.feed(b"i_x: 1\n\r") == b"" and not ok.done


def test_hangup_while_the_handler_waits_elsewhere() -> None:
    """EOF or `HANGUP` arriving while no command is pending: the next command raises."""

    async def main() -> None:
        gate = asyncio.Event()
        outcome: list[str] = []

        async def handler(session: AgiSession) -> None:
            await session.set_variable("A", "1")
            await gate.wait()  # e.g. a database lookup; the caller leaves meanwhile
            try:
                await session.set_variable("B", "2")
            except AgiHangup as exc:
                outcome.append(str(exc))
                raise

        async with AgiServer({"route": handler}) as server:
            for tail in (b"HANGUP\n", b""):
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.write(env_block("route"))
                assert (await reader.readline()).startswith(b"SET VARIABLE A")
                done = server.sessions_done
                writer.write(b"200 result=1\n" + tail)
                writer.write_eof()
                # The server closes at EOF; the handler learns of it at its next command.
                assert await asyncio.wait_for(reader.read(), 5) == b""  # nothing more sent
                gate.set()
                await server.wait_sessions_done(done + 1, 5)
                writer.close()
                gate.clear()
        assert outcome == ["HANGUP", "EOF"]

    run(main())


@pytest.mark.parametrize(("header_timeout", "command_timeout"), [(5.0, 0.2), (0.1, 0.3)])
def test_command_timeout_ends_a_silent_session(
    header_timeout: float, command_timeout: float
) -> None:
    """Asterisk that stops answering: the command fails with a timeout, the session ends."""

    async def main() -> None:
        server = AgiServer(
            {"route": route}, header_timeout=header_timeout, command_timeout=command_timeout
        )
        async with server:
            with capture_logs() as logs:
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.write(env_block("route", "1"))
                assert (await reader.readline()).startswith(b"SET VARIABLE ROUTE_ENDPOINT")
                waited = await closed_by_server(reader, 5.0)  # never answered
                writer.close()
        assert command_timeout * 0.9 <= waited < command_timeout + 1.0
        failed = [e for e in logs if e["event"] == "agi_session_failed"]
        assert len(failed) == 1 and "in time" in failed[0]["error"]

    run(main())


def test_on_uvloop_when_installed_and_stock_loop_without_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`loop_factory()` picks uvloop when present; the server behaves the same on it."""
    pytest.importorskip("uvloop")

    async def main() -> None:
        async with AgiServer({"route": route}, header_timeout=0.2) as server:
            reader, probe = await asyncio.open_connection("127.0.0.1", server.port)
            probe.write(b"\x00\xff garbage\n")
            calls = [fake_asterisk(server.port, env_block("route", str(i))) for i in range(10)]
            results = await asyncio.wait_for(asyncio.gather(*calls), 5)
            assert all(len(commands) == 3 for commands, _ in results)
            assert await closed_by_server(reader, 2.0) < 2.0
            probe.close()

    factory = loop_factory()
    assert factory.__module__.startswith("uvloop")
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main())
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if not installed
    assert loop_factory() is asyncio.new_event_loop
