"""The demo's delivery side without Asterisk: the bridge's worker delivers queued recordings to
the config's local method, the demo waits on job states (not sleeps), and shows their log."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from pbx_bridge.config.load import load_config
from pbx_bridge.delivery.naming import CallFacts
from pbx_bridge.delivery.queue import submit
from pbx_bridge.lab.demo_delivery import NotifyingWorker, delivery_log, run_jobs, wait_settled
from pbx_bridge.service import DeliveryComponent
from pbx_bridge.store import NewJob, open_store

FACTS = CallFacts("Voicemail", "33698765432", "", "33170000102",
                  datetime(2026, 11, 23, 7, 27, 57, tzinfo=UTC))


def config(tmp_path: Path):
    path = tmp_path / "demo.yaml"
    path.write_text(f"""
system:
  name: Demo
  timezone: Europe/Paris
  store: sqlite://{tmp_path}/demo.db
delivery_methods:
  - name: recordings-local
    type: local
    directory: {tmp_path}/out/%{{call_year}}/%{{call_month}}
    file_name: "%{{service_name}}-%{{src_number}}-%{{dst_number}}-%{{call_time}}.wav"
""")
    loaded = load_config(path)
    assert loaded.ok, [str(p) for p in loaded.errors]
    return loaded.config


def test_the_running_worker_delivers_and_the_demo_waits_on_job_states(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    store = open_store(cfg.system.store)
    recording = tmp_path / "voicemail-1795418878.4.wav"
    recording.write_bytes(b"RIFF" + bytes(1000))

    async def run() -> list:
        delivery = DeliveryComponent(cfg, store)
        worker = delivery.worker = NotifyingWorker(cfg, store)
        await delivery.start()  # as the demo runs it: the bridge's own component
        try:
            jobs = submit(store, cfg, recording, ["recordings-local"], FACTS)
            # The worker polls every 5 s; a settled answer well before shows the wake-up.
            return await asyncio.wait_for(
                wait_settled(worker, store, [j.id for j in jobs], timeout=10), 3)
        finally:
            await delivery.stop()

    try:
        [job] = asyncio.run(run())
        delivered = (tmp_path / "out/2026/11"
                     / "Voicemail-33698765432-33170000102-2026-11-23 08-27-57.wav")
        assert job.state == "delivered" and job.remote_name == str(delivered)
        assert delivered.read_bytes() == b"RIFF" + bytes(1000)
        assert not recording.exists()  # handed on: the spool copy goes once delivered
        assert delivery_log(store, [job]) == [
            f"#{job.id} delivered recordings-local attempts=1 {recording} -> {delivered}"]
    finally:
        store.close()


def test_wait_settled_returns_the_jobs_as_they_stand_at_the_timeout(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    store = open_store(cfg.system.store)
    try:
        job = store.enqueue(NewJob(str(tmp_path / "x.wav"), "recordings-local", FACTS.to_json(),
                                   "x.wav", not_before=4e9), 0.0)  # due far in the future

        async def run() -> list:
            return await wait_settled(NotifyingWorker(cfg, store), store, [job.id], 0.05)

        [still] = asyncio.run(run())
        assert still.state == "queued"
    finally:
        store.close()


def test_the_run_jobs_include_fallbacks_of_their_jobs_only(tmp_path: Path) -> None:
    store = open_store(f"sqlite://{tmp_path}/s.db")
    try:
        facts = FACTS.to_json()
        first = store.enqueue(NewJob("/a.wav", "m", facts, "a"), 0.0)
        other = store.enqueue(NewJob("/b.wav", "m", facts, "b"), 0.0)
        fallback = store.enqueue(NewJob("/a.wav", "n", facts, "a", fallback_of=first.id), 0.0)
        store.enqueue(NewJob("/b.wav", "n", facts, "b", fallback_of=other.id), 0.0)
        assert [j.id for j in run_jobs(store, {first.id})] == [first.id, fallback.id]
    finally:
        store.close()
