"""FastAGI server: parsing, command results, hangups, and bad clients that must not stall others.

The "Asterisk" here is a small asyncio client speaking the FastAGI wire protocol: it sends the
environment block, then answers each command line with a scripted reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from pbx_bridge.pbx.asterisk.fastagi import (
    AgiEnvParser,
    AgiHangup,
    AgiProtocolError,
    AgiResult,
    AgiServer,
    AgiSession,
    agi_args,
    parse_response,
    quote,
)

FIXTURES = Path(__file__).parent / "fixtures" / "panoramisk"
PAYLOAD = (FIXTURES / "test_fast_agi.FAST_AGI_PAYLOAD.txt").read_bytes()
ERROR_PAYLOAD = (FIXTURES / "test_fast_agi.FAST_AGI_ERROR_PAYLOAD.txt").read_bytes()


def env_block(script: str = "route", *args: str) -> bytes:
    lines = [
        "agi_network: yes",
        f"agi_network_script: {script}",
        "agi_channel: PJSIP/carrier-00000000",
        "agi_uniqueid: 1795393172.0",
        "agi_callerid: 15559876543",
        "agi_calleridname: Müller",
    ]
    lines += [f"agi_arg_{i}: {value}" for i, value in enumerate(args, 1)]
    return ("\n".join(lines) + "\n\n").encode()


# -- sans-IO parts -----------------------------------------------------------------------------
def test_fixture_env_blocks() -> None:
    parser = AgiEnvParser()
    assert parser.feed(PAYLOAD) == b""
    assert parser.done
    assert parser.env["agi_network_script"] == "call_waiting"
    assert parser.env["agi_calleridname"] == "user 201"
    assert agi_args(parser.env) == ["answered"]
    error = AgiEnvParser()
    error.feed(ERROR_PAYLOAD)
    assert error.env["agi_network_script"] == "invalid"


def test_env_split_anywhere_and_rest_returned() -> None:
    data = env_block("route", "15551230001", "x y") + b"200 result=1\n"
    parser = AgiEnvParser()
    rest = b""
    for i in range(len(data)):
        rest += parser.feed(data[i : i + 1])
    assert parser.env["agi_calleridname"] == "Müller"
    assert agi_args(parser.env) == ["15551230001", "x y"]


def test_env_bounds_and_garbage() -> None:
    parser = AgiEnvParser(max_bytes=1024)
    with pytest.raises(AgiProtocolError):
        parser.feed(b"agi_x: " + b"y" * 2000)
    with pytest.raises(AgiProtocolError):
        AgiEnvParser().feed(b"GET / HTTP/1.1\r\n")
    truncated = AgiEnvParser()
    truncated.feed(b"agi_calleridname: M\xc3\n\n")
    assert truncated.env["agi_calleridname"] == "M\ufffd"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("200 result=1", AgiResult(200, "1", "", "", ("200 result=1",))),
        ("200 result=0", AgiResult(200, "0", "", "", ("200 result=0",))),
        ("200 result=1 (a (nested) value)", AgiResult(200, "1", "a (nested) value", "", ())),
        ("200 result=0 endpos=1234", AgiResult(200, "0", "", "endpos=1234", ())),
        ("510 Invalid or unknown command", AgiResult(510, "", "Invalid or unknown command", "")),
    ],
)
def test_parse_response(line: str, expected: AgiResult) -> None:
    result = parse_response([line])
    assert (result.code, result.result, result.data, result.extra) == (
        expected.code,
        expected.result,
        expected.data,
        expected.extra,
    )


def test_parse_520_usage_and_hangups() -> None:
    lines = [
        "520-Invalid command syntax.  Proper usage follows:",
        "Usage: x",
        "520 End of proper usage.",
    ]
    assert parse_response(lines).code == 520
    for hangup in (["HANGUP"], ["200 result=-1"], ["511 Command Not Permitted on a dead channel"]):
        with pytest.raises(AgiHangup):
            parse_response(hangup)


def test_quote_keeps_caller_text_on_one_line() -> None:
    assert quote('Bob "the" \\ builder') == '"Bob \\"the\\" \\\\ builder"'
    assert "\n" not in quote("x\nEXEC Dial PJSIP/evil\r\n")


# -- the server, against fake Asterisk clients ---------------------------------------------------
Reply = Callable[[str], bytes | None]


async def fake_asterisk(
    port: int, env: bytes, reply: Reply = lambda cmd: b"200 result=1\n"
) -> list[str]:
    """Send `env`, answer each command with reply(cmd) (None: close). Returns the commands."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(env)
    commands: list[str] = []
    try:
        while line := await reader.readline():
            commands.append(line.decode().rstrip("\n"))
            answer = reply(commands[-1])
            if answer is None:
                break
            writer.write(answer)
            await writer.drain()
    finally:
        writer.close()
    return commands


async def route_handler(session: AgiSession) -> None:
    did = session.args[0]
    await session.set_variable("ROUTE_ENDPOINT", f"ep-{did}")
    name = await session.get_variable("CALLERID(name)")
    await session.verbose(f"routed {did} for {name}")


