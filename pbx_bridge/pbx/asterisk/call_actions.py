"""A routing decision as the channel variables the generated dialplan acts on. Pure.

The AGI `step` round sets PBXB_ACTION (the context `pbx-bridge-<action>` to run) and that
action's variables; see pbx_bridge/pbx/asterisk/dialplan/extensions.py for the loop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pbx_bridge.config.model import Config
from pbx_bridge.pbx.asterisk.dialplan import names
from pbx_bridge.routing.plan import Step
from pbx_bridge.routing.progress import Decision

UNIQUEID = re.compile(r"^[0-9]{1,20}\.[0-9]{1,10}$")
POSITION = re.compile(r"^(m[0-9]{1,5}|ring|after|out|)$")
STATUS = re.compile(r"^[A-Z]{0,16}[0-9*#A-D]?$")
CAUSE_NORMAL, CAUSE_UNALLOCATED, CAUSE_REJECTED = 16, 1, 21

Variables = dict[str, str]


@dataclass(frozen=True)
class StepRequest:
    """AGI(step, origin, number, position, status, t0) as sent by pbx-bridge-step."""

    origin: str
    number: str
    position: str
    status: str
    t0: int

    @staticmethod
    def parse(args: list[str]) -> StepRequest:
        """Tolerant of missing arguments; anything malformed becomes empty."""
        origin, number, position, status, t0 = (list(args) + [""] * 5)[:5]
        return StepRequest(
            origin if names.SAFE.match(origin) else "",
            number if number.isdigit() else "",
            position if POSITION.match(position) else "",
            status if STATUS.match(status) else "",
            int(t0) if t0.isdigit() else 0,
        )


def outcome(status: str) -> str:
    """Dialplan status -> the outcome `routing.progress.decide` takes."""
    if status.startswith("KEY") and len(status) == 4:
        return f"KEY:{status[3]}"
    return status


def end(cause: int = CAUSE_NORMAL) -> Variables:
    return {"PBXB_ACTION": "end", "PBXB_CAUSE": str(cause), "PBXB_POS": ""}


def dial(targets: list[str], timeout: int | None, position: str) -> Variables:
    return {"PBXB_ACTION": "dial", "PBXB_DIAL": "&".join(targets),
            "PBXB_TIMEOUT": str(timeout or ""), "PBXB_DIALOPTS": "", "PBXB_POS": position}


def dial_targets(config: Config, step: Step) -> list[str]:
    targets = []
    for name in step.destinations:
        cm = config.contact_method(name)
        target = names.dial_target(config, cm) if cm else None
        if target:
            targets.append(target)
    return targets


def sound_of(config: Config, greeting: str) -> str:
    audio = config.audio_file(greeting) if greeting else None
    return names.sound(audio) if audio else ""


def recording_file(recordings_dir: str, kind: str, uniqueid: str, position: str = "") -> str:
    """A file name from the uniqueid and config positions only, never from caller text."""
    if not UNIQUEID.match(uniqueid):
        raise ValueError(f"not an Asterisk uniqueid: {uniqueid!r}")
    suffix = f"-{position}" if position else ""
    return f"{recordings_dir.rstrip('/')}/{kind}-{uniqueid}{suffix}"


def variables(config: Config, decision: Decision, recordings_dir: str,
              uniqueid: str) -> Variables | None:
    """The variables for `decision.step`; None when a ringing step has nobody to ring (the
    caller then decides again with CHANUNAVAIL, as if Dial had found no one)."""
    step, position = decision.step, decision.position
    if step.type in ("contact_method", "ring_group"):
        targets = dial_targets(config, step)
        return dial(targets, step.ring_time, position) if targets else None
    if step.type == "queue":
        flow = config.call_flow(decision.target)
        module = flow.modules.get(step.module) if flow else None
        if flow is None or module is None:
            return None
        return {"PBXB_ACTION": "queue", "PBXB_QUEUE": names.queue(flow, module),
                "PBXB_TIMEOUT": str(step.max_wait or ""), "PBXB_POS": position}
    if step.type == "voice_menu":
        return {"PBXB_ACTION": "menu", "PBXB_SOUND": sound_of(config, step.greeting),
                "PBXB_TIMEOUT": str(step.timeout or 5), "PBXB_POS": position}
    if step.type == "voicemail":
        return {"PBXB_ACTION": "voicemail", "PBXB_SOUND": sound_of(config, step.greeting),
                "PBXB_FILE": recording_file(recordings_dir, "voicemail", uniqueid),
                "PBXB_POS": position}
    if step.type == "call_recorder":
        return {"PBXB_ACTION": "record", "PBXB_POS": position,
                "PBXB_FILE": recording_file(recordings_dir, "call", uniqueid, position)}
    return end()  # hangup; fax is not received on Asterisk yet
