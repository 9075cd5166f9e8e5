"""Handing finished files to the delivery queue, and deciding when a local file may go.

The remote name is rendered once, here, and stored with the job: every retry then writes the
same name (an overwrite, never a second copy), even if the config changes meanwhile.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from pathlib import Path

import structlog

from pbx_bridge.config.delivery_model import DeliveryMethod
from pbx_bridge.config.model import Config
from pbx_bridge.delivery import naming
from pbx_bridge.delivery.naming import CallFacts
from pbx_bridge.store import Job, NewJob, Store

log = structlog.get_logger()


class UnknownMethod(KeyError):
    pass


def remote_name(method: DeliveryMethod, config: Config, facts: CallFacts, source: Path) -> str:
    tz = config.system.timezone
    name = naming.file_name(method.file_name, facts, tz, source_suffix=source.suffix)
    if method.type == "email":
        return name  # the attachment's name
    pattern = next((str(getattr(method, key)) for key in ("directory", "prefix", "folder")
                    if hasattr(method, key)), "")
    folder = naming.folder(pattern, facts, tz)
    if method.type == "local" and not folder.startswith("/"):
        folder = str(config.path.parent / folder)
    return naming.join(folder, name)


def submit(store: Store, config: Config, file: Path, methods: Iterable[str], facts: CallFacts,
           *, remove_file: bool = True, now: float | None = None) -> list[Job]:
    """Queue `file` for each named delivery method (idempotent per file and method)."""
    now = time.time() if now is None else now
    path = file.resolve()
    jobs = []
    for name in methods:
        method = config.delivery_method(name)
        if method is None:
            raise UnknownMethod(f"no delivery method named {name!r} in {config.path}")
        job = store.enqueue(NewJob(str(path), name, facts.to_json(),
                                   remote_name(method, config, facts, path), remove_file), now)
        log.info("delivery_queued", job=job.id, file=str(path), method=name,
                 remote_name=job.remote_name)
        jobs.append(job)
    return jobs


def settled(job: Job, store: Store) -> bool:
    """Done with, as far as the local file goes: delivered, given up by an operator, or given
    up by the worker but delivered by a fallback."""
    if job.state in ("delivered", "abandoned"):
        return True
    if job.state != "gave_up":
        return False
    followers = [j for j in store.jobs(file=job.file) if j.fallback_of == job.id]
    return any(settled(f, store) for f in followers)


def release_file_if_done(store: Store, file: str) -> bool:
    """Remove the local file once every method has it (or an operator gave it up)."""
    jobs = store.jobs(file=file)
    if not jobs or not all(j.remove_file for j in jobs):
        return False
    if not all(settled(j, store) for j in jobs):
        return False
    with contextlib.suppress(FileNotFoundError):
        Path(file).unlink()
        log.info("delivery_local_file_removed", file=file,
                 delivered_by=sorted({j.method for j in jobs if j.state == "delivered"}))
    return True
