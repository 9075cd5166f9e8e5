"""The demo's last act: the recordings it made go through the delivery queue of the operator's
config, exactly as the bridge hands them on, and the delivery log is shown."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pbx_bridge.commands_delivery import log_lines, log_rows
from pbx_bridge.config.load import load_config
from pbx_bridge.delivery.naming import CallFacts
from pbx_bridge.delivery.queue import submit
from pbx_bridge.delivery.worker import DeliveryWorker
from pbx_bridge.store import StoreUnavailable, open_store


class DemoDeliveryError(Exception):
    pass


def deliver_recordings(config_path: Path, method: str,
                       recordings: list[tuple[Path, CallFacts]]) -> list[str]:
    """Queue each recording for `method`, work the queue until idle, return the log lines."""
    loaded = load_config(config_path)
    if loaded.config is None or loaded.errors:
        first = loaded.errors[0] if loaded.errors else "unreadable"
        raise DemoDeliveryError(f"{config_path} does not pass check: {first}")
    config = loaded.config
    if config.delivery_method(method) is None:
        raise DemoDeliveryError(f"{config_path} has no delivery method named {method!r}")
    try:
        store = open_store(config.system.store)
    except StoreUnavailable as exc:
        raise DemoDeliveryError(f"system.store: {exc}") from None
    try:
        jobs = [job for path, facts in recordings
                for job in submit(store, config, path, [method], facts)]
        asyncio.run(DeliveryWorker(config, store).run(asyncio.Event(), until_idle=True))
        ids = {job.id for job in jobs}
        return log_lines(log_rows(store, [j for j in store.jobs() if j.id in ids]))
    finally:
        store.close()
