"""A small asyncio AMI client for the lab, the tests and the demo.

Not the bridge's production client (no reconnect): it logs in, sends actions and matches
responses by ActionID, and keeps every event so a test can wait for one that may already have
arrived (`mark()` before acting, then `wait_for(predicate, since=mark)`): waiting is driven by
incoming events, never by sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from types import TracebackType

import structlog

from pbx_bridge.pbx.asterisk.ami_protocol import AmiMessage, AmiParser, encode_action

log = structlog.get_logger()

Predicate = Callable[[AmiMessage], bool]
MAX_HISTORY = 200_000  # events kept for wait_for; a lab session stays far below this


class AmiError(Exception):
    """An AMI action failed, or the connection is gone."""


class AmiLoginError(AmiError):
    """Asterisk refused the login (wrong user or secret, or no manager access)."""


def event_is(name: str, **fields: str) -> Predicate:
    """Predicate: an event named `name` whose headers equal every `fields` item."""

    def match(message: AmiMessage) -> bool:
        if message.event != name:
            return False
        return all(message.get_ci(key) == value for key, value in fields.items())

    return match


class AmiClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._parser = AmiParser()
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[AmiMessage]] = {}
        self._waiters: list[tuple[Predicate, asyncio.Future[AmiMessage]]] = []
        self.events: list[AmiMessage] = []
        self.closed = asyncio.Event()
        self._task = asyncio.create_task(self._read_loop(), name="ami-reader")

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        username: str,
        secret: str,
        timeout: float = 5.0,
    ) -> AmiClient:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        client = cls(reader, writer)
        try:
            reply = await client.action(
                "Login", {"Username": username, "Secret": secret}, timeout=timeout, check=False
            )
            if reply.response != "Success":
                raise AmiLoginError(f"AMI login as {username!r} refused: {reply.get('Message')}")
        except BaseException:
            await client.close()
            raise
        return client

    async def __aenter__(self) -> AmiClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def banner(self) -> str | None:
        return self._parser.banner

    async def action(
        self,
        name: str,
        fields: dict[str, str] | None = None,
        timeout: float = 5.0,
        check: bool = True,
    ) -> AmiMessage:
        """Send an action and return its response; raise AmiError on `Response: Error`."""
        if self.closed.is_set():
            raise AmiError("AMI connection closed")
        action_id = f"lab-{next(self._ids)}"
        future: asyncio.Future[AmiMessage] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = future
        try:
            self._writer.write(encode_action(name, {"ActionID": action_id, **(fields or {})}))
            await self._writer.drain()
            reply = await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            raise AmiError(f"no response to AMI {name} within {timeout} s") from exc
        finally:
            self._pending.pop(action_id, None)
        if check and reply.response == "Error":
            raise AmiError(f"AMI {name} failed: {reply.get('Message')}")
        return reply

    async def command(self, cli: str, timeout: float = 10.0) -> str:
        """Run a CLI command through AMI `Command`; return its output lines joined."""
        reply = await self.action("Command", {"Command": cli}, timeout=timeout)
        return "\n".join(reply.getall("Output"))

    def mark(self) -> int:
        """A position in the event history: `wait_for(..., since=mark)` ignores older events."""
        return len(self.events)

    async def wait_for(
        self, predicate: Predicate, timeout: float, since: int | None = 0
    ) -> AmiMessage:
        """The first event (from position `since`, or only future ones when None) matching."""
        if since is not None:
            for message in self.events[since:]:
                if predicate(message):
                    return message
        if self.closed.is_set():
            raise AmiError("AMI connection closed while waiting for an event")
        future: asyncio.Future[AmiMessage] = asyncio.get_running_loop().create_future()
        entry = (predicate, future)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            raise TimeoutError(f"no matching AMI event within {timeout} s") from exc
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    async def close(self) -> None:
        if not self._writer.is_closing():
            self._writer.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    break
                for message in self._parser.feed(data):
                    self._dispatch(message)
        except OSError as exc:
            log.info("ami_connection_lost", error=str(exc))
        finally:
            self.closed.set()
            error = AmiError("AMI connection closed")
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(error)
            for _, future in self._waiters:
                if not future.done():
                    future.set_exception(error)

    def _dispatch(self, message: AmiMessage) -> None:
        if message.event is None:
            future = self._pending.get(message.action_id or "")
            if future is not None and not future.done():
                future.set_result(message)
            return
        if len(self.events) < MAX_HISTORY:
            self.events.append(message)
        for predicate, future in self._waiters:
            if future.done():
                continue
            try:
                matched = predicate(message)
            except Exception as exc:  # a broken predicate fails its own wait, not the reader
                future.set_exception(exc)
                continue
            if matched:
                future.set_result(message)
