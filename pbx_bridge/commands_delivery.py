"""`deliveries`, `deliver`, `deliver-test`: the delivery log, one file by hand, a check."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pbx_bridge.commands_config import load_or_report
from pbx_bridge.config.model import Config
from pbx_bridge.logs import configure_logging
from pbx_bridge.store import JOB_STATES, Job, Store, StoreUnavailable, open_store


def _open(args: argparse.Namespace) -> tuple[Config, Store] | int:
    loaded = load_or_report(args.config)
    if isinstance(loaded, int):
        return loaded
    # Command output goes to stdout; the worker's events (warnings and up) to stderr.
    configure_logging(getattr(args, "log_level", "warning"), stream=sys.stderr)
    try:
        return loaded.config, open_store(loaded.config.system.store)
    except StoreUnavailable as exc:
        print(f"error: system.store: {exc}", file=sys.stderr)
        return 1


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _row(store: Store, job: Job) -> dict[str, Any]:
    return {
        "id": job.id, "file": job.file, "method": job.method, "status": job.state,
        "attempts": job.attempts, "last_error": job.last_error,
        "remote_name": job.remote_name, "created": _when(job.created),
        "next_attempt": _when(job.next_at) if job.state in ("queued", "retrying") else None,
        "fallback_of": job.fallback_of,
        "log": [{"time": _when(a.finished), "outcome": a.outcome, "error": a.error,
                 "remote_name": a.remote_name, "size": a.size, "content_hash": a.content_hash,
                 "remote_hash": a.remote_hash} for a in store.attempts(job.id)],
    }


def log_rows(store: Store, jobs: list[Job]) -> list[dict[str, Any]]:
    return [_row(store, j) for j in jobs]


def log_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The delivery log for people: one line a job, its last error and next attempt below."""
    lines = []
    for r in rows:
        lines.append(f"#{r['id']} {r['status']:<9} {r['method']} attempts={r['attempts']} "
                     f"{r['file']} -> {r['remote_name']}")
        if r["last_error"]:
            lines.append(f"    last error: {r['last_error']}")
        if r["next_attempt"]:
            lines.append(f"    next attempt: {r['next_attempt']}")
    return lines


def cmd_deliveries(args: argparse.Namespace) -> int:
    opened = _open(args)
    if isinstance(opened, int):
        return opened
    config, store = opened
    try:
        for job_id, state in [(i, "queued") for i in args.retry] + \
                             [(i, "abandoned") for i in args.abandon]:
            try:
                job = store.set_state(job_id, state, time.time(),  # type: ignore[arg-type]
                                      reason="abandoned by an operator" if state == "abandoned"
                                      else "")
            except KeyError:
                print(f"error: no delivery job {job_id}", file=sys.stderr)
                return 1
            if state == "abandoned":
                from pbx_bridge.delivery.queue import release_file_if_done
                release_file_if_done(store, job.file)
            print(f"job {job_id}: {job.state}")
        if args.work:
            from pbx_bridge.delivery.worker import DeliveryWorker
            asyncio.run(DeliveryWorker(config, store).run(asyncio.Event(), until_idle=True))
        jobs = store.jobs(states=[args.status] if args.status else None)
        rows = [_row(store, j) for j in jobs]
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        if not rows:
            print("no deliveries" + (f" with status {args.status}" if args.status else ""))
        for line in log_lines(rows):
            print(line)
        return 0
    finally:
        store.close()


def _call_time(text: str | None, tz: str) -> datetime:
    if not text:
        return datetime.now(UTC)
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=ZoneInfo(tz))


