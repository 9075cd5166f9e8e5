"""The bridge's parts for the demo, in the demo's process, on the demo's config:

- the files `pbx-bridge dialplan` generates (same functions), for the lab Asterisk;
- the FastAGI call router (`CallRouter`, as `pbx-bridge run` starts it) on a free port, with
  its clock injectable and its `finished` round observed, so the demo learns each call's files;
- the delivery worker (`DeliveryComponent`, as `run` starts it) saying when an attempt ends;
- the router's own log events (`call_step`, `call_refused`) kept per call for the report.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import wave
from collections import defaultdict
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from pbx_bridge.config.model import Config
from pbx_bridge.lab.demo_delivery import NotifyingWorker
from pbx_bridge.lab.recordings import WavStats, wav_stats
from pbx_bridge.lab.runner import AsteriskLab
from pbx_bridge.lab.sipp import SipAccount
from pbx_bridge.logs import redact_secrets
from pbx_bridge.pbx.asterisk.ami_calls import ROUTER_PREFIXES, AmiCallFeed
from pbx_bridge.pbx.asterisk.call_routing import CallRouter, RecordingsDir
from pbx_bridge.pbx.asterisk.dialplan import names, render, sip_passwords
from pbx_bridge.pbx.asterisk.dialplan.sounds import prepare
from pbx_bridge.pbx.asterisk.fastagi import AgiServer, AgiSession
from pbx_bridge.pbx.asterisk.manager import AmiManager
from pbx_bridge.service import DeliveryComponent
from pbx_bridge.store import Job, Store

KEPT_EVENTS = ("call_step", "call_refused")


class StepLog:
    """A structlog processor: keeps the router's decisions per uniqueid; shows warnings and
    errors (secrets redacted) on stderr and drops the rest, so the demo's story stays clean."""

    def __init__(self) -> None:
        self.steps: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def __call__(self, _logger: Any, method: str, event: MutableMapping[str, Any]
                 ) -> MutableMapping[str, Any]:
        if event.get("event") in KEPT_EVENTS and event.get("uniqueid"):
            self.steps[str(event["uniqueid"])].append(dict(event))
        if method in ("debug", "info"):
            raise structlog.DropEvent
        return event

    def configure(self) -> None:
        structlog.configure(
            processors=[self, structlog.processors.add_log_level, redact_secrets,
                        structlog.dev.ConsoleRenderer(colors=False)],
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
            logger_factory=structlog.PrintLoggerFactory(sys.stderr),
            cache_logger_on_first_use=False,
        )


def trunk_endpoint(config: Config) -> str:
    return config.trunks[0].endpoint if config.trunks else "carrier"


def write_dialplan(config: Config, lab: AsteriskLab, agi: str) -> tuple[list[str], list[str]]:
    """Generate the config's Asterisk files into the lab's include folder, as `pbx-bridge
    dialplan --agi AGI --sounds-dir <the folder as Asterisk sees it>` does. Returns (file
    names, problems); nothing is written when there are problems."""
    passwords, problems = sip_passwords(config)
    sounds = lab.include_dir / "sounds"
    problems += prepare(config, sounds)
    if problems:
        return [], problems
    files = render(config, passwords, lab.path_in_root(sounds), agi=agi)
    lab.include_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (lab.include_dir / name).write_text(text)
    return sorted(files), []


def phone_accounts(config: Config) -> dict[str, SipAccount]:
    """endpoint -> the credentials a phone registers with (the config's, resolved)."""
    passwords, _ = sip_passwords(config)
    return {names.endpoint(cm): SipAccount(names.endpoint(cm), passwords[cm.name])
            for cm in config.contact_methods
            if cm.kind in ("sip_account", "app_configuration") and cm.name in passwords}


@dataclass
class FileReport:
    kind: str  # "voicemail" or "call" (a call recorder's recording)
    path: Path
    jobs: list[Job]
    stats: WavStats | None = None
    error: str = ""


