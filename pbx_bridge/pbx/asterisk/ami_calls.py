"""The Asterisk recording side, wired: AMI events -> call state -> delivery jobs.

`AmiCallFeed` owns one `AmiEvents` translator and one `CallTracker`. Give its `manager()` to
the service: every wanted event is translated and applied; every finished recording becomes
delivery jobs through `delivery.queue.submit` (one job per file and method, so a recording
finished again after a reconnect is not delivered twice); after every login it reconciles
(`reconcile.py`) and scans the recordings folder for files nobody claimed.

Files the AGI call router queues itself (`call-*`, `voicemail-*`, `notification-*`,
`ondemand-*`: call recorder modules, messages, recordings on demand for the presser's delivery
methods; `call_routing.finished` or `ondemand`, run from the hangup handler) are left to
it (`owned_elsewhere`), so one file never gets two sets of call facts; if that round never ran
(the bridge was down at hangup), the spool scan reports the file.

Policy recordings (`rec-*`, see `call_recording.py`) are this feed's: their facts and delivery
methods were stored by the router when they started, so they are delivered with those, and
`store.finish_recording` is the gate that lets exactly one of the ways a file can be found
finished hand it on: the dialplan's "closed" report, the leg's hangup, the reconciliation
after a reconnect (the legs are gone), or the spool scan (the call is not live, e.g. after an
Asterisk restart or an outage spanning the whole recording). A file with no audio is removed.

`path_map` turns a path as Asterisk wrote it into the path the bridge reads (identity, or the
chroot's root in the lab). File names come from the dialplan, made of Asterisk's ids only;
caller-supplied text never reaches a path or an AMI command here, it is only carried as call
facts (and cleaned by `delivery.naming` where it becomes a name).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import structlog

from pbx_bridge.calls.events import CallEnded, CallStarted, Outcome, Party, RecordingFinished
from pbx_bridge.calls.finished import (
    DeliveryRequest,
    Directory,
    delivery_request,
    unclaimed_recordings,
)
from pbx_bridge.calls.state import CallTracker
from pbx_bridge.config.model import Config
from pbx_bridge.delivery.naming import CallFacts
from pbx_bridge.delivery.queue import submit
from pbx_bridge.pbx.asterisk.ami_protocol import AmiMessage
from pbx_bridge.pbx.asterisk.events import AmiEvents
from pbx_bridge.pbx.asterisk.manager import (
    AmiLoginError,
    AmiManager,
    AmiUnavailable,
    ManagerSettings,
)
from pbx_bridge.pbx.asterisk.reconcile import reconcile
from pbx_bridge.store import Store, StoredRecording

log = structlog.get_logger()
KEEP_FINISHED_RECORDINGS = 30 * 86400.0  # seconds a handed-on recording's row is kept
ROUTER_PREFIXES = ("call-", "voicemail-", "notification-", "ondemand-")
EMPTY_WAV_BYTES = 44  # a header and no audio


def router_owned(file: str) -> bool:
    """Files named by `call_actions.recording_file`, queued by the AGI call router."""
    return file.rsplit("/", 1)[-1].startswith(ROUTER_PREFIXES)


class AmiCallFeed:
    def __init__(self, config: Config, store: Store, *,
                 path_map: Callable[[str], Path] = Path,
                 now: Callable[[], float] = time.time, spool_min_age: float = 60.0,
                 owned_elsewhere: Callable[[str], bool] = router_owned) -> None:
        self.config, self.store = config, store
        self.owned_elsewhere = owned_elsewhere
        self.path_map, self.now, self.spool_min_age = path_map, now, spool_min_age
        self.ami = AmiEvents()
        self.tracker = CallTracker()
        self.directory = Directory(config)
        self.requests: list[DeliveryRequest] = []  # every request made (for tests and status)
        self.orphans: list[str] = []  # files found by the spool scan, kept for an operator

    def manager(self, settings: ManagerSettings | None = None) -> AmiManager:
        pbx = self.config.system.pbx
        ami = pbx.ami if pbx else None
        if ami is None:
            raise ValueError("system.pbx.ami is not configured")
        secret = ami.secret.resolve() if ami.secret else ""
        return AmiManager(ami.host, ami.port, ami.username, secret, on_event=self.on_event,
                          wants=self.ami.wants, on_ready=self.on_ready, settings=settings)

    # -- events in --------------------------------------------------------------------------
    def on_event(self, message: AmiMessage) -> None:
        for event in self.ami.translate(message):
            outcomes = self.tracker.apply(event)
            if outcomes:
                self.handle(outcomes)

    async def on_ready(self, manager: AmiManager) -> None:
        asked = self.now()  # recordings stored before this had their legs in the answer
        await reconcile(manager, self.tracker, self.ami, self.handle, self.now)
        self.scan_spool(stored_before=asked)
        # Handed-on rows only gate a late second finish; weeks later that can't come.
        pruned = self.store.prune_recordings(asked - KEEP_FINISHED_RECORDINGS)
        if pruned:
            log.info("recordings_pruned", rows=pruned)

    # -- outcomes out -----------------------------------------------------------------------
    def handle(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            if isinstance(outcome, RecordingFinished):
                self.finished(outcome)
            elif isinstance(outcome, CallStarted):
                log.info("call_started", call=outcome.call)
            elif isinstance(outcome, CallEnded):
                log.info("call_ended", call=outcome.call)

    def finished(self, done: RecordingFinished) -> None:
        if self.owned_elsewhere(done.file):
            log.info("recording_left_to_router", call=done.call, file=done.file)
            return
        stored = self.store.recording(done.file)
        if stored is not None:
            self.finish_stored(stored, done.signal, done.call, answered=done.answered,
                               answerer=done.callee)
            return
        request = delivery_request(self.config, done, directory=self.directory)
        self.requests.append(request)
        path = self.path_map(done.file)
        if not request.methods:
            log.warning("recording_kept", call=done.call, file=str(path), signal=done.signal,
                        reasons=list(request.reasons))
            return
        jobs = submit(self.store, self.config, path, request.methods, request.facts)
        log.info("recording_finished", call=done.call, file=str(path), signal=done.signal,
                 methods=list(request.methods), jobs=[job.id for job in jobs],
                 reasons=list(request.reasons))

    def finish_stored(self, stored: StoredRecording, signal: str, call: str = "", *,
                      answered: bool = True, answerer: Party | None = None) -> bool:
        """Hand a policy recording to delivery with its stored facts, once. False when it was
        handed on already, had no audio, or nobody answered the call (a caller who only met
        a voicemail: that message is delivered as a voicemail); the file is then removed.
        A ring group's or queue's recording adds the methods of the member who answered
        (`answerer`, when the call state knows it); if nobody who took part asked for it, it
        is removed (known answerer) or kept for an operator (unknown)."""
        path = self.path_map(stored.file)
        done = self.store.finish_recording(stored.file, self.now())
        if done is None:
            log.info("recording_already_handed_on", call=call or stored.call, file=str(path),
                     signal=signal)
            return False
        size = path.stat().st_size if path.is_file() else 0
        if size <= EMPTY_WAV_BYTES or not answered:
            log.info("recording_empty" if answered else "recording_unanswered", call=done.call,
                     file=str(path), bytes=size, signal=signal)
            path.unlink(missing_ok=True)
            return False
        methods, reasons, dst_name = done.methods, done.reasons, done.facts.get("dst_name", "")
        pending = done.facts.get("if_answered_by") or {}
        member = self.directory.lookup(answerer) if pending and answerer is not None else None
        if member is not None:
            dst_name = member.name
            asked = tuple(pending.get(member.name, ()))
            methods = tuple(dict.fromkeys((*methods, *asked)))
            reasons = (*reasons, f"{member.name} answered" + (" and records it" if asked
                                                               else ", does not ask"))
        if not methods:
            known = member is not None or not pending
            log.info("recording_not_asked" if known else "recording_kept", call=done.call,
                     file=str(path), signal=signal, reasons=list(reasons))
            if known:
                path.unlink(missing_ok=True)
            return False
        facts = CallFacts.from_json(done.facts)
        self.requests.append(DeliveryRequest(done.call, done.file, methods, facts,
                                             str(dst_name), reasons))
        jobs = submit(self.store, self.config, path, methods, facts)
        log.info("recording_finished", call=done.call, file=str(path), signal=signal,
                 methods=list(methods), jobs=[job.id for job in jobs],
                 reasons=list(reasons), stored=True)
        return True

    def scan_spool(self, stored_before: float | None = None) -> list[str]:
        """Policy recordings whose call is no longer live are handed on with their stored
        facts (`stored_before`: only those stored before Asterisk was asked for its channels).
        Other recordings in the folder that no live call writes and no job names are logged
        and kept (their call is unknown, so nobody's delivery methods apply)."""
        pbx = self.config.system.pbx
        if pbx is None:
            return []
        before = self.now() if stored_before is None else stored_before
        for stored in self.store.open_recordings():
            if stored.call not in self.tracker.calls and stored.created <= before:
                self.finish_stored(stored, "spool")
        folder = self.path_map(pbx.recordings_dir)
        try:
            listing = [(str(p.resolve()), p.stat().st_mtime) for p in folder.iterdir()
                       if p.is_file()]
        except OSError as exc:
            log.warning("recordings_dir_unreadable", folder=str(folder), error=str(exc))
            return []
        active = {str(self.path_map(file).resolve()) for call in self.tracker.calls.values()
                  for file in call.recordings}
        claimed = {path for path, _ in listing if self.store.jobs(file=path)}
        claimed |= {str(self.path_map(stored.file).resolve())
                    for stored in self.store.open_recordings()}
        found = unclaimed_recordings(listing, active, claimed, self.now(), self.spool_min_age)
        for path in found:
            if path not in self.orphans:
                self.orphans.append(path)
                log.warning("recording_unclaimed", file=path,
                            hint="no call known for it; hand it on with `pbx-bridge deliver`")
        return found


class EventsComponent:
    """The AMI side of `run` (a service Component): follows calls, hands recordings on.

    A refused login stops the start (the operator must fix the secret; retrying would only get
    the bridge banned by fail2ban). Asterisk not answering yet is no reason to stop: the manager
    keeps trying in the background, with back-off, and reconciles once it is in."""

    name = "events"
    READY_WAIT = 5.0

    def __init__(self, config: Config, store: Store) -> None:
        self.feed = AmiCallFeed(config, store)
        self.manager = self.feed.manager()

    async def start(self) -> None:
        try:
            await self.manager.start(timeout=self.READY_WAIT)
        except AmiLoginError as exc:
            await self.manager.close()
            raise OSError(f"AMI login refused: {exc}") from None
        except (AmiUnavailable, TimeoutError):
            log.warning("ami_not_ready_yet", retrying=True)

    async def stop(self) -> None:
        await self.manager.close()
