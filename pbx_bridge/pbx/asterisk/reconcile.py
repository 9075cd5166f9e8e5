"""After every AMI login: rebuild the calls in progress from Asterisk's own view.

Events sent while the bridge was disconnected are gone, so after each (re)connect:
1. `CoreShowChannels` lists every live channel (Uniqueid, Linkedid, caller ID, state): legs we
   knew that are gone ended while we were away (their recordings are finished with signal
   "reconciled", so they are handed on, not lost); live legs we did not know are added;
2. `Status` with `Variables: MIXMONITOR_FILENAME` names the file each live channel records to,
   so a recording started during the outage is tracked and finished like any other (a file the
   tracker already finished is ignored: never delivered twice).
Recordings that both started and ended during the outage appear in neither list: the spool
scan (`calls.finished.unclaimed_recordings`) finds those files.

Checked against a real Asterisk 22 (tests/pbx/asterisk/test_manager_asterisk.py): `Status`
answers `Variable: MIXMONITOR_FILENAME=<file>`, and `=(null)` on a channel without it
(`ChanVariable` is read too, for other versions).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from pbx_bridge.calls.events import LegStarted, Outcome, RecordingStarted
from pbx_bridge.calls.state import CallTracker
from pbx_bridge.pbx.asterisk.ami_protocol import AmiMessage
from pbx_bridge.pbx.asterisk.events import AmiEvents, up_legs
from pbx_bridge.pbx.asterisk.manager import AmiManager

log = structlog.get_logger()
UNSET = "(null)"  # what Asterisk prints for a variable the channel does not have


def recording_files(statuses: list[AmiMessage]) -> dict[str, tuple[str, str]]:
    """Leg id -> (call id, file) for every `Status` entry with a MixMonitor file name."""
    out: dict[str, tuple[str, str]] = {}
    for message in statuses:
        leg = message.get("Uniqueid") or ""
        variables = {**message.variables("ChanVariable"), **message.variables("Variable")}
        file = variables.get("MIXMONITOR_FILENAME", "")
        if leg and file and file != UNSET:
            out[leg] = (message.get("Linkedid") or leg, file)
    return out


def rebuild(tracker: CallTracker, ami: AmiEvents, channels: list[AmiMessage],
            statuses: list[AmiMessage], at: float,
            known_before: set[str] | None = None) -> list[Outcome]:
    """Pure part of the reconciliation: what `CoreShowChannels` and `Status` returned, applied
    to the tracker. Returns the outcomes (recordings finished, calls ended or started).
    `known_before`: `tracker.live_legs()` taken before asking (see `CallTracker.reconcile`)."""
    live = [event for message in channels for event in ami.translate(message)
            if isinstance(event, LegStarted)]
    outcomes = tracker.reconcile(live, up_legs(channels), at, known_before)
    for leg, (call, file) in recording_files(statuses).items():
        outcomes += tracker.apply(RecordingStarted(call, leg, at, file,
                                                   ami.on_demand(file)))
    return outcomes


async def reconcile(manager: AmiManager, tracker: CallTracker, ami: AmiEvents,
                    handle: Callable[[list[Outcome]], None],
                    now: Callable[[], float] = time.time) -> None:
    """The `on_ready` hook: ask, rebuild, hand the outcomes to `handle`."""
    # Events keep flowing while we ask: only legs known before asking may be declared gone.
    before = tracker.live_legs()
    channels = await manager.action_list("CoreShowChannels")
    statuses = await manager.action_list("Status", {"Variables": "MIXMONITOR_FILENAME"})
    outcomes = rebuild(tracker, ami, channels, statuses, now(), before)
    log.info("ami_reconciled", channels=len(channels), calls=len(tracker.calls),
             outcomes=len(outcomes))
    handle(outcomes)
