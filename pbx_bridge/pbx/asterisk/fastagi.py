"""A small asyncio FastAGI server: Asterisk asks, over TCP, what to do with a call.

Why our own and not panoramisk's `fast_agi.Application` (notes/libraries.md, verified there):
- its environment reader spins on EOF (`while b'\\n\\n' not in buffer: buffer += await
  reader.read(100)`), so a client that connects and closes before the blank line (a caller
  hanging up early, a TCP health probe) freezes the whole event loop, AMI included;
- it reads the environment with no size bound and no timeout, and decodes it strictly, so a
  truncated UTF-8 caller name loses the call its route;
- `add_route` with a plain function raises AttributeError on Python >= 3.11, and it swallows
  cancellation (`except BaseException`).
Wrapping it would mean replacing its reader, its route table and its error handling: all of it.

Here parsing is sans-IO (`agi_protocol.py`), the header block is bounded and timed, and every
connection is its own `asyncio.Protocol` (bytes in, lines out, no task until the environment
is complete): a bad or silent client only ever costs its own connection, and
a handler is one task per call. `loop_factory()` gives uvloop when it is installed (about twice
the sessions per core-second; see bench/README.md), the stock loop otherwise.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

import structlog

from pbx_bridge.pbx.asterisk.agi_protocol import (  # re-exported: the server's vocabulary
    APP_NAME,
    MAX_HEADER_BYTES,
    MAX_LINE_BYTES,
    VARIABLE_NAME,
    AgiEnvParser,
    AgiHangup,
    AgiProtocolError,
    AgiResult,
    agi_args,
    parse_response,
    quote,
    script_name,
)

log = structlog.get_logger()

MAX_QUEUED_LINES = 64  # unsolicited lines held for the handler before reading pauses
HEADER_TIMEOUT = 5.0  # seconds for the whole agi_* block: Asterisk sends it at once
COMMAND_TIMEOUT = 30.0
BACKLOG = 1024  # a burst of calls must not overflow the accept queue (1 s SYN retransmits)


class AgiSession:
    """One FastAGI conversation: the environment, and commands to the channel.

    The server's sessions run over its own protocol (`reader` and `writer` are None there);
    a session can also be built over an `asyncio` stream pair, as `AgiSession(env, reader,
    writer)`, e.g. for an AGI client of one's own.
    """

    def __init__(
        self,
        env: dict[str, str],
        reader: asyncio.StreamReader | None = None,
        writer: asyncio.StreamWriter | None = None,
        command_timeout: float = COMMAND_TIMEOUT,
        args: list[str] | None = None,
        hung_up: bool = False,
    ) -> None:
        self.env = env
        self.reader = reader
        self.writer = writer
        self.command_timeout = command_timeout
        self.args = args if args is not None else []
        self.hung_up = hung_up
        self.peer: Any = writer.get_extra_info("peername") if writer is not None else None
        self._conn: _AgiConnection | None = None

    def __repr__(self) -> str:
        return f"AgiSession(script={self.script!r}, uniqueid={self.env.get('agi_uniqueid')!r})"

    @property
    def script(self) -> str:
        return script_name(self.env.get("agi_network_script", ""))

    async def command(self, text: str) -> AgiResult:
        if "\n" in text or "\r" in text:
            raise ValueError("an AGI command must be one line")
        if self.hung_up:
            raise AgiHangup("channel already hung up")
        conn = self._conn
        try:
            if conn is not None:
                if (drained := conn.write(text.encode("utf-8") + b"\n")) is not None:
                    await drained
            else:
                assert self.writer is not None
                self.writer.write(text.encode("utf-8") + b"\n")
                await self.writer.drain()
            # Asterisk writes a bare `HANGUP` line when the caller leaves; parse_response
            # raises AgiHangup for it, whatever answer to our command may follow.
            if conn is not None:
                first = await conn.readline(self.command_timeout)
            else:
                first = await self._readline()
            lines = [first]
            if len(first) > 3 and first[3] == "-":
                code = first[:3] + " "
                while not lines[-1].startswith(code):
                    lines.append(await self._readline())
            return parse_response(lines)
        except AgiHangup:
            self.hung_up = True
            raise

    async def _readline(self) -> str:
        if self._conn is not None:
            return await self._conn.readline(self.command_timeout)
        assert self.reader is not None
        try:
            raw = await asyncio.wait_for(self.reader.readline(), self.command_timeout)
        except (ValueError, asyncio.LimitOverrunError) as exc:
            raise AgiProtocolError("AGI response line too long") from exc
        if not raw:
            raise AgiHangup("EOF")
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    async def set_variable(self, name: str, value: str) -> AgiResult:
        if not VARIABLE_NAME.match(name):
            raise ValueError(f"bad channel variable name: {name!r}")
        return await self.command(f"SET VARIABLE {name} {quote(value)}")

    async def get_variable(self, name: str) -> str | None:
        if not VARIABLE_NAME.match(name):
            raise ValueError(f"bad channel variable name: {name!r}")
        result = await self.command(f"GET VARIABLE {name}")
        return result.data if result.result == "1" else None

    async def verbose(self, message: str, level: int = 1) -> AgiResult:
        return await self.command(f"VERBOSE {quote(message)} {int(level)}")

    async def exec(self, application: str, options: str = "") -> AgiResult:
        if not APP_NAME.match(application):
            raise ValueError(f"bad application name: {application!r}")
        return await self.command(f"EXEC {application} {quote(options)}")


Handler = Callable[[AgiSession], Awaitable[None]]


class _AgiConnection(asyncio.Protocol):
    """One FastAGI connection: environment, then response lines for the session's handler.

    Nothing here waits: bytes are parsed as they come, a timer drops a peer that does not
    finish its environment in time, and only a complete environment starts a handler task.
    """

    __slots__ = (
        "deadline",
        "drained",
        "eof",
        "error",
        "finished",
        "lines",
        "loop",
        "lost",
        "parser",
        "partial",
        "peer",
        "reading_paused",
        "server",
        "session",
        "task",
        "timer",
        "transport",
        "waiter",
    )

    def __init__(self, server: AgiServer) -> None:
        self.server = server
        self.loop = server._loop
        self.transport: asyncio.Transport | None = None
        self.peer: Any = None
        self.parser: AgiEnvParser | None = AgiEnvParser(server.max_header_bytes)
        self.session: AgiSession | None = None
        self.task: asyncio.Task[None] | None = None
        # One timer per connection: the header deadline, then each command's (re-armed lazily).
        self.timer: asyncio.TimerHandle | None = None
        self.deadline = 0.0
        self.lost = False
        self.finished = False  # the handler has returned (or there was none)
        self.lines: collections.deque[str] = collections.deque()
        self.partial = b""
        self.eof = False
        self.error: Exception | None = None
        self.waiter: asyncio.Future[str] | None = None
        self.drained: asyncio.Future[None] | None = None
        self.reading_paused = False

    # -- transport side ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        self.server._connections.add(self)
        self.deadline = self.loop.time() + self.server.header_timeout
        self.timer = self.loop.call_at(self.deadline, self._tick)

    def data_received(self, data: bytes) -> None:
        if self.parser is None:
            if self.session is not None:
                self._lines_received(data)
            return
        try:
            rest = self.parser.feed(data)
        except AgiProtocolError as exc:
            self._drop("agi_bad_header", error=str(exc))
            return
        if self.parser.done:
            env = self.parser.env
            self.parser = None  # the timer, when it fires, sees this and re-arms for commands
            self._start(env)
            if rest:
                self._lines_received(rest)

    def eof_received(self) -> bool:
        if self.session is None and self.parser is not None:
            log.info("agi_closed_before_env", peer=self._peer())
        self._fail(AgiHangup("EOF"))
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self._fail(AgiHangup("EOF"))
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)
        if self.task is None or self.finished:
            self.server._ended(self)

    def pause_writing(self) -> None:
        if self.drained is None or self.drained.done():
            self.drained = self.loop.create_future()

    def resume_writing(self) -> None:
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    # -- session side -----------------------------------------------------------------------
    def _peer(self) -> Any:
        if self.peer is None and self.transport is not None:
            self.peer = self.transport.get_extra_info("peername")
        return self.peer

    def _tick(self) -> None:
        self.timer = None
        if self.parser is not None:
            self._drop("agi_header_timeout", abort=False, seconds=self.server.header_timeout)
            return
        waiter = self.waiter
        if waiter is None or waiter.done():
            return  # the next wait arms a new timer
        if self.loop.time() >= self.deadline:
            waiter.set_exception(TimeoutError("no AGI response in time"))
        else:
            self.timer = self.loop.call_at(self.deadline, self._tick)

    def _drop(self, event: str, abort: bool = True, **fields: Any) -> None:
        log.warning(event, peer=self._peer(), **fields)
        self.parser = None
        if self.transport is not None:
            if abort:
                self.transport.abort()  # unread garbage: no need to be polite
            else:
                self.transport.close()

    def _start(self, env: dict[str, str]) -> None:
        server = self.server
        session = AgiSession(env, None, None, server.command_timeout, agi_args(env))
        session._conn = self
        session.peer = self._peer()
        self.session = session
        handler = server.routes.get(session.script)
        if handler is None:
            log.warning(
                "agi_unknown_script", uniqueid=env.get("agi_uniqueid"), script=session.script
            )
            assert self.transport is not None
            self.transport.close()
            return
        self.task = self.loop.create_task(server._run(handler, session, self))

    def _lines_received(self, data: bytes) -> None:
        waiter = self.waiter
        if (  # the usual case: one whole response line for a waiting command
            not self.partial
            and waiter is not None
            and not self.lines
            and data.find(b"\n") == len(data) - 1
            and not waiter.done()
        ):
            waiter.set_result(data[:-1].decode("utf-8", "replace").rstrip("\r"))
            return
        if self.partial:
            data = self.partial + data
        *complete, self.partial = data.split(b"\n")
        if len(self.partial) > MAX_LINE_BYTES:
            self._fail(AgiProtocolError("AGI response line too long"))
            assert self.transport is not None
            self.transport.abort()
            return
        lines = self.lines
        for raw in complete:
            lines.append(raw.decode("utf-8", "replace").rstrip("\r"))
        if lines and waiter is not None and not waiter.done():
            waiter.set_result(lines.popleft())
        if len(lines) > MAX_QUEUED_LINES and not self.reading_paused and self.transport:
            self.reading_paused = True
            self.transport.pause_reading()

    def _fail(self, exc: Exception) -> None:
        if self.error is None:
            self.error = exc
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(self.error)

    def write(self, data: bytes) -> asyncio.Future[None] | None:
        """Send; returns a future to await when the transport asked us to pause writing."""
        if self.error is not None:
            return None  # the peer is gone: readline() gives what it said last, then EOF
        assert self.transport is not None
        self.transport.write(data)
        drained = self.drained
        return drained if drained is not None and not drained.done() else None

    async def readline(self, timeout: float) -> str:
        lines = self.lines
        if lines:
            line = lines.popleft()
            if self.reading_paused and not lines and self.transport is not None:
                self.reading_paused = False
                self.transport.resume_reading()
            return line
        if self.error is not None:
            raise self.error
        waiter = self.waiter = self.loop.create_future()
        self.deadline = deadline = self.loop.time() + timeout
        timer = self.timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self.timer = self.loop.call_at(deadline, self._tick)
        try:
            return await waiter
        finally:
            self.waiter = None


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's event loop when it is installed, else asyncio's: `asyncio.run(main(),
    loop_factory=...)` on 3.12+, or `asyncio.Runner(loop_factory=loop_factory())`."""
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop  # type: ignore[no-any-return]


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
        backlog: int = BACKLOG,
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
        self.backlog = backlog
        self.sessions_done = 0
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self._server: asyncio.Server | None = None
        self._connections: set[_AgiConnection] = set()
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    @property
    def active(self) -> int:
        """Connections open now (sessions and peers still sending their environment)."""
        return len(self._connections)

    async def start(self) -> AgiServer:
        self._loop = asyncio.get_running_loop()
        self._server = await self._loop.create_server(
            lambda: _AgiConnection(self), self.host, self.port, backlog=self.backlog
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("agi_listening", host=self.host, port=self.port)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = []
        for conn in list(self._connections):
            if conn.task is not None and not conn.task.done():
                conn.task.cancel()
                tasks.append(conn.task)
            elif conn.transport is not None:
                conn.transport.abort()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
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

    async def wait_sessions_done(self, count: int, timeout: float) -> None:
        """Until `count` sessions have ended since start (for tests and the demo)."""
        if self.sessions_done >= count:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((count, waiter))
        async with asyncio.timeout(timeout):
            await waiter

    def _ended(self, conn: _AgiConnection) -> None:
        self._connections.discard(conn)
        self.sessions_done += 1
        if self._waiters:
            done = self.sessions_done
            for count, waiter in self._waiters:
                if count <= done and not waiter.done():
                    waiter.set_result(None)
            self._waiters = [(c, w) for c, w in self._waiters if not w.done()]

    async def _run(self, handler: Handler, session: AgiSession, conn: _AgiConnection) -> None:
        try:
            await handler(session)
        except AgiHangup as exc:
            log.info("agi_hangup", reason=str(exc), **_call(session))
        except (AgiProtocolError, OSError, TimeoutError) as exc:
            log.warning("agi_session_failed", error=str(exc), **_call(session))
        except Exception:
            log.exception("agi_handler_failed", **_call(session))
        finally:
            conn.finished = True
            if conn.lost:
                self._ended(conn)
            elif conn.transport is not None:
                conn.transport.close()


def _call(session: AgiSession) -> dict[str, Any]:
    return {"uniqueid": session.env.get("agi_uniqueid"), "script": session.script}
