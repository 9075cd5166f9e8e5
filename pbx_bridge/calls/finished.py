"""A finished recording -> what to deliver, where, with which call facts. Pure: no I/O.

The service hands each `DeliveryRequest` to `delivery.queue.submit(store, config,
Path(request.file), request.methods, request.facts)`; the store keeps one job per (file,
method), so a request made twice (a reconnect, a spool scan) is never delivered twice. A
request with no method is still returned, with the reason: the file is kept and logged,
never silently dropped.

Who the parties are: a leg's endpoint (PJSIP endpoint name) or number is looked up among the
contact methods (SIP account username or name, internal number, forwarding number); a trunk
endpoint or an unknown number is outside this system.

Spool scan (`unclaimed_recordings`): after a reconnect, recordings that started and ended while
the bridge was away are files in the recordings folder that no live call is writing and no
delivery job names yet; they are handed on with empty call facts rather than lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from pbx_bridge.calls.events import Party, RecordingFinished
from pbx_bridge.calls.recording_policy import Recorder, decide, on_demand_methods
from pbx_bridge.config.model import Config, ContactMethod
from pbx_bridge.delivery.naming import CallFacts

SERVICE_NAME = "Call recording"  # the same words as the AGI router's call recorder files
RECORDING_SUFFIXES = (".wav", ".gsm", ".mp3", ".ogg", ".WAV")


@dataclass(frozen=True)
class DeliveryRequest:
    call: str
    file: str
    methods: tuple[str, ...]
    facts: CallFacts
    dst_name: str  # the answering side's name (CallFacts has no field for it yet)
    reasons: tuple[str, ...]


class Directory:
    """Contact methods by what a leg shows of them. Built once per config."""

    def __init__(self, config: Config) -> None:
        self.config = config

    @cached_property
    def _endpoints(self) -> dict[str, ContactMethod]:
        out: dict[str, ContactMethod] = {}
        for cm in self.config.contact_methods:
            for key in (cm.username, cm.name):
                if key:
                    out.setdefault(key, cm)
        return out

    @cached_property
    def _forwarded(self) -> dict[str, ContactMethod]:
        return {cm.number.lstrip("+"): cm for cm in self.config.contact_methods if cm.number}

    @cached_property
    def _trunks(self) -> frozenset[str]:
        return frozenset(t.endpoint for t in self.config.trunks if t.endpoint)

    def lookup(self, party: Party) -> ContactMethod | None:
        if party.endpoint and party.endpoint in self._trunks:
            return self._forwarded.get(party.number.lstrip("+"))  # a PSTN forwarding leg
        if party.endpoint and party.endpoint in self._endpoints:
            return self._endpoints[party.endpoint]
        if party.number:
            return self.config.contact_method_for_internal(party.number)
        return None


def flow_recorders(config: Config, dialled: str) -> tuple[Recorder, ...]:
    """Call recorder modules of the call flow the dialled number starts (all of them: which
    branch the call took is the router's knowledge; pass `recorders=` when it is known)."""
    flow = config.call_flow_for(dialled.lstrip("+")) if dialled else None
    if flow is None:
        return ()
    return tuple(Recorder(m.name, m.delivery_methods) for m in flow.modules.values()
                 if m.type == "call_recorder")


def delivery_request(config: Config, done: RecordingFinished, *,
                     directory: Directory | None = None,
                     recorders: Sequence[Recorder] | None = None) -> DeliveryRequest:
    directory = directory or Directory(config)
    caller, callee = directory.lookup(done.caller), directory.lookup(done.callee)
    if done.on_demand:
        methods = tuple(dict.fromkeys(m for cm in (caller, callee)
                                      for m in on_demand_methods(cm)))
        who = [cm.name for cm in (caller, callee) if cm and on_demand_methods(cm)]
        reasons = ((f"on demand, for {', '.join(who)}",) if methods
                   else ("on demand, but no side may record on demand with a delivery method",))
    else:
        found = flow_recorders(config, done.dialled) if recorders is None else recorders
        decision = decide(caller, callee, found)
        methods, reasons = decision.delivery_methods, decision.reasons
    if not methods:
        reasons = (*reasons, "no delivery method: the file is kept for an operator")
    started = done.started or done.at
    facts = CallFacts(
        service_name=SERVICE_NAME,
        src_number=done.caller.number,
        src_name=done.caller.name,
        dst_number=done.dialled if done.dialled not in ("", "s") else done.callee.number,
        call_time=datetime.fromtimestamp(started, UTC) if started else datetime(1970, 1, 1,
                                                                                tzinfo=UTC))
    return DeliveryRequest(done.call, done.file, methods, facts, done.callee.name, reasons)


def unclaimed_recordings(listing: Iterable[tuple[str, float]], active: Iterable[str],
                         claimed: Iterable[str], now: float, min_age: float = 60.0
                         ) -> list[str]:
    """Files (path, mtime) in the recordings folder that are recordings, untouched for
    `min_age` s, written by no live call (`active`) and named by no delivery job (`claimed`)."""
    busy, known = set(active), set(claimed)
    return sorted(path for path, mtime in listing
                  if path.endswith(RECORDING_SUFFIXES) and path not in busy
                  and path not in known and now - mtime >= min_age)
