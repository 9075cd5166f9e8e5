"""The demo's delivery side: the bridge's own delivery worker, told to say when an attempt
ends so the demo waits on job states (never on sleeps), and the delivery log of this run."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from pbx_bridge.commands_delivery import log_lines, log_rows
from pbx_bridge.config.model import Config
from pbx_bridge.delivery.worker import DeliveryWorker
from pbx_bridge.store import OPEN_STATES, Job, Store


class NotifyingWorker(DeliveryWorker):
    """A DeliveryWorker that sets `changed` after every attempt it concludes."""

    def __init__(self, config: Config, store: Store, **kwargs: Any) -> None:
        super().__init__(config, store, **kwargs)
        self.changed = asyncio.Event()

    async def attempt(self, job: Job) -> Job:
        try:
            return await super().attempt(job)
        finally:
            self.changed.set()


async def wait_settled(worker: NotifyingWorker, store: Store, ids: Iterable[int],
                       timeout: float) -> list[Job]:
    """The jobs `ids` (and the fallbacks they caused) once none is queued or retrying, or as
    they stand when `timeout` runs out."""
    wanted = set(ids)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        worker.changed.clear()
        jobs = run_jobs(store, wanted)
        if all(job.state not in OPEN_STATES for job in jobs):
            return jobs
        remaining = deadline - loop.time()
        if remaining <= 0:
            return jobs
        worker.wake()
        try:
            await asyncio.wait_for(worker.changed.wait(), remaining)
        except TimeoutError:
            return run_jobs(store, wanted)


def run_jobs(store: Store, ids: set[int]) -> list[Job]:
    """Jobs `ids` and every fallback job that descends from them, in id order."""
    jobs = store.jobs()
    chosen = set(ids)
    for job in jobs:  # ids grow: a fallback always comes after the job it replaces
        if job.fallback_of in chosen:
            chosen.add(job.id)
    return [job for job in jobs if job.id in chosen]


def delivery_log(store: Store, jobs: list[Job]) -> list[str]:
    """The same lines `pbx-bridge deliveries` prints, for these jobs only."""
    return log_lines(log_rows(store, jobs))
