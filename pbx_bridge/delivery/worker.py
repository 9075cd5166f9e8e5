"""The delivery worker: takes due jobs from the store, uploads, logs each attempt, retries.

Every job ends delivered, or as a visible `gave_up` (logged at error level, the fallback queued),
or abandoned by an operator: never silently dropped. Jobs are leased in the store, and the
lease is renewed while an upload runs, so a worker killed mid-upload frees its jobs: at once
for a restarted worker on the same host (the old PID is gone), else when the lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path

import structlog

from pbx_bridge.config.model import Config
from pbx_bridge.delivery.backends import Backend, LocalFile, Receipt, backend_for
from pbx_bridge.delivery.backends.base import DeliveryError, Refused, TemporaryFailure, scrub
from pbx_bridge.delivery.naming import CallFacts
from pbx_bridge.delivery.policy import DEFAULT_POLICY, BadRetryPolicy, RetryPolicy
from pbx_bridge.delivery.queue import release_file_if_done, remote_name
from pbx_bridge.store import Attempt, Job, NewJob, Store

log = structlog.get_logger()
HOST = socket.gethostname()


def owner_id() -> str:
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_dead(owner: str) -> bool:
    """True only when certain: same host and that PID no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != HOST or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class DeliveryWorker:
    def __init__(self, config: Config, store: Store, *, lease_seconds: float = 120.0,
                 poll_seconds: float = 5.0, clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None,
                 backends: Mapping[str, Backend] | None = None) -> None:
        self.config = config
        self.store = store
        self.owner = owner_id()
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.rng = rng or random.Random()
        self._backends: dict[str, Backend] = dict(backends or {})
        self._running: Counter[str] = Counter()
        self._wake = asyncio.Event()

    # -- plumbing ------------------------------------------------------------------------------
    def backend(self, method_name: str) -> Backend | None:
        if method_name not in self._backends:
            method = self.config.delivery_method(method_name)
            if method is None:
                return None
            self._backends[method_name] = backend_for(method, self.config)
        return self._backends[method_name]

    def policy(self, method_name: str) -> RetryPolicy:
        method = self.config.delivery_method(method_name)
        text = getattr(method, "retry", "") if method else ""
        try:
            return RetryPolicy.parse(text)
        except BadRetryPolicy as exc:
            log.warning("delivery_bad_retry_policy", method=method_name, error=str(exc))
            return DEFAULT_POLICY

    def release_dead_leases(self) -> int:
        dead = [o for o in self.store.lease_owners() if _owner_dead(o)]
        if not dead:
            return 0
        now = self.clock()
        interrupted = [j for j in self.store.jobs(states=("queued", "retrying"))
                       if j.lease_owner in dead]
        for job in interrupted:
            # The dead worker never logged this attempt: log it, so the history is complete.
            self.store.record(job.id, job.lease_owner, Attempt(
                job.id, job.updated, now, "failed", worker=job.lease_owner,
                error=f"interrupted: worker {job.lease_owner} died during the attempt",
                remote_name=job.remote_name), state="retrying", next_at=now)
        freed = self.store.release_owners(dead) + len(interrupted)
        log.warning("delivery_leases_released", jobs=freed, owners=dead)
        return freed

    def wake(self) -> None:
        """Look for work now (e.g. a file was just queued)."""
        self._wake.set()

    # -- one attempt ---------------------------------------------------------------------------
    async def attempt(self, job: Job) -> Job:
        """Try `job` once (it must be leased to us) and record the outcome."""
        started = self.clock()
        backend = self.backend(job.method)
        receipt: Receipt | None = None
        local: LocalFile | None = None
        error: DeliveryError | None = None
        try:
            if backend is None:
                raise Refused(f"delivery method {job.method!r} is no longer in the config")
            path = Path(job.file)
            if not path.is_file():
                raise Refused(f"the local file {job.file} is missing")
            # Size now; the SHA-256 of a large file is computed while the upload runs.
            local = await asyncio.to_thread(LocalFile.open, path)
            facts = CallFacts.from_json(job.facts)
            tag = f"job{job.id}"
            receipt = await self._with_lease(job, asyncio.to_thread(
                backend.upload, local, job.remote_name, facts, tag))
            if receipt.size is not None and receipt.size != local.size:
                raise TemporaryFailure(f"the backend stored {receipt.size} bytes, not "
                                       f"{local.size}")
            if receipt.hash_matches is False:
                raise TemporaryFailure(f"the backend's hash {receipt.remote_hash} does not "
                                       "match the file")
            if not local.hashed:
                await asyncio.to_thread(getattr, local, "sha256")  # for the log; may raise
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # a bug or an unmapped library error: retry, never drop
            log.exception("delivery_unexpected_error", job=job.id, method=job.method)
            error = TemporaryFailure(f"{type(exc).__name__}: {exc}")
        # Off the loop: the store's commit waits for the disk (a delivered row must survive
        # power loss), and meanwhile the loop can start the next uploads.
        return await asyncio.to_thread(self._conclude, job, started, local, receipt, error)

    async def _with_lease(self, job: Job, work: asyncio.Future[Receipt] | object) -> Receipt:
        """Run the upload while renewing the job's lease, so a long upload is not reclaimed."""
        task = asyncio.ensure_future(work)  # type: ignore[arg-type]
        interval = max(self.lease_seconds / 3, 0.05)
        while True:
            done, _ = await asyncio.wait({task}, timeout=interval)
            if done:
                return task.result()
            self.store.renew(job.id, self.owner, self.clock() + self.lease_seconds)

    def _conclude(self, job: Job, started: float, local: LocalFile | None,
                  receipt: Receipt | None, error: DeliveryError | None) -> Job:
        now = self.clock()
        base = dict(job_id=job.id, started=started, finished=now,
                    remote_name=receipt.remote_name if receipt else job.remote_name,
                    size=receipt.size if receipt else None,
                    content_hash=_content_hash(local),
                    remote_hash=receipt.remote_hash if receipt else "", worker=self.owner)
        if error is None:
            done = self.store.record(job.id, self.owner, Attempt(outcome="delivered", **base),
                                     state="delivered", next_at=now)
            log.info("delivery_delivered", job=job.id, method=job.method, file=job.file,
                     remote_name=base["remote_name"], size=base["size"],
                     attempts=done.attempts, remote_hash=base["remote_hash"])
            release_file_if_done(self.store, job.file)
            return done
        message = scrub(str(error))
        if error.auth:
            log.error("delivery_method_needs_attention", method=job.method, auth=error.auth,
                      error=message)
        failures = job.attempts + 1
        next_at = None if error.permanent else self.policy(job.method).next_attempt(
            created=job.created, now=now, failures=failures, retry_after=error.retry_after,
            rng=self.rng)
        outcome = "refused" if error.permanent else "failed"
        if next_at is not None:
            updated = self.store.record(job.id, self.owner,
                                        Attempt(outcome=outcome, error=message, **base),
                                        state="retrying", next_at=next_at)
            log.warning("delivery_retry_scheduled", job=job.id, method=job.method,
                        error=message, attempt=failures, retry_in=round(next_at - now, 1))
            return updated
        gave_up = self.store.record(job.id, self.owner,
                                    Attempt(outcome=outcome, error=message, **base),
                                    state="gave_up", next_at=now)
        fallback = self._fallback(gave_up)
        # The alert: an error-level event an operator's log shipping can page on.
        log.error("delivery_gave_up", job=job.id, method=job.method, file=job.file,
                  attempts=gave_up.attempts, error=message, refused=error.permanent,
                  fallback=fallback.method if fallback else None,
                  fallback_job=fallback.id if fallback else None)
        release_file_if_done(self.store, job.file)
        return gave_up

    def _fallback(self, job: Job) -> Job | None:
        method = self.config.delivery_method(job.method)
        name = method.fallback if method else ""
        if not name:
            return None
        chain, cursor = {job.method}, job
        while cursor.fallback_of is not None:  # never loop back to a method already tried
            parent = self.store.job(cursor.fallback_of)
            if parent is None:
                break
            chain.add(parent.method)
            cursor = parent
        target = self.config.delivery_method(name)
        if target is None or name in chain:
            log.error("delivery_fallback_unusable", job=job.id, fallback=name)
            return None
        facts = CallFacts.from_json(job.facts)
        new = self.store.enqueue(NewJob(job.file, name, job.facts,
                                        remote_name(target, self.config, facts, Path(job.file)),
                                        job.remove_file, fallback_of=job.id), self.clock())
        self.wake()
        return new

    # -- driving -------------------------------------------------------------------------------
    async def deliver_now(self, job_id: int, *, follow_fallbacks: bool = True) -> list[Job]:
        """One attempt at this job now, ignoring its back-off (the `deliver` command); then
        the first attempt of any fallback it caused. Returns the jobs as they ended."""
        self.release_dead_leases()
        claimed = self.store.claim(self.owner, self.clock(), self.lease_seconds, job_id=job_id)
        if not claimed:
            return []
        results = [await self.attempt(claimed[0])]
        while follow_fallbacks and results[-1].state == "gave_up":
            followers = [j for j in self.store.jobs(file=results[-1].file)
                         if j.fallback_of == results[-1].id]
            if not followers:
                break
            nxt = self.store.claim(self.owner, self.clock(), self.lease_seconds,
                                   job_id=followers[0].id)
            if not nxt:
                break
            results.append(await self.attempt(nxt[0]))
        return results

    def _claim_due(self) -> list[Job]:
        """Claim due jobs, per method, no more than its backend's free slots."""
        jobs: list[Job] = []
        for method in self.config.delivery_methods:
            backend = self.backend(method.name)
            slots = (backend.concurrency if backend else 1) - self._running[method.name]
            if slots <= 0:
                continue
            claimed = self.store.claim(self.owner, self.clock(), self.lease_seconds,
                                       limit=slots, methods=[method.name])
            self._running[method.name] += len(claimed)
            jobs.extend(claimed)
        return jobs

    def _orphans(self) -> None:
        """Jobs whose method was removed from the config can never be claimed by method:
        give them up visibly instead of letting them wait forever."""
        known = {m.name for m in self.config.delivery_methods}
        for job in self.store.jobs(states=("queued", "retrying")):
            if job.method not in known:
                claimed = self.store.claim(self.owner, self.clock(), self.lease_seconds,
                                           job_id=job.id)
                if claimed:
                    self._conclude(claimed[0], self.clock(), None, None, Refused(
                        f"delivery method {job.method!r} is no longer in the config"))

    async def run(self, stop: asyncio.Event, *, until_idle: bool = False,
                  until_settled: bool = False) -> None:
        """Work until `stop` is set (then finish running attempts: SIGTERM drains); with
        `until_idle`, until nothing is running or due now; with `until_settled`, until no job
        is open at all (retries included)."""
        self.release_dead_leases()
        self._orphans()
        tasks: set[asyncio.Task[Job]] = set()
        last_sweep = self.clock()
        while not stop.is_set():
            for job in self._claim_due():
                task = asyncio.create_task(self.attempt(job))
                task.add_done_callback(lambda _t, m=job.method: self._running.subtract([m]))
                tasks.add(task)
            if (until_idle or until_settled) and not tasks:
                due = self.store.next_due()
                if due is None or (until_idle and due > self.clock()):
                    return
            if self.clock() - last_sweep > self.lease_seconds:
                self.release_dead_leases()
                last_sweep = self.clock()
            self._wake.clear()
            waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())}
            done, _ = await asyncio.wait(tasks | waiters, timeout=self._pause(bool(tasks)),
                                         return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            tasks -= {t for t in done if t in tasks}
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _pause(self, busy: bool) -> float:
        """Sleep until the next job is due (bounded), so short back-offs are kept precisely."""
        due = self.store.next_due()
        wait = (due if due is not None else self.clock() + self.poll_seconds) - self.clock()
        return min(max(wait, 0.01), 0.5 if busy else self.poll_seconds)


def _content_hash(local: LocalFile | None) -> str:
    if local is None:
        return ""
    try:
        return f"sha256:{local.sha256}"
    except DeliveryError:  # the file could not be read: the attempt's error says so
        return ""


async def run_worker(config: Config, store: Store, stop: asyncio.Event | None = None,
                     **kw: object) -> None:
    stop = stop or asyncio.Event()
    worker = DeliveryWorker(config, store, **kw)  # type: ignore[arg-type]
    with contextlib.suppress(asyncio.CancelledError):
        await worker.run(stop)
