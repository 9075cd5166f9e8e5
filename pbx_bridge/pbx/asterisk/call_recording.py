"""Policy recordings on Asterisk: the start, decided by the AGI router when a call is about to
ring; the end, owned by the AMI side. Who owns which file (one owner per file, so one set of
jobs per file):

- `rec-<uniqueid>.wav`: a recording the contact methods' flags asked for (the precedence rule
  of `calls.recording_policy`). The router decides at the dial (or queue) step, stores the
  call's facts and the delivery methods in the store's `recordings` table (keyed by the file
  as Asterisk names it), and sets PBXB_REC; the dialplan starts MixMonitor on the caller's leg
  (the leg that stays through blind and attended transfers) unless that channel already
  records (PBXB_POLICYREC: a blind transfer re-runs the dialplan on the same channel). With a
  ring group or a queue, who answers is not known yet: the recording starts when the calling
  side or any member would ask, the members' methods are kept as `if_answered_by`, and the
  AMI feed applies the one who answered (a file nobody who took part asked for is removed).
  The **AMI feed**
  (`ami_calls.py`) owns the file from then on: it finishes it when the dialplan reports it
  closed (`UserEvent PbxBridgeRecordingClosed` after StopMixMonitor in the hangup handler), or
  when its leg hangs up, or when a reconciliation or spool scan after an AMI outage or an
  Asterisk restart finds it; `store.finish_recording` lets exactly one of those hand it on.
- `call-*`, `voicemail-*`, `notification-*`: call recorder modules and messages, queued by the
  router itself (`CallRouter.finished`); the AMI feed leaves them alone.

Once per call: the file name comes from the recorded channel's uniqueid (so the re-run after a
blind transfer names the same file), and a call (Linkedid) that already has an open policy
recording on another leg gets no second one: the new side's delivery methods are added to the
running one instead (rule 7). File names are made of Asterisk ids only; caller text is kept as
facts (data), never put into a path, a dialplan argument or an AMI command.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

import structlog

from pbx_bridge.calls.recording_policy import decide_before_answer, if_answered_by
from pbx_bridge.config.model import ContactMethod
from pbx_bridge.delivery.naming import CallFacts
from pbx_bridge.pbx.asterisk import call_actions as actions
from pbx_bridge.store import Store, StoredRecording

log = structlog.get_logger()
SERVICE_NAME = "Call recording"  # calls.finished.SERVICE_NAME: the same words everywhere
PREFIX = "rec"


def policy_file(recordings_dir: str, uniqueid: str) -> str:
    """The MixMonitor file (as Asterisk names it, without `.wav`) of the recorded leg."""
    return actions.recording_file(recordings_dir, PREFIX, uniqueid)


def stored_facts(facts: CallFacts, dst_name: str) -> dict[str, object]:
    return {**facts.to_json(), "dst_name": dst_name}


class PolicyRecordings:
    """The router's half: decide at the dial step, keep the facts, name the file."""

    def __init__(self, store: Store, recordings_dir: str,
                 now: Callable[[], float] = time.time) -> None:
        self.store, self.recordings_dir, self.now = store, recordings_dir, now

    def at_dial(self, caller: ContactMethod | None, callees: Sequence[ContactMethod],
                uniqueid: str, linkedid: str, facts: CallFacts, dst_name: str,
                call: structlog.BoundLogger) -> dict[str, str]:
        """PBXB_REC for a dial step: the file to record to, or "" (nothing to start)."""
        decision = decide_before_answer(caller, callees)
        pending = if_answered_by(caller, callees)
        if not decision.record and not pending:
            return {"PBXB_REC": ""}
        linkedid = linkedid if actions.UNIQUEID.match(linkedid) else uniqueid
        file = policy_file(self.recordings_dir, uniqueid)
        running = [r.file for r in self.store.open_recordings(call=linkedid)]
        target = file + ".wav"
        if running and target not in running:
            target = running[0]  # another leg records this call already: add to it
        kept = self.store.save_recording(
            StoredRecording(target, linkedid,
                            {**stored_facts(facts, dst_name), "if_answered_by": pending},
                            decision.delivery_methods,
                            (*decision.reasons, *(f"{name} records it if it answers"
                                                  for name in pending))), self.now())
        call.info("recording_policy", file=target, methods=list(kept.methods),
                  reasons=list(decision.reasons), started=target == file + ".wav")
        return {"PBXB_REC": file if target == file + ".wav" else ""}


def call_facts(src_number: str, src_name: str, dst_number: str, when: datetime) -> CallFacts:
    return CallFacts(SERVICE_NAME, src_number, src_name, dst_number, when)