@dataclass
class DemoBridge:
    config: Config
    store: Store
    lab: AsteriskLab
    now: datetime
    files: dict[str, list[FileReport]] = field(default_factory=dict)
    _finished: dict[str, asyncio.Event] = field(default_factory=dict)

    def __post_init__(self) -> None:
        recordings = RecordingsDir(self.lab.layout.recordings, self.lab.recordings_dir)
        self.router = CallRouter(self.config, self.store, clock=lambda: self.now,
                                 recordings=recordings)
        routes = {**self.router.routes, "finished": self._observe_finished}
        self.agi = AgiServer(routes, "127.0.0.1", 0)
        self.delivery = DeliveryComponent(self.config, self.store)
        self.worker = NotifyingWorker(self.config, self.store)
        self.delivery.worker = self.worker
        # The AMI side, as in `run`: recordings by the contact methods' own flags are the
        # feed's to hand on (the router only starts them).
        self.feed = AmiCallFeed(self.lab.with_recordings_here(self.config),
                                self.store, path_map=self.lab.host_path)
        self.manager: AmiManager | None = None

    async def follow_calls(self) -> None:
        """Once Asterisk is up: log in to its AMI as the bridge would, and reconcile."""
        self.manager = AmiManager("127.0.0.1", self.lab.ami_port, self.lab.ami_user,
                                  self.lab.ami_secret, on_event=self.feed.on_event,
                                  wants=self.feed.ami.wants, on_ready=self.feed.on_ready)
        await self.manager.start(timeout=10)

    async def stop_following(self) -> None:
        if self.manager is not None:
            await self.manager.close()
            self.manager = None

    async def calls_settled(self, timeout: float) -> list[int]:
        """Wait until the feed has seen every call end; the ids of the jobs it queued."""
        async def settled() -> None:
            while self.feed.tracker.calls:
                await asyncio.sleep(0.05)  # the feed has no event of its own for "idle"

        await asyncio.wait_for(settled(), timeout)
        return [job.id for request in self.feed.requests
                for job in self.store.jobs(file=str(self.lab.host_path(request.file)))]

    async def start(self) -> None:
        await self.agi.start()
        try:
            await self.delivery.start()
        except BaseException:
            await self.agi.close()
            raise

    async def stop(self) -> None:
        try:
            await self.agi.close()
            await self.stop_following()
        finally:
            await self.delivery.stop()  # drains: attempts in hand finish

    async def _observe_finished(self, session: AgiSession) -> None:
        await self.router.finished(session)
        uniqueid = session.env.get("agi_uniqueid", "")
        prefixes = "|".join(p.rstrip("-") for p in ROUTER_PREFIXES)  # the router's files
        ours = re.compile(rf"^({prefixes})-{re.escape(uniqueid)}[.-]")
        reports: list[FileReport] = []
        for job in self.store.jobs():
            if not uniqueid or not ours.match(Path(job.file).name):
                continue
            if reports and reports[-1].path == Path(job.file):
                reports[-1].jobs.append(job)
                continue
            kind = Path(job.file).name.split("-", 1)[0]
            report = FileReport(kind, Path(job.file), [job])
            try:  # before the worker takes the file (it is removed once delivered)
                report.stats = wav_stats(report.path)
            except (OSError, ValueError, EOFError, wave.Error) as exc:
                report.error = str(exc)
            reports.append(report)
        self.files[uniqueid] = reports
        self._finished.setdefault(uniqueid, asyncio.Event()).set()
        self.worker.wake()

    async def wait_finished(self, uniqueid: str, timeout: float) -> list[FileReport]:
        """The files the `finished` round of call `uniqueid` handed to delivery."""
        event = self._finished.setdefault(uniqueid, asyncio.Event())
        await asyncio.wait_for(event.wait(), timeout)
        return self.files.get(uniqueid, [])
