"""The bridge's AMI connection: login, liveness, reconnection, actions, events.

Why our own client and not panoramisk's `Manager` (notes/libraries.md, each gap reproduced
there and in tests/pbx/asterisk/test_manager.py against a fake AMI server): its parser is the
ingest baseline we must beat (bench/ami_ingest.py: the bridge's path is ~4.8x faster), and its
gaps sit in `Manager`/`AMIProtocol` internals of a release unchanged since 2021 (pings never
checked, a wrong secret retried every second forever, actions parked until a FullyBooted that
may never come, `connect()` returning before login, UTF-8 split across reads dropped). Closing
them would mean overriding most of both classes. What this client does instead:

- `start()` returns once logged in *and* booted (FullyBooted, or `boot_wait` s after login if
  the user may not read system events); `wait_ready()` the same later;
- a refused login (wrong user or secret) is logged as an error, fails every waiter with
  `AmiLoginError`, and is **not** retried: retrying a wrong secret only gets the bridge banned;
- any other failure (refused, reset, EOF, half-open link) reconnects with exponential back-off
  and jitter (`backoff_delay`), the attempt count reset after each successful login;
- a `Ping` every `ping_interval` s must be answered within `ping_timeout` s, else the link is
  declared dead and dropped (then reconnected);
- an action never waits for a link that is down beyond its timeout: it raises
  `AmiUnavailable`; an action in flight when the link drops fails at once (never re-sent: an
  Originate re-sent is a second call);
- after every login, `on_ready(manager)` runs (reconciliation: see `reconcile.py`);
- frames are cut by `AmiFrameReader` (UTF-8 safe across reads, bounded) and only frames that
  `wants(name, frame)` accepts are decoded and passed to `on_event`.
The secret is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import structlog

from pbx_bridge.pbx.asterisk.ami_frames import AmiFrameReader
from pbx_bridge.pbx.asterisk.ami_protocol import AmiMessage, encode_action

log = structlog.get_logger()

State = Literal["idle", "connecting", "ready", "failed", "closed"]


class AmiUnavailable(Exception):
    """The AMI link is down (or went down) and the action could not be done in time."""


class AmiLoginError(Exception):
    """Asterisk refused the login: wrong username or secret, or no manager access."""


class AmiActionError(Exception):
    """Asterisk answered `Response: Error` to an action."""


def backoff_delay(attempt: int, initial: float, maximum: float, rng: random.Random) -> float:
    """Attempt 0, 1, 2... -> about initial, 2x, 4x ... capped at `maximum`, each drawn
    uniformly in [d/2, d] ("equal jitter") so that bridges restarted together spread out."""
    delay = min(maximum, initial * (2 ** min(attempt, 30)))
    return delay / 2 + rng.random() * delay / 2


@dataclass
class _Pending:
    future: asyncio.Future[object]
    items: list[AmiMessage] | None = None  # event-list actions collect their events here
    started: bool = False


@dataclass
class ManagerSettings:
    ping_interval: float = 10.0
    ping_timeout: float = 5.0
    action_timeout: float = 10.0
    connect_timeout: float = 5.0
    boot_wait: float = 5.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    rng: random.Random = field(default_factory=random.Random)


Wants = Callable[[bytes, bytes], bool]


class AmiManager:
    def __init__(self, host: str, port: int, username: str, secret: str, *,
                 on_event: Callable[[AmiMessage], None] | None = None,
                 wants: Wants | None = None,
                 on_ready: Callable[[AmiManager], Awaitable[None]] | None = None,
                 settings: ManagerSettings | None = None) -> None:
        self.host, self.port, self.username = host, port, username
        self._secret = secret
        self._on_event = on_event
        self._wants: Wants = wants or (lambda name, frame: True)
        self._on_ready = on_ready
        self.settings = settings or ManagerSettings()
        self.state: State = "idle"
        self.failure: BaseException | None = None
        self.logins = 0
        self.failures = 0  # sessions that ended (dropped, refused, timed out)
        self._was_ready = False
        self._ids = itertools.count(1)
        self._pending: dict[str, _Pending] = {}
        self._lists = 0
        self._writer: asyncio.StreamWriter | None = None
        self._ready = asyncio.Event()
        self._booted = asyncio.Event()
        self._changed = asyncio.Event()  # set on every state change; waiters re-check
        self._task: asyncio.Task[None] | None = None
        self._hook: asyncio.Task[None] | None = None

    # -- life -----------------------------------------------------------------------------
    async def start(self, timeout: float | None = None) -> None:
        """Start connecting; return once ready. Raises AmiLoginError on a refused login and
        AmiUnavailable if not ready within `timeout` (it goes on trying in the background)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ami-manager")
        await self.wait_ready(timeout)

    async def wait_until(self, predicate: Callable[[AmiManager], bool],
                         timeout: float | None = None) -> None:
        """Wait (driven by state changes and failed attempts) until `predicate(self)`."""
        async def until() -> None:
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)

    async def wait_ready(self, timeout: float | None = None) -> None:
        async def ready() -> None:
            while True:
                if self.state == "ready":
                    return
                if self.state == "failed":
                    raise self.failure or AmiLoginError("AMI login refused")
                if self.state == "closed":
                    raise AmiUnavailable("AMI manager closed")
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(ready(), timeout)
        except TimeoutError as exc:
            raise AmiUnavailable(f"AMI at {self.host}:{self.port} not ready within "
                                 f"{timeout} s (state {self.state})") from exc

    async def close(self) -> None:
        self._set_state("closed")
        for task in (self._hook, self._task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def _set_state(self, state: State) -> None:
        if self.state in ("failed", "closed"):
            return
        self.state = state
        if state == "ready":
            self._ready.set()
        else:
            self._ready.clear()
        self._changed.set()

    async def _run(self) -> None:
        attempt = 0
        while self.state not in ("failed", "closed"):
            self._set_state("connecting")
            try:
                await self._session()
                reason = "connection closed"
            except AmiLoginError as exc:
                log.error("ami_login_refused", host=self.host, port=self.port,
                          username=self.username, message=str(exc), retrying=False)
                self.failure = exc
                self._set_state("failed")
                return
            except (OSError, TimeoutError, AmiUnavailable, ConnectionError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # a bug must not end reconnection for good
                log.exception("ami_session_crashed")
                reason = f"{type(exc).__name__}: {exc}"
            if self.state == "closed":
                return
            if self._was_ready:
                attempt = 0
            s = self.settings
            delay = backoff_delay(attempt, s.backoff_initial, s.backoff_max, s.rng)
            attempt += 1
            self.failures += 1
            self._changed.set()
            log.warning("ami_disconnected", host=self.host, port=self.port, reason=reason,
                        attempt=attempt, retry_in=round(delay, 3))
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        s = self.settings
        self._was_ready = False
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), s.connect_timeout)
        self._writer, self._booted = writer, asyncio.Event()
        framer = AmiFrameReader()
        read_task = asyncio.create_task(self._read_loop(reader, framer), name="ami-read")
        ping_task: asyncio.Task[None] | None = None
        try:
            try:
                reply = await self._send("Login", {"Username": self.username,
                                                   "Secret": self._secret, "Events": "on"},
                                         s.connect_timeout, race=read_task)
            except ValueError as exc:  # a line break in the user or secret: never sendable
                raise AmiLoginError("AMI username or secret contains a line break") from exc
            except AmiActionError as exc:
                raise AmiLoginError(str(exc)) from exc
            assert isinstance(reply, AmiMessage)
            self.logins += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._booted.wait()), s.boot_wait)
            if not self._booted.is_set():
                log.warning("ami_no_fullybooted", waited=s.boot_wait)
            self._was_ready = True
            self._set_state("ready")
            log.info("ami_ready", host=self.host, port=self.port, banner=framer.banner,
                     logins=self.logins)
            ping_task = asyncio.create_task(self._pinger(writer), name="ami-ping")
            if self._on_ready is not None:
                self._hook = asyncio.create_task(self._run_hook(), name="ami-on-ready")
            await read_task
        finally:
            if self.state == "ready":
                self._set_state("connecting")
            for task in (ping_task, read_task):
                if task is not None:
                    task.cancel()
            self._fail_pending(AmiUnavailable("AMI connection lost"))
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _run_hook(self) -> None:
        assert self._on_ready is not None
        try:
            await self._on_ready(self)
        except (AmiUnavailable, AmiActionError) as exc:
            log.warning("ami_on_ready_failed", error=str(exc))
        except Exception:  # a broken hook must not take the connection down
            log.exception("ami_on_ready_crashed")

    async def _pinger(self, writer: asyncio.StreamWriter) -> None:
        s = self.settings
        while True:
            await asyncio.sleep(s.ping_interval)
            try:
                await self._send("Ping", {}, s.ping_timeout)
            except AmiUnavailable:
                log.warning("ami_link_dead", host=self.host, port=self.port,
                            no_pong_within=s.ping_timeout)
                writer.transport.abort()
                return

    # -- reading --------------------------------------------------------------------------
    async def _read_loop(self, reader: asyncio.StreamReader, framer: AmiFrameReader) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                return
            for frame in framer.feed(data):
                name = framer.event_name(frame)
                if not name:
                    message = framer.parse_frame(frame)
                    if message is not None:
                        self._response(message)
                elif name == b"FullyBooted":
                    self._booted.set()
                elif self._lists and b"ActionID: " in frame and self._list_event(framer, frame):
                    continue
                elif self._on_event is not None and self._wants(name, frame):
                    message = framer.parse_frame(frame)
                    if message is not None:
                        self._dispatch(message)

    def _dispatch(self, message: AmiMessage) -> None:
        assert self._on_event is not None
        try:
            self._on_event(message)
        except Exception:  # one bad event is logged and skipped; the link stays up
            log.exception("ami_event_handler_failed", ami_event=message.event)

    def _response(self, message: AmiMessage) -> None:
        pending = self._pending.get(message.action_id or "")
        if pending is None or pending.future.done():
            return
        if message.response == "Error":
            pending.future.set_exception(AmiActionError(message.get("Message") or "error"))
        elif pending.items is None:
            pending.future.set_result(message)
        else:
            pending.started = True

    def _list_event(self, framer: AmiFrameReader, frame: bytes) -> bool:
        message = framer.parse_frame(frame)
        pending = self._pending.get(message.action_id or "") if message else None
        if message is None or pending is None or pending.items is None:
            return False
        if message.get("EventList") == "Complete":
            if not pending.future.done():
                pending.future.set_result(pending.items)
        else:
            pending.items.append(message)
        return True

    def _fail_pending(self, error: Exception) -> None:
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(error)
        self._pending.clear()

    # -- actions --------------------------------------------------------------------------
    async def action(self, name: str, fields: Mapping[str, str] | None = None,
                     timeout: float | None = None) -> AmiMessage:
        """Send an action once logged in; its response. AmiUnavailable if the link is down
        for longer than `timeout` or drops before the answer; AmiActionError on an Error."""
        reply = await self._when_ready(name, fields or {}, timeout, collect=False)
        assert isinstance(reply, AmiMessage)
        return reply

    async def action_list(self, name: str, fields: Mapping[str, str] | None = None,
                          timeout: float | None = None) -> list[AmiMessage]:
        """An action answered by an event list (CoreShowChannels, Status...): its events."""
        items = await self._when_ready(name, fields or {}, timeout, collect=True)
        assert isinstance(items, list)
        return items

    async def _when_ready(self, name: str, fields: Mapping[str, str], timeout: float | None,
                          collect: bool) -> object:
        timeout = self.settings.action_timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self.state != "ready":
            await self.wait_ready(timeout)
        return await self._send(name, fields, max(0.0, deadline - loop.time()),
                                collect=collect)

    async def _send(self, name: str, fields: Mapping[str, str], timeout: float,
                    collect: bool = False, race: asyncio.Task[None] | None = None) -> object:
        writer = self._writer
        if writer is None or writer.is_closing():
            raise AmiUnavailable(f"AMI link down, {name} not sent")
        action_id = f"pb-{next(self._ids)}"
        data = encode_action(name, {"ActionID": action_id, **fields})
        pending = _Pending(asyncio.get_running_loop().create_future(),
                           [] if collect else None)
        self._pending[action_id] = pending
        self._lists += collect
        try:
            writer.write(data)
            waiters: set[asyncio.Future[object]] = {pending.future}
            if race is not None:  # during login the reader may end before any answer
                waiters.add(race)  # type: ignore[arg-type]
            done, _ = await asyncio.wait(waiters, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            if pending.future in done:
                return pending.future.result()
            if race is not None and race in done:
                raise AmiUnavailable(f"AMI connection closed before the {name} response")
            raise AmiUnavailable(f"no response to AMI {name} within {timeout:.3g} s")
        finally:
            self._pending.pop(action_id, None)
            self._lists -= collect
            if not pending.future.done():
                pending.future.cancel()
