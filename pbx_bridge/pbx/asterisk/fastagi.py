"""A small asyncio FastAGI server: Asterisk asks, over TCP, what to do with a call.

Why our own and not panoramisk's `fast_agi.Application` (notes/libraries.md, verified there):
- its environment reader spins on EOF (`while b'\\n\\n' not in buffer: buffer += await
  reader.read(100)`), so a client that connects and closes before the blank line (a caller
  hanging up early, a TCP health probe) freezes the whole event loop, AMI included;
- it reads the environment with no size bound and no timeout, and decodes it strictly, so a
  truncated UTF-8 caller name loses the call its route;
- `add_route` with a plain function raises AttributeError on Python >= 3.11, and it swallows
  cancellation (`except BaseException`).

Here parsing is sans-IO (`AgiEnvParser`, `parse_response`), the header block is bounded and
timed, and every session is its own task: a bad or silent client only ever costs its own task.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType

import structlog

log = structlog.get_logger()

MAX_HEADER_BYTES = 64 * 1024
HEADER_TIMEOUT = 5.0  # seconds for the whole agi_* block: Asterisk sends it at once
COMMAND_TIMEOUT = 30.0
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\([^()\r\n]*\))?$")
_APP_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class AgiProtocolError(Exception):
    """The peer broke the AGI protocol (oversized or malformed header block)."""


class AgiHangup(Exception):
    """The channel hung up: `HANGUP` line, `200 result=-1`, 511, or EOF."""


@dataclass(frozen=True)
class AgiResult:
    code: int
    result: str = ""
    data: str = ""
    extra: str = ""  # text after the result, e.g. `endpos=1234`
    lines: tuple[str, ...] = ()  # the raw lines (several for 520 usage text)


class AgiEnvParser:
    """Sans-IO reader of the `agi_*: value` block that opens a FastAGI session."""

    def __init__(self, max_bytes: int = MAX_HEADER_BYTES) -> None:
        self.max_bytes = max_bytes
        self.env: dict[str, str] = {}
        self.done = False
        self._buffer = bytearray()
        self._seen = 0

    def feed(self, data: bytes) -> bytes:
        """Consume bytes; returns what follows the block once it is complete (else b"")."""
        self._buffer += data
        self._seen += len(data)
        while not self.done:
            end = self._buffer.find(b"\n")
            if end < 0:
                break
            raw = bytes(self._buffer[:end]).rstrip(b"\r")
            del self._buffer[: end + 1]
            if not raw:
                self.done = True
                break
            # Asterisk may cut a long caller name mid-character: replace, never raise.
            key, sep, value = raw.decode("utf-8", "replace").partition(":")
            if not sep or not key.startswith("agi_"):
                raise AgiProtocolError(f"not an AGI environment line: {raw[:60]!r}")
            self.env[key.strip()] = value.strip()
        if not self.done and self._seen > self.max_bytes:
            raise AgiProtocolError(f"AGI environment larger than {self.max_bytes} bytes")
        if self.done:
            rest = bytes(self._buffer)
            self._buffer.clear()
            return rest
        return b""


def agi_args(env: Mapping[str, str]) -> list[str]:
    """`agi_arg_1`, `agi_arg_2`, ... in order, up to the first gap."""
    args: list[str] = []
    while f"agi_arg_{len(args) + 1}" in env:
        args.append(env[f"agi_arg_{len(args) + 1}"])
    return args


_RESULT = re.compile(r"^result=(?P<result>\S*)(?:\s+\((?P<data>.*)\))?(?P<extra>.*)$")


def parse_response(lines: list[str]) -> AgiResult:
    """Parse one command response (a single line, or a 520- ... 520 block)."""
    first = lines[0]
    if first.startswith("HANGUP"):
        raise AgiHangup("HANGUP")
    match = re.match(r"^(\d{3})[ -]?(.*)$", first)
    if match is None:
        raise AgiProtocolError(f"not an AGI response: {first[:80]!r}")
    code, rest = int(match.group(1)), match.group(2).strip()
    if code == 511:
        raise AgiHangup(rest or "511 dead channel")
    if code != 200:
        return AgiResult(code, "", rest, "", tuple(lines))
    found = _RESULT.match(rest)
    if found is None:
        return AgiResult(code, "", rest, "", tuple(lines))
    result, data = found.group("result"), found.group("data") or ""
    if result == "-1":
        raise AgiHangup("result=-1")
    return AgiResult(code, result, data, found.group("extra").strip(), tuple(lines))


def quote(value: str) -> str:
    """Quote caller-influenced text for one AGI argument: no line breaks, `"` and `\\` escaped.

    Control characters (a CR/LF would end the command and start another one) become spaces.
    """
    clean = _CONTROL.sub(" ", value)
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class AgiSession:
    """One FastAGI conversation: the environment, and commands to the channel."""

    env: dict[str, str]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    command_timeout: float = COMMAND_TIMEOUT
    args: list[str] = field(default_factory=list)
    hung_up: bool = False

    @property
    def script(self) -> str:
        return script_name(self.env.get("agi_network_script", ""))

    async def command(self, text: str) -> AgiResult:
        if "\n" in text or "\r" in text:
            raise ValueError("an AGI command must be one line")
        if self.hung_up:
            raise AgiHangup("channel already hung up")
        self.writer.write(text.encode("utf-8") + b"\n")
        await self.writer.drain()
        try:
            # Asterisk writes a bare `HANGUP` line when the caller leaves; parse_response
            # raises AgiHangup for it, whatever answer to our command may follow.
            lines = [await self._readline()]
            if re.match(r"^\d{3}-", lines[0]):
                code = lines[0][:3]
                while not lines[-1].startswith(code + " "):
                    lines.append(await self._readline())
            return parse_response(lines)
        except AgiHangup:
            self.hung_up = True
            raise

    async def _readline(self) -> str:
        try:
            raw = await asyncio.wait_for(self.reader.readline(), self.command_timeout)
        except (ValueError, asyncio.LimitOverrunError) as exc:
            raise AgiProtocolError("AGI response line too long") from exc
        if not raw:
            self.hung_up = True
            raise AgiHangup("EOF")
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    async def set_variable(self, name: str, value: str) -> AgiResult:
        if not _VARIABLE_NAME.match(name):
            raise ValueError(f"bad channel variable name: {name!r}")
        return await self.command(f"SET VARIABLE {name} {quote(value)}")

    async def get_variable(self, name: str) -> str | None:
        if not _VARIABLE_NAME.match(name):
            raise ValueError(f"bad channel variable name: {name!r}")
        result = await self.command(f"GET VARIABLE {name}")
        return result.data if result.result == "1" else None

    async def verbose(self, message: str, level: int = 1) -> AgiResult:
        return await self.command(f"VERBOSE {quote(message)} {int(level)}")

    async def exec(self, application: str, options: str = "") -> AgiResult:
        if not _APP_NAME.match(application):
            raise ValueError(f"bad application name: {application!r}")
        return await self.command(f"EXEC {application} {quote(options)}")


def script_name(network_script: str) -> str:
    """`route?x=1` and `/route` both route as `route`."""
    return network_script.split("?", 1)[0].strip("/")


Handler = Callable[[AgiSession], Awaitable[None]]


class AgiServer:
    """FastAGI server routing on `agi_network_script` to async handlers."""

    def __init__(
        self,
        routes: Mapping[str, Handler],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        header_timeout: float = HEADER_TIMEOUT,
        max_header_bytes: int = MAX_HEADER_BYTES,
        command_timeout: float = COMMAND_TIMEOUT,
    ) -> None:
        for name, handler in routes.items():
            if not inspect.iscoroutinefunction(handler):
                raise TypeError(f"AGI route {name!r}: handler must be an async function")
        self.routes = dict(routes)
        self.host = host
        self.port = port
        self.header_timeout = header_timeout
        self.max_header_bytes = max_header_bytes
        self.command_timeout = command_timeout
        self.sessions_done = 0
        self._finished = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> AgiServer:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("agi_listening", host=self.host, port=self.port)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> AgiServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        peer = writer.get_extra_info("peername")
        try:
            await self._session(reader, writer, peer)
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()
            self.sessions_done += 1
            async with self._finished:
                self._finished.notify_all()

    async def wait_sessions_done(self, count: int, timeout: float) -> None:
        """Until `count` sessions have ended since start (for tests and the demo)."""
        async with asyncio.timeout(timeout), self._finished:
            await self._finished.wait_for(lambda: self.sessions_done >= count)

    async def _read_env(self, reader: asyncio.StreamReader) -> dict[str, str] | None:
        parser = AgiEnvParser(self.max_header_bytes)
        async with asyncio.timeout(self.header_timeout):
            while not parser.done:
                data = await reader.read(4096)
                if not data:
                    return None  # closed before the blank line: nothing to route
                parser.feed(data)
        return parser.env

    async def _session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: object
    ) -> None:
        try:
            env = await self._read_env(reader)
        except TimeoutError:
            log.warning("agi_header_timeout", peer=peer, seconds=self.header_timeout)
            return
        except (AgiProtocolError, OSError) as exc:
            log.warning("agi_bad_header", peer=peer, error=str(exc))
            return
        if env is None:
            log.info("agi_closed_before_env", peer=peer)
            return
        session = AgiSession(env, reader, writer, self.command_timeout, agi_args(env))
        handler = self.routes.get(session.script)
        call = {"uniqueid": env.get("agi_uniqueid"), "script": session.script}
        if handler is None:
            log.warning("agi_unknown_script", **call)
            return
        try:
            await handler(session)
        except AgiHangup as exc:
            log.info("agi_hangup", reason=str(exc), **call)
        except (AgiProtocolError, OSError, TimeoutError) as exc:
            log.warning("agi_session_failed", error=str(exc), **call)
        except Exception:
            log.exception("agi_handler_failed", **call)
