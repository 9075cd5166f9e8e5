"""Durable state: the delivery queue and log (later OAuth tokens). One interface, `Store`;
SQLite by default, PostgreSQL when several bridges share the work."""

from __future__ import annotations

import sqlite3

from pbx_bridge.store.base import (
    JOB_STATES,
    OPEN_STATES,
    Attempt,
    Job,
    JobState,
    NewJob,
    Outcome,
    Store,
    StoredRecording,
)

__all__ = ["JOB_STATES", "OPEN_STATES", "Attempt", "Job", "JobState", "NewJob", "Outcome",
           "Store", "StoreUnavailable", "StoredRecording", "open_store"]


class StoreUnavailable(Exception):
    """The configured store URL can't be opened (unsupported scheme, unwritable path)."""


def open_store(url: str) -> Store:
    """`sqlite:///abs/path.db` (or `sqlite:///:memory:` in tests)."""
    if url.startswith("sqlite://"):
        from pbx_bridge.store.sqlite import SqliteStore

        path = url[len("sqlite://"):]
        if not path.startswith("/"):
            raise StoreUnavailable(f"{url!r}: give an absolute path, sqlite:///var/lib/x.db")
        if path == "/:memory:":
            path = ":memory:"
        try:
            return SqliteStore(path)
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"{url}: {exc}") from None
    if url.startswith("postgresql://"):
        raise StoreUnavailable("the PostgreSQL store is not built yet; use sqlite:///PATH")
    raise StoreUnavailable(f"{url!r}: use sqlite:///PATH")
