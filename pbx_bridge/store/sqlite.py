"""The embedded store: one SQLite file in WAL mode, a versioned schema migrated on open.

WAL lets the `deliveries` command read while a worker writes; `BEGIN IMMEDIATE` takes the write
lock up front so two processes claiming jobs can never both see the same job as free.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pbx_bridge.store.base import OPEN_STATES, Attempt, Job, JobState, NewJob, StoredRecording

# Each entry moves the schema from version i to i+1 (PRAGMA user_version). Never edit a
# released entry: append a new one, so every existing database gets the same steps.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        file TEXT NOT NULL,
        method TEXT NOT NULL,
        facts TEXT NOT NULL,
        remote_name TEXT NOT NULL,
        created REAL NOT NULL,
        state TEXT NOT NULL CHECK (state IN
            ('queued', 'retrying', 'delivered', 'gave_up', 'abandoned')),
        next_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        remove_file INTEGER NOT NULL DEFAULT 1,
        fallback_of INTEGER REFERENCES jobs(id),
        lease_owner TEXT NOT NULL DEFAULT '',
        lease_until REAL NOT NULL DEFAULT 0,
        updated REAL NOT NULL
    );
    CREATE INDEX jobs_due ON jobs (state, next_at);
    CREATE INDEX jobs_file ON jobs (file);
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id INTEGER NOT NULL REFERENCES jobs(id),
        started REAL NOT NULL,
        finished REAL NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('delivered', 'failed', 'refused')),
        error TEXT NOT NULL DEFAULT '',
        remote_name TEXT NOT NULL DEFAULT '',
        size INTEGER,
        content_hash TEXT NOT NULL DEFAULT '',
        remote_hash TEXT NOT NULL DEFAULT '',
        worker TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX attempts_job ON attempts (job_id);
    """,
    # 2: the facts of each policy recording, written when it starts (see base.StoredRecording)
    """
    CREATE TABLE recordings (
        file TEXT PRIMARY KEY,
        call TEXT NOT NULL,
        facts TEXT NOT NULL,
        methods TEXT NOT NULL,
        reasons TEXT NOT NULL,
        created REAL NOT NULL,
        finished REAL
    );
    CREATE INDEX recordings_open ON recordings (finished, call);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

_JOB_COLUMNS = ("id, file, method, facts, remote_name, created, state, next_at, attempts, "
                "last_error, remove_file, fallback_of, lease_owner, lease_until, updated")


_REC_COLUMNS = "file, call, facts, methods, reasons, created, finished"


def _recording(row: sqlite3.Row | tuple[Any, ...]) -> StoredRecording:
    file, call, facts, methods, reasons, created, finished = tuple(row)
    return StoredRecording(file, call, json.loads(facts), tuple(json.loads(methods)),
                           tuple(json.loads(reasons)), created, finished)


class SchemaTooNew(Exception):
    """The database was written by a newer pbx-bridge; refuse rather than corrupt it."""


def _job(row: sqlite3.Row | tuple[Any, ...]) -> Job:
    (id_, file, method, facts, remote_name, created, state, next_at, attempts, last_error,
     remove_file, fallback_of, lease_owner, lease_until, updated) = tuple(row)
    return Job(id_, file, method, json.loads(facts), remote_name, created, state, next_at,
               attempts, last_error, bool(remove_file), fallback_of, lease_owner, lease_until,
               updated)


class SqliteStore:
    """`Store` on SQLite. Safe to share between threads of one process (one lock around it)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN ourselves, so transactions are explicit.
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                   check_same_thread=False)
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a delivered row must survive power loss
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    # -- schema --------------------------------------------------------------------------------
    def _migrate(self) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                version = self._db.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise SchemaTooNew(f"{self.path}: schema version {version} is newer than "
                                       f"this pbx-bridge understands ({SCHEMA_VERSION})")
                for number in range(version, SCHEMA_VERSION):
                    for statement in MIGRATIONS[number].split(";"):
                        if statement.strip():
                            self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {number + 1}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def schema_version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _write(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._db.execute(sql, params).fetchall()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return rows

    # -- jobs ----------------------------------------------------------------------------------
    def enqueue(self, job: NewJob, now: float) -> Job:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    f"SELECT {_JOB_COLUMNS} FROM jobs WHERE file = ? AND method = ? AND state IN "
                    "('queued', 'retrying') ORDER BY id LIMIT 1", (job.file, job.method),
                ).fetchone()
                if row is None:
                    row = self._db.execute(
                        "INSERT INTO jobs (file, method, facts, remote_name, created, state, "
                        "next_at, remove_file, fallback_of, updated) "
                        f"VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?) RETURNING {_JOB_COLUMNS}",
                        (job.file, job.method, json.dumps(dict(job.facts), sort_keys=True),
                         job.remote_name, now, job.not_before or now, int(job.remove_file),
                         job.fallback_of, now),
                    ).fetchone()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return _job(row)

    def claim(self, owner: str, now: float, lease_seconds: float, *, limit: int = 1,
              job_id: int | None = None, methods: Sequence[str] | None = None) -> list[Job]:
        where = ["state IN ('queued', 'retrying')", "lease_until < ?"]
        params: list[Any] = [now]
        if job_id is None:
            where.append("next_at <= ?")
            params.append(now)
        else:  # an explicit `deliver` attempt ignores the back-off clock
            where.append("id = ?")
            params.append(job_id)
        if methods is not None:
            where.append(f"method IN ({', '.join('?' * len(methods))})")
            params.extend(methods)
        rows = self._write(
            f"UPDATE jobs SET lease_owner = ?, lease_until = ?, updated = ? WHERE id IN "
            f"(SELECT id FROM jobs WHERE {' AND '.join(where)} ORDER BY next_at, id LIMIT ?) "
            f"RETURNING {_JOB_COLUMNS}",
            [owner, now + lease_seconds, now, *params, limit],
        )
        return sorted((_job(r) for r in rows), key=lambda j: (j.next_at, j.id))

    def renew(self, job_id: int, owner: str, until: float) -> bool:
        rows = self._write("UPDATE jobs SET lease_until = ? WHERE id = ? AND lease_owner = ? "
                           "AND state IN ('queued', 'retrying') RETURNING id",
                           (until, job_id, owner))
        return bool(rows)

    def release_owners(self, owners_dead: Sequence[str]) -> int:
        if not owners_dead:
            return 0
        rows = self._write(
            "UPDATE jobs SET lease_owner = '', lease_until = 0 WHERE lease_owner IN "
            f"({', '.join('?' * len(owners_dead))}) RETURNING id", list(owners_dead))
        return len(rows)

    def lease_owners(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT lease_owner FROM jobs WHERE lease_owner != ''"
                                    " AND state IN ('queued', 'retrying')").fetchall()
        return [r[0] for r in rows]

    def record(self, job_id: int, owner: str, attempt: Attempt, *, state: JobState,
               next_at: float) -> Job:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO attempts (job_id, started, finished, outcome, error, "
                    "remote_name, size, content_hash, remote_hash, worker) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (job_id, attempt.started, attempt.finished, attempt.outcome, attempt.error,
                     attempt.remote_name, attempt.size, attempt.content_hash,
                     attempt.remote_hash, attempt.worker or owner))
                row = self._db.execute(
                    "UPDATE jobs SET state = ?, next_at = ?, attempts = attempts + 1, "
                    "last_error = ?, lease_owner = '', lease_until = 0, updated = ? "
                    f"WHERE id = ? RETURNING {_JOB_COLUMNS}",
                    (state, next_at, attempt.error, attempt.finished, job_id)).fetchone()
                if row is None:
                    raise KeyError(f"no delivery job {job_id}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return _job(row)

    def set_state(self, job_id: int, state: JobState, now: float, *, reason: str = "") -> Job:
        sets = "state = ?, lease_owner = '', lease_until = 0, updated = ?"
        params: list[Any] = [state, now]
        if state in OPEN_STATES:
            sets += ", next_at = ?"
            params.append(now)
        if reason:
            sets += ", last_error = ?"
            params.append(reason)
        rows = self._write(f"UPDATE jobs SET {sets} WHERE id = ? RETURNING {_JOB_COLUMNS}",
                           [*params, job_id])
        if not rows:
            raise KeyError(f"no delivery job {job_id}")
        return _job(rows[0])

    def next_due(self) -> float | None:
        with self._lock:
            row = self._db.execute("SELECT MIN(next_at) FROM jobs WHERE state IN "
                                   "('queued', 'retrying') AND lease_owner = ''").fetchone()
        return row[0]

    def job(self, job_id: int) -> Job | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?",
                                   (job_id,)).fetchone()
        return _job(row) if row else None

    def jobs(self, *, states: Sequence[str] | None = None, file: str | None = None) -> list[Job]:
        where, params = ["1 = 1"], []
        if states is not None:
            where.append(f"state IN ({', '.join('?' * len(states))})")
            params.extend(states)
        if file is not None:
            where.append("file = ?")
            params.append(file)
        with self._lock:
            rows = self._db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE {' AND '.join(where)}"
                                    " ORDER BY id", params).fetchall()
        return [_job(r) for r in rows]

    def attempts(self, job_id: int) -> list[Attempt]:
        with self._lock:
            rows = self._db.execute(
                "SELECT job_id, started, finished, outcome, error, remote_name, size, "
                "content_hash, remote_hash, worker FROM attempts WHERE job_id = ? ORDER BY id",
                (job_id,)).fetchall()
        return [Attempt(*r) for r in rows]

    # -- recordings (facts kept from the start of a recording) ---------------------------------
    def save_recording(self, recording: StoredRecording, now: float) -> StoredRecording:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(f"SELECT {_REC_COLUMNS} FROM recordings WHERE file = ?",
                                       (recording.file,)).fetchone()
                if row is None:
                    self._db.execute(
                        "INSERT INTO recordings (file, call, facts, methods, reasons, created) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (recording.file, recording.call,
                         json.dumps(dict(recording.facts), sort_keys=True),
                         json.dumps(list(recording.methods)),
                         json.dumps(list(recording.reasons)), now))
                else:  # another side asked too (rule 7): add its methods, keep the facts
                    old = _recording(row)
                    methods = list(dict.fromkeys((*old.methods, *recording.methods)))
                    reasons = list(dict.fromkeys((*old.reasons, *recording.reasons)))
                    self._db.execute("UPDATE recordings SET methods = ?, reasons = ? "
                                     "WHERE file = ?", (json.dumps(methods),
                                                        json.dumps(reasons), recording.file))
                row = self._db.execute(f"SELECT {_REC_COLUMNS} FROM recordings WHERE file = ?",
                                       (recording.file,)).fetchone()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return _recording(row)

    def recording(self, file: str) -> StoredRecording | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_REC_COLUMNS} FROM recordings WHERE file = ?",
                                   (file,)).fetchone()
        return _recording(row) if row else None

    def open_recordings(self, *, call: str | None = None) -> list[StoredRecording]:
        where, params = "finished IS NULL", []
        if call is not None:
            where += " AND call = ?"
            params.append(call)
        with self._lock:
            rows = self._db.execute(f"SELECT {_REC_COLUMNS} FROM recordings WHERE {where} "
                                    "ORDER BY created, file", params).fetchall()
        return [_recording(r) for r in rows]

    def finish_recording(self, file: str, now: float) -> StoredRecording | None:
        rows = self._write(f"UPDATE recordings SET finished = ? WHERE file = ? AND finished IS "
                           f"NULL RETURNING {_REC_COLUMNS}", (now, file))
        return _recording(rows[0]) if rows else None

    def prune_recordings(self, finished_before: float) -> int:
        rows = self._write("DELETE FROM recordings WHERE finished IS NOT NULL AND finished < ? "
                           "RETURNING file", (finished_before,))
        return len(rows)

    def close(self) -> None:
        with self._lock:
            self._db.close()
