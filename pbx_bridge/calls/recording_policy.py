"""Which calls are recorded, where the files go, and why. Pure: config objects in, a decision
with its reasons out. `pbx-bridge route` prints these reasons; the call layer applies them.

The precedence rule
-------------------
1. A call recorder module in a call flow records every call that passes it, from that point
   on; its delivery methods receive the file.
2. Each side of the call that is one of this system's contact methods consults its own flags,
   for the call as that side sees it: the side that places the call reads `outbound_*`, the
   side that receives it reads `inbound_*`; `*_internal` when the other side is also a contact
   method of this system, `*_external` when it is outside (the PSTN, a SIP trunk). A side whose
   flag is on asks for the recording, for its own `recording.delivery_methods`.
3. One request is enough. A flag that is off means "I do not ask", never "I forbid": nobody
   can veto a recording another side (or a call recorder) asked for.
4. A request with no delivery method does not count (the file would have nowhere to go); the
   reasons say so.
5. One file per call leg recorded, delivered once to every delivery method anyone asked for,
   in this order: call recorder modules, the calling side, the answering side; a method named
   twice receives the file once.
6. On demand: a side whose `on_demand` is on may start a recording mid-call with the
   record-on-demand feature code; that file goes to that side's delivery methods only. It
   never stops a recording already running, and a policy recording does not depend on it.
7. Transfers, pickups and queue hops: a recording that started follows the call until its file
   is closed; each party who answers later is a new answering side, whose own flags may add a
   recording (rule 2), never remove one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pbx_bridge.config.model import ContactMethod


@dataclass(frozen=True)
class Recorder:
    """A call recorder module the call passed."""

    module: str
    delivery_methods: tuple[str, ...]


@dataclass(frozen=True)
class RecordingDecision:
    record: bool
    delivery_methods: tuple[str, ...]
    reasons: tuple[str, ...]  # every rule that was looked at, asking or not
    on_demand: tuple[str, ...] = ()  # contact methods that may start a recording mid-call

    def as_json(self) -> dict[str, Any]:
        return {"record": self.record, "delivery_methods": list(self.delivery_methods),
                "reasons": list(self.reasons), "on_demand": list(self.on_demand)}

    def summary(self) -> str:
        """One line for people: what happens, then why."""
        what = (f"recorded for {', '.join(self.delivery_methods)}" if self.record
                else "not recorded")
        extra = f"; on demand: {', '.join(self.on_demand)}" if self.on_demand else ""
        return f"{what} ({'; '.join(self.reasons)}){extra}"


def flag_for(placing: bool, other_is_ours: bool) -> str:
    """The `Recording` flag a side reads (rule 2)."""
    return f"{'outbound' if placing else 'inbound'}_{'internal' if other_is_ours else 'external'}"


def _side(cm: ContactMethod, placing: bool, other_is_ours: bool) -> tuple[tuple[str, ...], str]:
    flag = flag_for(placing, other_is_ours)
    words = flag.replace("_", " ")
    if not getattr(cm.recording, flag):
        return (), f"{cm.name} does not record {words} calls ({flag} off)"
    methods = cm.recording.delivery_methods
    if not methods:
        return (), f"{cm.name} records {words} calls but has no delivery method: ignored"
    return methods, f"{cm.name} records {words} calls"


def decide(caller: ContactMethod | None, callee: ContactMethod | None,
           recorders: Sequence[Recorder] = ()) -> RecordingDecision:
    """The decision for a call from `caller` answered by `callee` (None: a side outside this
    system), after passing `recorders`. See the module docstring for the rule."""
    methods: list[str] = []
    reasons: list[str] = []
    for recorder in recorders:
        if recorder.delivery_methods:
            methods += recorder.delivery_methods
            reasons.append(f"call recorder {recorder.module}")
        else:
            reasons.append(f"call recorder {recorder.module} has no delivery method: ignored")
    internal = caller is not None and callee is not None
    for cm, placing in ((caller, True), (callee, False)):
        if cm is None:
            continue
        asked, reason = _side(cm, placing, internal)
        methods += asked
        reasons.append(reason)
    if caller is None and callee is None and not recorders:
        reasons.append("no side of the call is a contact method of this system")
    unique = tuple(dict.fromkeys(methods))
    on_demand = tuple(cm.name for cm in (caller, callee)
                      if cm is not None and cm.recording.on_demand
                      and cm.recording.delivery_methods)
    return RecordingDecision(bool(unique), unique, tuple(reasons), on_demand)


def on_demand_methods(presser: ContactMethod | None) -> tuple[str, ...]:
    """Where a recording started on demand by `presser` goes (rule 6); () if not allowed."""
    if presser is None or not presser.recording.on_demand:
        return ()
    return presser.recording.delivery_methods


def decide_before_answer(caller: ContactMethod | None,
                         callees: Sequence[ContactMethod]) -> RecordingDecision:
    """The decision when the call is about to ring `callees` (all of this system; none: an
    outside number): with one callee it is `decide`; with several (a ring group, a queue),
    who answers is not known yet, so only the calling side's flags apply here."""
    if len(callees) <= 1:
        return decide(caller, callees[0] if callees else None)
    methods: tuple[str, ...] = ()
    reasons: list[str] = []
    if caller is not None:
        methods, why = _side(caller, True, True)
        reasons.append(why)
    reasons.append(f"{len(callees)} may answer ({', '.join(cm.name for cm in callees)}): "
                   "their own flags are not applied before one answers")
    return RecordingDecision(bool(methods), tuple(dict.fromkeys(methods)), tuple(reasons))


def if_answered_by(caller: ContactMethod | None,
                   callees: Sequence[ContactMethod]) -> dict[str, tuple[str, ...]]:
    """With several callees (a ring group, a queue): the delivery methods each one's own flag
    asks for, should that one answer (rule 2 for the answering side, applied at the answer).
    Empty with one callee: `decide` already counted it."""
    if len(callees) <= 1:
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for cm in callees:
        methods, _ = _side(cm, False, caller is not None)
        if methods:
            out[cm.name] = methods
    return out