def run(coro: Awaitable[None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 20))  # type: ignore[arg-type]


def test_session_sets_variables_with_arguments() -> None:
    async def main() -> None:
        def reply(cmd: str) -> bytes:
            return b'200 result=1 (Bob "x")\n' if cmd.startswith("GET") else b"200 result=1\n"

        async with AgiServer({"route": route_handler}) as server:
            commands = await fake_asterisk(server.port, env_block("route?x=1", "155"), reply)
        assert commands == [
            'SET VARIABLE ROUTE_ENDPOINT "ep-155"',
            "GET VARIABLE CALLERID(name)",
            'VERBOSE "routed 155 for Bob \\"x\\"" 1',
        ]

    run(main())


@pytest.mark.parametrize("at", [0, 1, 2])
@pytest.mark.parametrize("how", ["HANGUP", "result=-1", "eof", "511"])
def test_hangup_at_any_command(at: int, how: str) -> None:
    answers = {
        "HANGUP": b"HANGUP\n",
        "result=-1": b"200 result=-1\n",
        "511": b"511 Command Not Permitted on a dead channel\n",
    }

    async def main() -> None:
        def reply(cmd: str) -> bytes | None:
            count[0] += 1
            if count[0] - 1 == at:
                return answers.get(how)
            return b"200 result=1 (x)\n"

        count = [0]
        async with AgiServer({"route": route_handler}) as server:
            with capture_logs() as logs:
                commands = await fake_asterisk(server.port, env_block("route", "1"), reply)
                await server.wait_sessions_done(1, 5.0)
        assert len(commands) == at + 1  # nothing is sent after the hangup
        assert [e["event"] for e in logs if e["event"].startswith("agi_")] == ["agi_hangup"]

    run(main())


def test_handler_exception_is_logged_and_session_closed() -> None:
    async def broken(session: AgiSession) -> None:
        raise RuntimeError("bug in a handler")

    async def main() -> None:
        async with AgiServer({"route": broken, "ok": route_handler}) as server:
            with capture_logs() as logs:
                assert await fake_asterisk(server.port, env_block("route", "1")) == []
                await server.wait_sessions_done(1, 5.0)
                assert len(await fake_asterisk(server.port, env_block("ok", "1"))) == 3
                assert await fake_asterisk(server.port, env_block("nope")) == []
        events = [e["event"] for e in logs]
        assert "agi_handler_failed" in events and "agi_unknown_script" in events

    run(main())


def test_plain_function_route_is_refused() -> None:
    with pytest.raises(TypeError):
        AgiServer({"route": lambda session: None})  # type: ignore[dict-item]


def test_bad_clients_never_stall_good_sessions() -> None:
    async def main() -> None:
        server = AgiServer({"route": route_handler}, header_timeout=30.0)
        await server.start()
        bad: list[asyncio.StreamWriter] = []
        try:
            for payload in (b"", b"agi_network: yes\nagi_net", b"\x00\xff garbage\n\n"):
                _, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.write(payload)
                if not payload:
                    writer.close()  # connects and closes at once, like a TCP health probe
                elif payload.startswith(b"agi_"):
                    writer.write_eof()  # closes mid-environment, like a caller hanging up
                bad.append(writer)
            _, silent = await asyncio.open_connection("127.0.0.1", server.port)
            bad.append(silent)  # connected, never says anything
            _, flood = await asyncio.open_connection("127.0.0.1", server.port)
            flood.write(b"agi_big: " + b"x" * (1 << 20))  # 1 MB of header
            bad.append(flood)
            good = [
                fake_asterisk(server.port, env_block("route", str(i))) for i in range(20)
            ]
            results = await asyncio.wait_for(asyncio.gather(*good), 3.0)
            assert all(len(commands) == 3 for commands in results)
        finally:
            for writer in bad:
                writer.close()
            await server.close()

    run(main())


def test_silent_client_times_out() -> None:
    async def main() -> None:
        async with AgiServer({"route": route_handler}, header_timeout=0.2) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            with capture_logs() as logs:
                assert await asyncio.wait_for(reader.read(), 5.0) == b""  # server closed it
            writer.close()
        assert any(e["event"] == "agi_header_timeout" for e in logs)

    run(main())


def test_command_rejects_newlines_and_bad_names() -> None:
    async def main() -> None:
        async def handler(session: AgiSession) -> None:
            with pytest.raises(ValueError):
                await session.command("VERBOSE x\nEXEC Dial")
            with pytest.raises(ValueError):
                await session.set_variable("A B", "x")
            with pytest.raises(ValueError):
                await session.exec("Dial;evil", "x")
            await session.set_variable("__ROUTE", "line1\nline2")

        async with AgiServer({"route": handler}) as server:
            commands = await fake_asterisk(server.port, env_block())
        assert commands == ['SET VARIABLE __ROUTE "line1 line2"']

    run(main())
