"""The SQLite store: migrations, idempotent enqueue, atomic claims with leases, the log."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from pbx_bridge.store import Attempt, NewJob, StoreUnavailable, open_store
from pbx_bridge.store.sqlite import SCHEMA_VERSION, SchemaTooNew, SqliteStore


def new(file: str = "/spool/a.wav", method: str = "disk") -> NewJob:
    return NewJob(file, method, {"src_number": "1"}, f"/out/{Path(file).name}")


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    s = SqliteStore(tmp_path / "deep" / "store.db")
    yield s  # type: ignore[misc]
    s.close()


def test_schema_is_migrated_once_and_wal_is_on(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SqliteStore(path).close()
    again = SqliteStore(path)
    assert again.schema_version() == SCHEMA_VERSION
    again.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(SchemaTooNew):
        SqliteStore(path)


def test_open_store_urls(tmp_path: Path) -> None:
    open_store(f"sqlite://{tmp_path}/x.db").close()
    for bad in ("sqlite://relative.db", "mysql://x", "postgresql://db/x"):
        with pytest.raises(StoreUnavailable):
            open_store(bad)


def test_enqueue_is_idempotent_per_open_file_and_method(store: SqliteStore) -> None:
    a = store.enqueue(new(), 1.0)
    assert store.enqueue(new(), 2.0).id == a.id
    assert store.enqueue(new(method="mail"), 2.0).id != a.id
    store.set_state(a.id, "delivered", 3.0)
    assert store.enqueue(new(), 4.0).id != a.id  # a finished job doesn't swallow a new one


def test_claim_leases_and_a_lapsed_lease_frees_the_job(store: SqliteStore) -> None:
    job = store.enqueue(new(), 10.0)
    [claimed] = store.claim("w1", 10.0, 30)
    assert claimed.id == job.id and claimed.lease_owner == "w1"
    assert store.claim("w2", 20.0, 30) == []
    assert store.renew(job.id, "w1", 50.0)
    assert store.claim("w2", 45.0, 30) == []
    assert [j.id for j in store.claim("w2", 51.0, 30)] == [job.id]  # w1 crashed
    assert not store.renew(job.id, "w1", 99.0)  # w1's lease is gone for good


def test_release_owners_frees_a_dead_workers_jobs(store: SqliteStore) -> None:
    job = store.enqueue(new(), 1.0)
    store.claim("dead", 1.0, 1000)
    assert store.lease_owners() == ["dead"]
    assert store.release_owners(["dead"]) == 1
    assert [j.id for j in store.claim("alive", 2.0, 10)] == [job.id]


def test_not_due_jobs_wait_unless_named(store: SqliteStore) -> None:
    job = store.enqueue(NewJob("/f", "m", {}, "/o", not_before=100.0), 1.0)
    assert store.claim("w", 50.0, 10) == []
    assert store.next_due() == 100.0
    assert [j.id for j in store.claim("w", 50.0, 10, job_id=job.id)] == [job.id]


def test_record_logs_the_attempt_and_moves_the_job(store: SqliteStore) -> None:
    job = store.enqueue(new(), 1.0)
    store.claim("w", 1.0, 10)
    after = store.record(job.id, "w", Attempt(job.id, 1.0, 2.0, "failed", "refused conn"),
                         state="retrying", next_at=60.0)
    assert (after.state, after.attempts, after.last_error, after.lease_owner) == \
        ("retrying", 1, "refused conn", "")
    store.claim("w", 60.0, 10)
    store.record(job.id, "w", Attempt(job.id, 60.0, 61.0, "delivered", size=5,
                                      content_hash="sha256:x"), state="delivered", next_at=61.0)
    assert [a.outcome for a in store.attempts(job.id)] == ["failed", "delivered"]
    assert [j.id for j in store.jobs(states=["delivered"])] == [job.id]


def test_two_processes_worth_of_claimers_never_share_a_job(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    setup = SqliteStore(path)
    for i in range(200):
        setup.enqueue(new(f"/spool/{i}.wav"), 1.0)
    setup.close()
    got: dict[str, list[int]] = {}

    def claimer(name: str) -> None:
        s = SqliteStore(path)  # its own connection, as another process would have
        mine = got.setdefault(name, [])
        while batch := s.claim(name, 2.0, 60, limit=3):
            mine.extend(j.id for j in batch)
        s.close()

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [i for ids in got.values() for i in ids]
    assert sorted(claimed) == list(range(1, 201))
