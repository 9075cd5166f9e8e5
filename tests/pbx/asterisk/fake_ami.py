"""A small fake Asterisk Manager for tests: asyncio, 127.0.0.1, a free port.

It speaks enough AMI for the manager's gaps: banner, Login (refused with the wrong secret,
then the connection is closed, as Asterisk does), FullyBooted, Ping, CoreShowChannels and
Status event lists, pushed events. `silent` makes it a half-open peer (connected, answers
nothing). Tests wait on its state with `wait_for(predicate, timeout)`, driven by what happens,
never by sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable

from pbx_bridge.pbx.asterisk.ami_protocol import AmiMessage, AmiParser

BANNER = b"Asterisk Call Manager/9.0.0\r\n"


def frame(*pairs: tuple[str, str]) -> bytes:
    return ("".join(f"{key}: {value}\r\n" for key, value in pairs) + "\r\n").encode()


class FakeAmi:
    def __init__(self, username: str = "bridge", secret: str = "s3cret") -> None:
        self.username, self.secret = username, secret
        self.port = 0
        self.connections = 0
        self.active = 0  # connections being served
        self.logins: list[bool] = []  # one per attempt: accepted or not
        self.actions: list[AmiMessage] = []
        self.silent = False
        self.fullybooted = True
        self.login_gate: asyncio.Event | None = None  # if set: answer Login only once set
        self.channels: list[dict[str, str]] = []
        self.statuses: list[dict[str, str]] = []
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self._changed = asyncio.Condition()
        self.errors: list[BaseException] = []

    async def start(self) -> FakeAmi:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop_listening(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def close(self) -> None:
        await self.stop_listening()
        self.drop_all()
        await self.wait_for(lambda: self.active == 0)
        if self.errors:
            raise self.errors[0]

    def drop_all(self) -> None:
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def push(self, data: bytes, pieces: list[int] | None = None) -> None:
        """Send raw bytes to every client, cut at `pieces` offsets with a drain between."""
        cuts = [0, *(pieces or []), len(data)]
        for writer in self._writers:
            for start, end in itertools.pairwise(cuts):
                writer.write(data[start:end])
                await writer.drain()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.active += 1
        self._writers.append(writer)
        await self._notify()
        parser = AmiParser()
        try:
            writer.write(BANNER)
            while data := await reader.read(65536):
                for message in parser.feed(data):
                    self.actions.append(message)
                    await self._notify()
                    if not self.silent:
                        await self._answer(message, writer)
        except ConnectionError:
            pass
        except Exception as exc:  # re-raised by close(): a broken fake fails the test
            self.errors.append(exc)
        finally:
            with contextlib.suppress(ValueError):
                self._writers.remove(writer)
            writer.close()
            self.active -= 1
            await self._notify()

    async def _answer(self, m: AmiMessage, writer: asyncio.StreamWriter) -> None:
        action, aid = (m.get("Action") or "").lower(), m.action_id or ""
        if action == "login":
            if self.login_gate is not None:
                await self.login_gate.wait()
            ok = m.get("Username") == self.username and m.get("Secret") == self.secret
            self.logins.append(ok)
            if not ok:
                writer.write(frame(("Response", "Error"), ("ActionID", aid),
                                   ("Message", "Authentication failed")))
                await writer.drain()
                writer.close()
                return
            writer.write(frame(("Response", "Success"), ("ActionID", aid),
                               ("Message", "Authentication accepted")))
            if self.fullybooted:
                writer.write(frame(("Event", "FullyBooted"), ("Privilege", "system,all"),
                                   ("Status", "Fully Booted")))
        elif action == "ping":
            writer.write(frame(("Response", "Success"), ("ActionID", aid), ("Ping", "Pong")))
        elif action in ("coreshowchannels", "status"):
            item, done = (("CoreShowChannel", "CoreShowChannelsComplete")
                          if action == "coreshowchannels" else ("Status", "StatusComplete"))
            rows = self.channels if action == "coreshowchannels" else self.statuses
            writer.write(frame(("Response", "Success"), ("ActionID", aid),
                               ("EventList", "start"), ("Message", "will follow")))
            for row in rows:
                writer.write(frame(("Event", item), ("ActionID", aid), *row.items()))
            writer.write(frame(("Event", done), ("ActionID", aid), ("EventList", "Complete"),
                               ("ListItems", str(len(rows)))))
        else:
            writer.write(frame(("Response", "Error"), ("ActionID", aid),
                               ("Message", "Invalid/unknown command")))
        await writer.drain()
