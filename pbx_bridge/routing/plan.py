"""A plan: the steps one call takes, in order, each with the reason it was reached.

This is the small vocabulary the PBX adapters execute and `pbx-bridge route` prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

StepType = Literal[
    "contact_method", "time_router", "voice_menu", "ring_group", "queue", "voicemail",
    "call_recorder", "notification", "fax", "hangup",
]


@dataclass(frozen=True)
class Step:
    module: str  # the module's name, or the contact method's for a direct DID
    type: StepType
    reason: str  # why the call is here
    destinations: tuple[str, ...] = ()  # contact method names rung (ring groups, queues...)
    ring_time: int | None = None
    max_wait: int | None = None
    greeting: str = ""  # audio file name
    timeout: int | None = None  # voice menu: seconds to wait for a key
    options: Mapping[str, str] = field(default_factory=dict)
    delivery_methods: tuple[str, ...] = ()
    next: str = ""  # where the call goes when this step does not end it

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"module": self.module, "type": self.type, "reason": self.reason}
        if self.type in ("contact_method", "ring_group", "queue"):
            out["destinations"] = list(self.destinations)
        if self.ring_time is not None:
            out["ring_time"] = self.ring_time
        if self.max_wait is not None:
            out["max_wait"] = self.max_wait
        if self.greeting:
            out["greeting"] = self.greeting
        if self.type == "voice_menu":
            out["timeout"] = self.timeout
            out["options"] = dict(self.options)
        if self.delivery_methods:
            out["delivery_methods"] = list(self.delivery_methods)
        if self.next:
            out["next"] = self.next
        return out


@dataclass(frozen=True)
class Plan:
    number: str  # the number called, normalised
    kind: Literal["call_flow", "direct_did", "internal"]
    target: str  # the call flow or contact method the number belongs to
    at: str  # the instant, ISO-8601 in the system time zone
    caller: str
    steps: tuple[Step, ...]
    loops_to: str = ""  # set when the call would go back to a step already in the plan

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "number": self.number,
            "kind": self.kind,
            "target": self.target,
            "at": self.at,
            "from": self.caller or None,
            "steps": [step.as_json() for step in self.steps],
        }
        if self.loops_to:
            out["loops_to"] = self.loops_to
        return out
