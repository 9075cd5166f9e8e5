"""The call state machine: neutral events in, call outcomes out. Pure: no I/O, no clock.

Calls are keyed by call id (Asterisk's Linkedid), legs by leg id (Uniqueid). Recordings belong
to the *call* and sit on one leg: when that leg hangs up or the recording is stopped, its file
is closed and the recording is finished; the call (and its other recordings) go on. So a
recording follows the call through transfers, pickups and queue hops: whichever leg carries
it, it ends exactly once, with the call's facts.

Events arrive repeated and out of order (a reconnect replays state, AMI interleaves legs):
- every transition is idempotent: a second `LegAnswered`, `RecordingStarted` of the same file,
  `LegEnded` ... changes nothing and emits nothing;
- an event for an unknown leg creates it (a `LegStarted` arriving later fills in its facts
  without undoing what happened); an ended leg stays ended;
- once every leg of a call has ended the call ends, is forgotten, and its id is remembered for
  a while (`tombstones`) so that late events cannot bring it back;
- a finished file is remembered the same way, so no file is ever finished twice.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pbx_bridge.calls.events import (
    AttendedTransferred,
    BlindTransferred,
    CallEnded,
    CallEvent,
    CallStarted,
    DialEnded,
    Dialled,
    FinishSignal,
    LegAnswered,
    LegBridged,
    LegEnded,
    LegRinging,
    LegStarted,
    LegUnbridged,
    Outcome,
    Party,
    RecordingClosed,
    RecordingFinished,
    RecordingPaused,
    RecordingResumed,
    RecordingStarted,
    RecordingStopped,
)

DEFAULT_TOMBSTONES = 50_000  # ended calls and finished files remembered (~10 min at 100 cps)


@dataclass(slots=True)
class Leg:
    id: str
    channel: str = ""
    endpoint: str = ""
    number: str = ""
    name: str = ""
    dialled: str = ""
    origin: bool = False
    started: float = 0.0
    ringing: bool = False
    answered: float | None = None
    ended: float | None = None
    cause: str = ""
    bridge: str = ""

    def party(self) -> Party:
        return Party(self.number, self.name, self.endpoint)


@dataclass(slots=True)
class Recording:
    file: str
    leg: str
    started: float = 0.0
    on_demand: bool = False
    paused: bool = False


@dataclass(slots=True)
class Call:
    id: str
    started: float = 0.0
    legs: dict[str, Leg] = field(default_factory=dict)
    recordings: dict[str, Recording] = field(default_factory=dict)  # active ones, by file
    transfers: list[str] = field(default_factory=list)  # "blind:<target>", "attended:<leg>"
    answered_by: str = ""  # the first leg other than the caller's to answer

    def leg(self, leg_id: str, at: float) -> Leg:
        leg = self.legs.get(leg_id)
        if leg is None:
            leg = self.legs[leg_id] = Leg(leg_id, started=at, origin=leg_id == self.id)
        return leg

    @property
    def caller(self) -> Leg | None:
        """The origin leg; without one, the first leg seen."""
        for leg in self.legs.values():
            if leg.origin:
                return leg
        return next(iter(self.legs.values()), None)

    @property
    def callee(self) -> Leg | None:
        return self.legs.get(self.answered_by) if self.answered_by else None

    @property
    def ended(self) -> bool:
        return bool(self.legs) and all(leg.ended is not None for leg in self.legs.values())


class _Memory:
    """A bounded set, oldest forgotten first."""

    __slots__ = ("_items", "_limit")

    def __init__(self, limit: int) -> None:
        self._items: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    def add(self, key: str) -> None:
        self._items[key] = None
        if len(self._items) > self._limit:
            self._items.popitem(last=False)

    def __contains__(self, key: str) -> bool:
        return key in self._items


class CallTracker:
    """Calls in progress. `apply(event)` returns the outcomes that event caused."""

    def __init__(self, tombstones: int = DEFAULT_TOMBSTONES) -> None:
        self.calls: dict[str, Call] = {}
        self._ended = _Memory(tombstones)
        self._finished = _Memory(tombstones)
        self._file_call: dict[str, str] = {}  # active recording file -> call id
        self._handlers: dict[type, Callable[..., list[Outcome]]] = {
            LegStarted: self._started, LegRinging: self._ringing, LegAnswered: self._answered,
            Dialled: self._nothing, DialEnded: self._dial_ended, LegBridged: self._bridged,
            LegUnbridged: self._unbridged, BlindTransferred: self._blind,
            AttendedTransferred: self._attended, LegEnded: self._leg_ended,
            RecordingStarted: self._rec_started, RecordingPaused: self._rec_paused,
            RecordingResumed: self._rec_resumed, RecordingStopped: self._rec_stopped,
        }

    # -- entry points ---------------------------------------------------------------------
    def apply(self, event: CallEvent) -> list[Outcome]:
        if type(event) is RecordingClosed:
            return self._rec_closed(event)
        handler = self._handlers.get(type(event))
        if handler is None or event.call in self._ended:
            return []
        call = self.calls.get(event.call)
        out: list[Outcome] = []
        if call is None:
            if type(event) is LegEnded:
                return []  # nothing known about it, nothing to finish
            call = self.calls[event.call] = Call(event.call, event.at)
            out.append(CallStarted(event.call, event.leg, event.at))
        out += handler(call, event)
        if type(event) is LegEnded and call.ended:
            out += self._end_call(call, event.at, "hangup")
        return out

    def apply_all(self, events: Iterable[CallEvent]) -> list[Outcome]:
        out: list[Outcome] = []
        for event in events:
            out += self.apply(event)
        return out

    def live_legs(self) -> set[str]:
        """Leg ids not ended: take this *before* asking the PBX for its channels."""
        return {leg.id for call in self.calls.values() for leg in call.legs.values()
                if leg.ended is None}

    def reconcile(self, live: Iterable[LegStarted], answered: Iterable[str] = (),
                  at: float = 0.0, known_before: set[str] | None = None) -> list[Outcome]:
        """After a reconnect: `live` is every channel the PBX has now (`answered`: the leg ids
        that are up). Legs we knew that are gone ended while we were away; their recordings
        are finished (signal "reconciled"); live legs we did not know are added.

        `known_before` (from `live_legs()` taken before the PBX was asked): only those legs
        may be ended, so a leg whose start event arrived while the answer was on its way is
        not mistaken for one that vanished."""
        live = list(live)
        alive = {event.leg for event in live}
        up = set(answered)
        out: list[Outcome] = []
        for call in list(self.calls.values()):
            for leg in call.legs.values():
                if leg.ended is None and leg.id not in alive and (
                        known_before is None or leg.id in known_before):
                    leg.ended = at
                    out += self._finish_leg(call, leg.id, "reconciled")
            if call.ended:
                out += self._end_call(call, at, "reconciled")
        for event in live:
            out += self.apply(event)
        for event in live:
            if event.leg in up:
                out += self.apply(LegAnswered(event.call, event.leg, at))
        return out

    # -- legs -------------------------------------------------------------------------------
    def _nothing(self, call: Call, event: CallEvent) -> list[Outcome]:
        call.leg(event.leg, event.at)
        return []

    def _started(self, call: Call, event: LegStarted) -> list[Outcome]:
        leg = call.leg(event.leg, event.at)
        leg.channel, leg.endpoint = event.channel or leg.channel, event.endpoint or leg.endpoint
        leg.number, leg.name = event.number or leg.number, event.name or leg.name
        leg.dialled = event.dialled or leg.dialled
        leg.origin = leg.origin or event.origin
        if event.at and (not leg.started or event.at < leg.started):
            leg.started = event.at
        if event.at and (not call.started or event.at < call.started):
            call.started = event.at
        return []

    def _ringing(self, call: Call, event: LegRinging) -> list[Outcome]:
        call.leg(event.leg, event.at).ringing = True
        return []

    def _answered(self, call: Call, event: CallEvent) -> list[Outcome]:
        leg = call.leg(event.leg, event.at)
        if leg.answered is None:
            leg.answered = event.at
        if not call.answered_by and not leg.origin and leg.id != call.id:
            call.answered_by = leg.id
        return []

    def _dial_ended(self, call: Call, event: DialEnded) -> list[Outcome]:
        call.leg(event.leg, event.at)
        if event.status == "ANSWER" and event.target:
            self._answered(call, LegAnswered(call.id, event.target, event.at))
        return []

    def _bridged(self, call: Call, event: LegBridged) -> list[Outcome]:
        call.leg(event.leg, event.at).bridge = event.bridge
        return []

    def _unbridged(self, call: Call, event: LegUnbridged) -> list[Outcome]:
        leg = call.leg(event.leg, event.at)
        if leg.bridge == event.bridge:
            leg.bridge = ""
        return []

    def _blind(self, call: Call, event: BlindTransferred) -> list[Outcome]:
        call.leg(event.leg, event.at)
        record = f"blind:{event.transferee}>{event.target}@{event.at}"
        if event.ok and record not in call.transfers:
            call.transfers.append(record)
        return []

    def _attended(self, call: Call, event: AttendedTransferred) -> list[Outcome]:
        call.leg(event.leg, event.at)
        record = f"attended:{event.transferee}>{event.target_leg}@{event.at}"
        if event.ok and record not in call.transfers:
            call.transfers.append(record)
        return []

    def _leg_ended(self, call: Call, event: LegEnded) -> list[Outcome]:
        leg = call.leg(event.leg, event.at)
        if leg.ended is not None:
            return []
        leg.ended, leg.cause = event.at, event.cause
        return self._finish_leg(call, leg.id, "hangup")

    def _end_call(self, call: Call, at: float, signal: FinishSignal) -> list[Outcome]:
        out: list[Outcome] = []
        for file in list(call.recordings):
            out.append(self._finish(call, file, signal, at))
        del self.calls[call.id]
        self._ended.add(call.id)
        out.append(CallEnded(call.id, "", at))
        return out

    # -- recordings -----------------------------------------------------------------------
    def _rec_started(self, call: Call, event: RecordingStarted) -> list[Outcome]:
        call.leg(event.leg, event.at)
        file = event.file
        if not file or file in call.recordings or file in self._finished:
            return []
        if file in self._file_call:  # the same file restarted on another leg of another call
            return []
        call.recordings[file] = Recording(file, event.leg, event.at, event.on_demand)
        self._file_call[file] = call.id
        return []

    def _rec_paused(self, call: Call, event: RecordingPaused) -> list[Outcome]:
        for rec in call.recordings.values():
            if rec.leg == event.leg:
                rec.paused = True
        return []

    def _rec_resumed(self, call: Call, event: RecordingResumed) -> list[Outcome]:
        for rec in call.recordings.values():
            if rec.leg == event.leg:
                rec.paused = False
        return []

    def _rec_stopped(self, call: Call, event: RecordingStopped) -> list[Outcome]:
        """The PBX does not say which of the leg's recordings stopped (Asterisk's
        MixMonitorStop names no file). Mid-call only a person stops one, on demand; the
        dialplan's own recordings stop when their leg ends. So a stop finishes the leg's
        on-demand recordings when it has some, else all of them: a policy recording is never
        handed on while it is still being written."""
        on_leg = [rec for rec in call.recordings.values() if rec.leg == event.leg]
        chosen = [rec for rec in on_leg if rec.on_demand] or on_leg
        return [self._finish(call, rec.file, "stopped", event.at) for rec in chosen]

    def _rec_closed(self, event: RecordingClosed) -> list[Outcome]:
        file = event.file
        if not file or file in self._finished:
            return []
        call_id = self._file_call.get(file)
        call = self.calls.get(call_id) if call_id else None
        if call is not None:
            return [self._finish(call, file, "closed", event.at)]
        # A file we never saw start (missed while disconnected): hand it on all the same.
        self._finished.add(file)
        return [RecordingFinished(event.call, event.leg, event.at, file, "closed")]

    def _finish_leg(self, call: Call, leg_id: str, signal: FinishSignal,
                    at: float | None = None) -> list[Outcome]:
        leg = call.legs.get(leg_id)
        when = at if at is not None else (leg.ended if leg and leg.ended is not None else 0.0)
        return [self._finish(call, rec.file, signal, when)
                for rec in list(call.recordings.values()) if rec.leg == leg_id]

    def _finish(self, call: Call, file: str, signal: FinishSignal, at: float
                ) -> RecordingFinished:
        rec = call.recordings.pop(file)
        self._file_call.pop(file, None)
        self._finished.add(file)
        caller, callee = call.caller, call.callee
        return RecordingFinished(
            call.id, rec.leg, at, file, signal,
            caller=caller.party() if caller else Party(),
            callee=callee.party() if callee else Party(),
            dialled=caller.dialled if caller else "",
            started=call.started, on_demand=rec.on_demand, transfers=len(call.transfers),
            # Found finished after a reconnect, the answer may be among the events we missed:
            # "unanswered" (the file is removed) only when we saw the whole call.
            answered=callee is not None or signal == "reconciled")
