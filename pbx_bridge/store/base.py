"""What the bridge keeps durably, and the narrow interface every store (SQLite, later PostgreSQL)
offers. Nothing the delivery worker needs to survive a crash lives only in memory.

Times are UNIX seconds (float, UTC): comparable in SQL on every backend and free of time-zone
ambiguity; they are rendered for people only at the edges.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

JobState = Literal["queued", "retrying", "delivered", "gave_up", "abandoned"]
JOB_STATES: tuple[JobState, ...] = ("queued", "retrying", "delivered", "gave_up", "abandoned")
# States a worker may still claim.
OPEN_STATES: tuple[JobState, ...] = ("queued", "retrying")
# Outcomes of one attempt: `failed` will be retried, `refused` is a permanent "no" from the
# backend (the fallback takes over), `delivered` is done.
Outcome = Literal["delivered", "failed", "refused"]


@dataclass(frozen=True)
class Job:
    """One finished file to be delivered through one delivery method."""

    id: int
    file: str
    method: str
    facts: Mapping[str, Any]
    remote_name: str  # fixed at enqueue time, so every retry writes the same name
    created: float
    state: JobState
    next_at: float
    attempts: int = 0
    last_error: str = ""
    remove_file: bool = True  # the bridge owns the file (a recording in its spool)
    fallback_of: int | None = None
    lease_owner: str = ""
    lease_until: float = 0.0
    updated: float = 0.0


@dataclass(frozen=True)
class Attempt:
    job_id: int
    started: float
    finished: float
    outcome: Outcome
    error: str = ""
    remote_name: str = ""
    size: int | None = None
    content_hash: str = ""  # ours: sha256 of the local file
    remote_hash: str = ""  # the backend's, when it returns one (e.g. an S3 ETag, a Content-MD5)
    worker: str = ""


@dataclass(frozen=True)
class NewJob:
    file: str
    method: str
    facts: Mapping[str, Any]
    remote_name: str
    remove_file: bool = True
    fallback_of: int | None = None
    not_before: float | None = None


@dataclass(frozen=True)
class StoredRecording:
    """A recording the call policy started, with the call's facts taken when it started, so
    that it can be delivered even if the bridge missed its whole life (an AMI outage, an
    Asterisk restart). `file` is the path as the PBX names it; `call` the PBX's call id.
    `finished` is set once, by whoever hands the file to delivery: that is the exactly-once
    gate (`finish_recording` returns the row to one caller only)."""

    file: str
    call: str
    facts: Mapping[str, Any]
    methods: tuple[str, ...]
    reasons: tuple[str, ...] = ()
    created: float = 0.0
    finished: float | None = None


class Store(Protocol):
    """The delivery queue and log. Implementations must make `claim` atomic across processes."""

    def enqueue(self, job: NewJob, now: float) -> Job:
        """Add a job, or return the open job for the same file and method (idempotent)."""
        ...

    def claim(self, owner: str, now: float, lease_seconds: float, *, limit: int = 1,
              job_id: int | None = None, methods: Sequence[str] | None = None) -> list[Job]:
        """Lease due open jobs to `owner`; a lease that runs out (a crash) frees the job again."""
        ...

    def renew(self, job_id: int, owner: str, until: float) -> bool:
        """Extend a lease still held by `owner`; False when it was lost."""
        ...

    def release_owners(self, owners_dead: Sequence[str]) -> int:
        """Free every lease held by these owners (known dead processes)."""
        ...

    def lease_owners(self) -> list[str]:
        ...

    def record(self, job_id: int, owner: str, attempt: Attempt, *, state: JobState,
               next_at: float) -> Job:
        """Log an attempt and move the job on, releasing the lease, in one transaction."""
        ...

    def set_state(self, job_id: int, state: JobState, now: float, *, reason: str = "") -> Job:
        """An operator's decision (retry now, abandon); also clears any lease."""
        ...

    def next_due(self) -> float | None:
        """When the earliest open, unleased job is due (None: nothing open)."""
        ...

    def job(self, job_id: int) -> Job | None:
        ...

    def jobs(self, *, states: Sequence[str] | None = None, file: str | None = None) -> list[Job]:
        ...

    def attempts(self, job_id: int) -> list[Attempt]:
        ...

    def save_recording(self, recording: StoredRecording, now: float) -> StoredRecording:
        """Keep a recording's facts; for a file already kept, add its methods and reasons."""
        ...

    def recording(self, file: str) -> StoredRecording | None:
        ...

    def open_recordings(self, *, call: str | None = None) -> list[StoredRecording]:
        """Recordings not yet handed to delivery (of one call, or all)."""
        ...

    def finish_recording(self, file: str, now: float) -> StoredRecording | None:
        """Mark it handed to delivery; the row to the first caller, None to every later one
        (and for a file never kept)."""
        ...

    def prune_recordings(self, finished_before: float) -> int:
        """Forget recordings handed on before then (their jobs keep the facts); how many."""
        ...

    def close(self) -> None:
        ...
