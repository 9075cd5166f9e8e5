"""The store's `recordings` table: facts kept when a policy recording starts, methods merged
when another side asks, and `finish_recording` as the exactly-once gate."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from pbx_bridge.store import StoredRecording
from pbx_bridge.store.sqlite import MIGRATIONS, SqliteStore

FACTS = {"service_name": "Call recording", "src_number": "15559876543", "dst_number": "1555"}


def rec(file: str = "/spool/rec-1.1.wav", methods: tuple[str, ...] = ("disk",),
        call: str = "1.1") -> StoredRecording:
    return StoredRecording(file, call, FACTS, methods, (f"asked for {methods}",))


def test_a_version_1_database_gains_the_table_and_keeps_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute("INSERT INTO jobs (file, method, facts, remote_name, created, state, next_at, "
               "updated) VALUES ('/a.wav', 'disk', '{}', '/out/a.wav', 1, 'queued', 1, 1)")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    store = SqliteStore(path)
    assert store.schema_version() == len(MIGRATIONS) >= 2
    assert [job.file for job in store.jobs()] == ["/a.wav"]
    assert store.open_recordings() == []
    store.close()


def test_saved_then_merged_then_finished_once(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    first = store.save_recording(rec(), now=10.0)
    assert (first.methods, first.created, first.finished) == (("disk",), 10.0, None)
    merged = store.save_recording(rec(methods=("s3", "disk")), now=11.0)
    assert merged.methods == ("disk", "s3") and merged.created == 10.0
    assert merged.facts == FACTS and len(merged.reasons) == 2
    assert [r.file for r in store.open_recordings(call="1.1")] == [first.file]
    assert store.open_recordings(call="2.2") == []

    done = store.finish_recording(first.file, now=20.0)
    assert done is not None and done.finished == 20.0 and done.methods == ("disk", "s3")
    assert store.finish_recording(first.file, now=21.0) is None  # never twice
    assert store.finish_recording("/spool/unknown.wav", now=21.0) is None
    assert store.open_recordings() == []
    assert store.recording(first.file) == done
    store.close()


def test_finish_is_atomic_across_threads(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    store.save_recording(rec(), now=1.0)
    winners: list[object] = []
    barrier = threading.Barrier(8)

    def race() -> None:
        barrier.wait()
        if store.finish_recording(rec().file, now=2.0) is not None:
            winners.append(1)

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert winners == [1]
    store.close()


def test_pruning_forgets_only_recordings_handed_on_before_the_cutoff(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    for n, file in enumerate(["/spool/rec-old.wav", "/spool/rec-new.wav", "/spool/rec-open.wav"]):
        store.save_recording(rec(file, call=str(n)), now=1.0)
    store.finish_recording("/spool/rec-old.wav", now=10.0)
    store.finish_recording("/spool/rec-new.wav", now=100.0)
    assert store.prune_recordings(finished_before=50.0) == 1
    assert store.recording("/spool/rec-old.wav") is None
    assert store.recording("/spool/rec-new.wav") is not None
    assert [r.file for r in store.open_recordings()] == ["/spool/rec-open.wav"]  # never pruned
    store.close()
