"""A call in progress, one step at a time. Pure: the PBX adapter brings the facts.

`resolve` prints a whole plan in advance; a live call can only be decided step by step,
because what happens next depends on what just happened (nobody answered, the caller pressed
2) and on the time at that moment. The adapter executes `Decision.step`, then calls `decide`
again with the `position` it was given and the outcome:

- "" when the call starts;
- a dial status for ringing steps: ANSWER, NOANSWER, BUSY, CHANUNAVAIL, CONGESTION, CANCEL
  (for a queue: ANSWER when a member took the call, otherwise why it left, e.g. TIMEOUT);
- `KEY:<digit>` or TIMEOUT after a voice menu;
- DONE after a step that only starts something (a call recorder).

Positions are short opaque strings made only of config indexes ("m3": the fourth module of the
call flow; "ring" / "after" for a contact method's own steps), never of caller text.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from pbx_bridge.config.model import CallFlow, Config, Module
from pbx_bridge.routing.plan import Step
from pbx_bridge.routing.resolve import module_step, normalise, resolve

ANSWERED = "ANSWER"
# Steps that take no time on the call: decided and passed in the same round.
_PASSED_THROUGH = frozenset({"time_router", "notification"})

Kind = Literal["call_flow", "direct_did", "internal"]


@dataclass(frozen=True)
class Decision:
    kind: Kind
    target: str  # the call flow or contact method the number belongs to
    step: Step  # what the PBX does now; type "hangup" ends the call
    position: str  # hand back with the outcome of `step`
    passed: tuple[Step, ...] = ()  # instant steps taken on the way (time routers, notifications)


def decide(config: Config, number: str, position: str, outcome: str, instant: datetime,
           caller: str = "") -> Decision:
    """The next step of a call to `number`. Raises UnknownNumber like `resolve`."""
    number = normalise(number)
    flow = config.call_flow_for(number)
    if flow is None:
        return _contact(config, number, position, outcome, instant, caller)
    if not position:
        return _walk(config, flow, flow.start, instant, f"start of call flow {flow.name}")
    module = module_at(flow, position)
    if module is None:
        return _end("call_flow", flow.name, position, f"position {position!r} is not in the "
                    f"call flow {flow.name} (the config changed during the call)")
    if outcome == ANSWERED and module.type in ("ring_group", "queue"):
        return _end("call_flow", flow.name, module.name, f"{module.name}: answered")
    if module.type == "voice_menu":
        key = outcome[4:] if outcome.startswith("KEY:") else ""
        _, branch = module_step(config, module, instant, key)
        why = (f"{module.name}: caller pressed {key}" if key
               else f"{module.name}: no key pressed within {module.timeout} s")
        if key and key not in module.options:
            why += ", not an option"
    elif module.type in ("ring_group", "queue"):
        branch = module.next
        why = f"{module.name}: not answered ({outcome or 'no status'})"
    elif module.type == "call_recorder":
        branch, why = module.next, f"{module.name}: recording started"
    else:
        return _end("call_flow", flow.name, module.name, f"{module.name}: done")
    if not branch:
        return _end("call_flow", flow.name, module.name, f"{why}; nothing follows: the call ends")
    return _walk(config, flow, branch, instant, why)


def step_at(config: Config, number: str, position: str, instant: datetime) -> Step | None:
    """The step a position stands for (e.g. to deliver a voicemail left there)."""
    number = normalise(number)
    flow = config.call_flow_for(number)
    if flow is not None:
        module = module_at(flow, position)
        return module_step(config, module, instant)[0] if module else None
    plan = resolve(config, number, "", instant)
    if position == "after":
        return plan.steps[-1]
    return plan.steps[0] if position == "ring" else None


def module_at(flow: CallFlow, position: str) -> Module | None:
    if not position.startswith("m") or not position[1:].isdigit():
        return None
    names = list(flow.modules)
    index = int(position[1:])
    return flow.modules[names[index]] if index < len(names) else None


def position_of(flow: CallFlow, name: str) -> str:
    return f"m{list(flow.modules).index(name)}"


def _walk(config: Config, flow: CallFlow, name: str, instant: datetime, why: str) -> Decision:
    passed: list[Step] = []
    for _ in range(len(flow.modules) + 1):
        module = flow.modules.get(name)
        if module is None:
            return _end("call_flow", flow.name, name, f"{why}: no module named {name!r}",
                        passed)
        step, branch = module_step(config, module, instant, reason=why)
        if module.type not in _PASSED_THROUGH:
            return Decision("call_flow", flow.name, step, position_of(flow, name),
                            tuple(passed))
        passed.append(step)
        if not branch:
            return _end("call_flow", flow.name, name, f"{name}: nothing follows: the call "
                        "ends", passed)
        why = step.reason if module.type == "time_router" else f"{name}: notification sent"
        name = branch
    return _end("call_flow", flow.name, name, f"{why}: modules loop without taking time",
                passed)


def _contact(config: Config, number: str, position: str, outcome: str, instant: datetime,
             caller: str) -> Decision:
    plan = resolve(config, number, caller, instant)
    kind: Kind = "internal" if plan.kind == "internal" else "direct_did"
    first, last = plan.steps[0], plan.steps[-1]
    if not position:
        if first.type == "contact_method":
            return Decision(kind, plan.target, first, "ring")
        return Decision(kind, plan.target, last, "after")  # not rung (user's schedule closed)
    if position == "ring" and outcome != ANSWERED:
        why = f"{plan.target} not answered ({outcome or 'no status'})"
        return Decision(kind, plan.target, replace(last, reason=f"{why}; {last.reason}"),
                        "after")
    why = f"{plan.target}: answered" if outcome == ANSWERED else f"{plan.target}: done"
    return _end(kind, plan.target, plan.target, why)


def _end(kind: Kind, target: str, module: str, why: str,
         passed: list[Step] | None = None) -> Decision:
    return Decision(kind, target, Step(module, "hangup", why), "", tuple(passed or ()))
