"""The bridge as a long-running service: its parts started together, stopped together.

Each part is a `Component`: started in order, stopped in reverse order when the bridge is asked
to stop (SIGTERM or SIGINT), so a stop drains: no new work is taken, work in hand finishes.
Parts that a later issue adds (FastAGI routing, AMI events) plug in here; the service holds no
rules of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from typing import Protocol

import structlog

from pbx_bridge.config.model import Config
from pbx_bridge.delivery.worker import DeliveryWorker
from pbx_bridge.store import Store

log = structlog.get_logger()


class Component(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class DeliveryComponent:
    """The delivery worker: every queued file goes out, retried until delivered or given up."""

    name = "delivery"

    def __init__(self, config: Config, store: Store) -> None:
        self.worker = DeliveryWorker(config, store)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self.worker.run(self._stop), name="delivery")

    async def stop(self) -> None:
        self._stop.set()  # the worker finishes the attempts in hand, then returns
        if self._task is not None:
            await self._task


class ComponentFailed(Exception):
    """A part could not start (a port in use, a store that can't be opened): one clear line."""


class Bridge:
    def __init__(self, config: Config, components: list[Component]) -> None:
        self.config = config
        self.components = components
        self.stopping = asyncio.Event()

    def request_stop(self, reason: str) -> None:
        if not self.stopping.is_set():
            log.info("bridge_stopping", reason=reason)
            self.stopping.set()

    async def run(self, *, on_ready: Callable[[], None] | None = None) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop, signal.Signals(signum).name)
        started: list[Component] = []
        try:
            for component in self.components:
                try:
                    await component.start()
                except OSError as exc:
                    raise ComponentFailed(f"{component.name}: {exc.strerror or exc}") from None
                started.append(component)
            log.info("bridge_ready", system=self.config.system.name,
                     components=[c.name for c in started])
            if on_ready is not None:
                on_ready()
            await self.stopping.wait()
        finally:
            for component in reversed(started):
                try:
                    await component.stop()
                except Exception:  # one part failing to stop must not keep the others running
                    log.exception("component_stop_failed", component=component.name)
            for signum in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(ValueError, RuntimeError):
                    loop.remove_signal_handler(signum)
            log.info("bridge_stopped")
