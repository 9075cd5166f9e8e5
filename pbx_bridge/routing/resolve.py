"""The resolver: (config, called number, caller, instant, keys pressed) -> plan. Pure.

No sockets, no clock reads, no PBX names: the PBX adapters and `pbx-bridge route` call this
with the facts they have, and execute or print the plan.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from pbx_bridge.config.model import CallFlow, Config, ContactMethod, Module
from pbx_bridge.routing.plan import Plan, Step
from pbx_bridge.routing.schedule import evaluate

_NOT_DIGITS = re.compile(r"[\s\-().]")


class UnknownNumber(LookupError):
    """The number is neither a DID nor an internal number of this system."""


def normalise(number: str) -> str:
    """E.164 digits without '+', spaces or punctuation; internal numbers unchanged."""
    return _NOT_DIGITS.sub("", number).lstrip("+")


def resolve(config: Config, called: str, caller: str, instant: datetime,
            presses: str = "") -> Plan:
    """The plan for one call to `called` at `instant` (an aware datetime).

    `presses` are the keys the caller will press at voice menus, one per menu visit; with none,
    a menu takes its timeout branch.
    """
    number = normalise(called)
    local = instant.astimezone(ZoneInfo(config.system.timezone))
    at = local.isoformat(timespec="seconds")
    flow = config.call_flow_for(number)
    if flow is not None:
        steps, loops_to = _walk_flow(config, flow, local, presses)
        return Plan(number, "call_flow", flow.name, at, caller, steps, loops_to)
    cm = config.contact_method_for_did(number)
    if cm is not None:
        why = f"{number} is a direct DID of {_describe(cm)}"
        return Plan(number, "direct_did", cm.name, at, caller, _ring_contact(config, cm, local,
                                                                              why))
    cm = config.contact_method_for_internal(number)
    if cm is not None:
        why = f"{number} is the internal number of {_describe(cm)}"
        return Plan(number, "internal", cm.name, at, caller, _ring_contact(config, cm, local,
                                                                            why))
    raise UnknownNumber(f"{called} is not a DID or internal number of this system")


def module_step(config: Config, module: Module, instant: datetime, key: str = "",
                reason: str = "") -> tuple[Step, str]:
    """One module at `instant` (`key`: the key pressed at a voice menu, "" for none), and the
    module the call goes to when this one does not end it ("" for none)."""
    local = instant.astimezone(ZoneInfo(config.system.timezone))
    step, branch, _, _ = _step(config, module, local, reason, key, 0)
    return step, branch


def _describe(cm: ContactMethod) -> str:
    kind = {"sip_account": "SIP account", "app_configuration": "the app of user",
            "pstn_forwarding": "PSTN forwarding", "sip_forwarding": "SIP forwarding"}[cm.kind]
    return f"{kind} {cm.name}"


def _ring_contact(config: Config, cm: ContactMethod, local: datetime,
                  why: str) -> tuple[Step, ...]:
    ring_time = cm.ring_time or config.system.ring_time
    steps: list[Step] = []
    user = config.user(cm.user) if cm.user else None
    schedule = config.schedule(user.time_schedule) if user and user.time_schedule else None
    verdict = evaluate(schedule, local) if schedule else None
    if verdict is not None and not verdict.open:
        unavailable_why = f"{why}; not rung, its user's time schedule is {verdict.reason}"
    else:
        reason = why if verdict is None else f"{why}; user's time schedule is {verdict.reason}"
        steps.append(Step(cm.name, "contact_method", reason, (cm.name,), ring_time=ring_time))
        unavailable_why = f"{cm.name} did not answer within {ring_time} s"
    wu = cm.when_unavailable
    if wu.action == "voicemail":
        steps.append(Step(cm.name, "voicemail", f"{unavailable_why}: when unavailable, voicemail",
                          greeting=wu.greeting,
                          delivery_methods=wu.delivery_methods or cm.recording.delivery_methods))
    else:
        steps.append(Step(cm.name, "hangup", f"{unavailable_why}: when unavailable, nothing"))
    return tuple(steps)


def _walk_flow(config: Config, flow: CallFlow, local: datetime,
               presses: str) -> tuple[tuple[Step, ...], str]:
    steps: list[Step] = []
    seen: set[tuple[str, int]] = set()
    name, reason, pressed = flow.start, f"start of call flow {flow.name}", 0
    while name:
        module = flow.modules.get(name)
        if module is None:  # only in an invalid config; the plan stops rather than guess
            steps.append(Step(name, "hangup", f"{reason}: no module named {name!r}"))
            return tuple(steps), ""
        # A menu visit consumes a key, so (module, keys used) only repeats in a real loop.
        if (name, pressed) in seen:
            return tuple(steps), name
        seen.add((name, pressed))
        step, name, reason, pressed = _step(config, module, local, reason, presses, pressed)
        steps.append(step)
        if not name and reason:  # the module can end without the call being handled
            steps.append(Step(step.module, "hangup", f"{reason}; nothing follows: the call ends"))
    return tuple(steps), ""


def _step(config: Config, m: Module, local: datetime, reason: str, presses: str,
          pressed: int) -> tuple[Step, str, str, int]:
    """The step for one module, and (next module, why it is reached, keys used)."""
    if m.type == "time_router":
        schedule = config.schedule(m.schedule)
        if schedule is None:
            return Step(m.name, "time_router", reason), "", "", pressed
        verdict = evaluate(schedule, local)
        branch = m.open if verdict.open else (m.holiday or m.closed) if verdict.holiday \
            else m.closed
        step = Step(m.name, "time_router", f"{reason}; {verdict.reason}", next=branch)
        return step, branch, f"{m.name}: {verdict.reason.split(':')[0]}", pressed
    if m.type == "voice_menu":
        key = presses[pressed] if pressed < len(presses) else ""
        if not key:
            branch, why = m.on_timeout, f"{m.name}: no key pressed within {m.timeout} s"
        elif key in m.options:
            branch, why = m.options[key], f"{m.name}: caller pressed {key}"
        else:
            branch = m.on_invalid or m.name  # an invalid key replays the menu
            why = f"{m.name}: caller pressed {key}, not an option"
        step = Step(m.name, "voice_menu", reason, greeting=m.greeting, timeout=m.timeout,
                    options=m.options, next=branch)
        return step, branch, why, pressed + (1 if key else 0)
    if m.type in ("ring_group", "queue"):
        is_queue = m.type == "queue"
        step = Step(m.name, m.type, reason, m.destinations,
                    ring_time=None if is_queue else m.ring_time,
                    max_wait=m.max_wait if is_queue else None,
                    greeting=m.greeting, next=m.next)
        waited = f"{m.max_wait} s in the queue" if is_queue else f"{m.ring_time} s"
        return _then(step, m, f"{m.name}: nobody answered within {waited}", pressed)
    if m.type in ("call_recorder", "notification"):
        step = Step(m.name, m.type, reason, delivery_methods=m.delivery_methods, next=m.next)
        done = "recording started" if m.type == "call_recorder" else "notification sent"
        return _then(step, m, f"{m.name}: {done}", pressed)
    # voicemail and fax end the call.
    return (Step(m.name, m.type, reason, greeting=m.greeting,
                 delivery_methods=m.delivery_methods), "", "", pressed)


def _then(step: Step, m: Module, why: str, pressed: int) -> tuple[Step, str, str, int]:
    return step, m.next, why, pressed