def cmd_deliver(args: argparse.Namespace) -> int:
    from pbx_bridge.delivery.naming import CallFacts
    from pbx_bridge.delivery.queue import submit
    from pbx_bridge.delivery.worker import DeliveryWorker

    opened = _open(args)
    if isinstance(opened, int):
        return opened
    config, store = opened
    try:
        file = Path(args.file)
        if not file.is_file():
            print(f"error: {file}: no such file", file=sys.stderr)
            return 1
        if config.delivery_method(args.method) is None:
            print(f"error: no delivery method named {args.method!r}", file=sys.stderr)
            return 1
        try:
            when = _call_time(args.call_time, config.system.timezone)
        except ValueError:
            print(f"error: --call-time {args.call_time!r} is not ISO-8601", file=sys.stderr)
            return 1
        facts = CallFacts(args.service, args.src_number, args.src_name, args.dst_number, when)
        job = submit(store, config, file, [args.method], facts, remove_file=args.remove)[0]
        results = asyncio.run(DeliveryWorker(config, store).deliver_now(job.id))
        if not results:
            print(f"not delivered: job {job.id} is being delivered by another worker")
            return 1
        for done in results:
            attempts = store.attempts(done.id)
            last = attempts[-1] if attempts else None
            if done.state == "delivered" and last:
                print(f"delivered: {done.file} via {done.method} as {last.remote_name} "
                      f"({last.size} bytes{', ' + last.remote_hash if last.remote_hash else ''}"
                      f"; job {done.id}, attempt {done.attempts})")
            elif done.state == "gave_up":
                print(f"not delivered via {done.method}: {done.last_error} (job {done.id} gave "
                      "up" + (", trying the fallback)" if done is not results[-1] else ")"))
            else:
                print(f"not delivered via {done.method}: {done.last_error}; job {done.id} stays "
                      f"queued, next attempt {_when(done.next_at)}")
        return 0 if results[-1].state == "delivered" else 1
    finally:
        store.close()


def cmd_deliver_test(args: argparse.Namespace) -> int:
    from pbx_bridge.delivery.backends import DeliveryError, LocalFile, backend_for
    from pbx_bridge.delivery.naming import CallFacts
    from pbx_bridge.delivery.queue import remote_name

    loaded = load_or_report(args.config)
    if isinstance(loaded, int):
        return loaded
    configure_logging("warning", stream=sys.stderr)
    config = loaded.config
    method = config.delivery_method(args.method)
    if method is None:
        print(f"error: no delivery method named {args.method!r}", file=sys.stderr)
        return 1
    facts = CallFacts("Test", "0000", "pbx-bridge", "0000", datetime.now(UTC))
    with tempfile.TemporaryDirectory(prefix="pbx-bridge-test-") as tmp:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = Path(tmp) / f"pbx-bridge-test-{stamp}.txt"
        path.write_text(f"pbx-bridge delivery test of {method.name} at {stamp}\n")
        local = LocalFile.read(path)
        target = remote_name(method, config, facts, path)
        # The test file keeps its own name: an operator recognises it, and it can't overwrite
        # a real recording whatever the method's pattern says.
        target = target.rpartition("/")[0] + "/" + path.name if "/" in target else path.name
        try:
            what = backend_for(method, config).test(local, target)
        except DeliveryError as exc:
            print(f"{method.name}: failed: {exc}")
            return 1
    print(f"{method.name}: ok: {what}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    log = sub.add_parser("deliveries", help="the delivery log: each file, method, attempts, "
                                            "status, last error, remote name")
    log.add_argument("config")
    log.add_argument("--status", choices=JOB_STATES)
    log.add_argument("--json", action="store_true")
    log.add_argument("--retry", type=int, action="append", default=[], metavar="JOB",
                     help="queue this job again now (after gave_up or abandoned too)")
    log.add_argument("--abandon", type=int, action="append", default=[], metavar="JOB",
                     help="give this job up; the local file goes once nothing else needs it")
    log.add_argument("--work", action="store_true",
                     help="run the delivery worker until nothing is due, then list")
    log.set_defaults(func=cmd_deliveries)

    one = sub.add_parser("deliver", help="hand one existing file to one delivery method")
    one.add_argument("config")
    one.add_argument("file")
    one.add_argument("--method", required=True)
    one.add_argument("--service", default="Recording", help="%%{service_name}")
    one.add_argument("--src-number", default="")
    one.add_argument("--src-name", default="")
    one.add_argument("--dst-number", default="")
    one.add_argument("--call-time", help="ISO-8601; without an offset, in system.timezone")
    one.add_argument("--remove", action="store_true",
                     help="remove FILE once every method has it (as for a call's recording)")
    one.set_defaults(func=cmd_deliver)

    test = sub.add_parser("deliver-test", help="write a small test file through a method and "
                                               "read it back (or stat it)")
    test.add_argument("config")
    test.add_argument("method")
    test.set_defaults(func=cmd_deliver_test)
