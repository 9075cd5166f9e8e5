"""`pbx-bridge route`: a dry run of one inbound call, for people or as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pbx_bridge.calls.recording_policy import Recorder, RecordingDecision, decide
from pbx_bridge.commands_config import load_or_report
from pbx_bridge.config.model import Config
from pbx_bridge.routing.plan import Plan, Step
from pbx_bridge.routing.resolve import UnknownNumber, normalise, resolve

RINGING = ("contact_method", "ring_group", "queue")


def parse_instant(text: str | None, timezone: str) -> datetime:
    """ISO-8601; a time without an offset is read in the system time zone."""
    if not text:
        return datetime.now(UTC)
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        # fold=0: an ambiguous wall time (the repeated hour in autumn) means its first occurrence.
        value = value.replace(tzinfo=ZoneInfo(timezone))
    return value


def describe(step: Step) -> str:
    """What the step does, in an operator's words."""
    if step.type in ("contact_method", "ring_group"):
        what = f"rings {', '.join(step.destinations)} for {step.ring_time} s"
    elif step.type == "queue":
        what = f"queues for {', '.join(step.destinations)}, at most {step.max_wait} s"
    elif step.type == "voice_menu":
        options = ", ".join(f"{key}: {target}" for key, target in step.options.items())
        what = f"plays {step.greeting}, waits {step.timeout} s for a key ({options})"
    elif step.type == "voicemail":
        greeting = f"plays {step.greeting}, " if step.greeting else ""
        to = ", ".join(step.delivery_methods) or "no delivery method"
        what = f"{greeting}records a message for {to}"
    elif step.type == "call_recorder":
        what = f"records the call for {', '.join(step.delivery_methods) or 'nobody'}"
    elif step.type == "notification":
        what = f"notifies {', '.join(step.delivery_methods) or 'nobody'}"
    elif step.type == "fax":
        what = f"receives a fax for {', '.join(step.delivery_methods) or 'nobody'}"
    elif step.type == "time_router":
        what = f"goes to {step.next}" if step.next else "has no branch"
    else:
        what = "hangs up"
    return what


def recording_decisions(config: Config, plan: Plan) -> list[tuple[int, str, RecordingDecision]]:
    """(step number, destination, decision) for every party the plan may ring: what is
    recorded if that party answers, after the call recorders passed before that step."""
    caller = config.contact_method_for_internal(normalise(plan.caller)) if plan.caller else None
    recorders: list[Recorder] = []
    out = []
    for index, step in enumerate(plan.steps, 1):
        if step.type == "call_recorder":
            recorders.append(Recorder(step.module, step.delivery_methods))
        elif step.type in RINGING:
            for name in step.destinations:
                out.append((index, name, decide(caller, config.contact_method(name),
                                                tuple(recorders))))
    return out


def recording_json(config: Config, plan: Plan) -> dict[str, Any]:
    """The `recording` field of `route --json` (added beside the contract's fields)."""
    caller = config.contact_method_for_internal(normalise(plan.caller)) if plan.caller else None
    return {
        "caller_contact_method": caller.name if caller else None,
        "call_recorders": [{"step": index, "module": step.module,
                            "delivery_methods": list(step.delivery_methods)}
                           for index, step in enumerate(plan.steps, 1)
                           if step.type == "call_recorder"],
        "if_answered": [{"step": index, "destination": name, **decision.as_json()}
                        for index, name, decision in recording_decisions(config, plan)],
    }


def render(plan: Plan, config: Config | None = None) -> str:
    kinds = {
        "call_flow": "call flow",
        "direct_did": "direct DID of",
        "internal": "internal number of",
    }
    lines = [f"{plan.number} at {plan.at}" + (f" from {plan.caller}" if plan.caller else "")
             + f": {kinds[plan.kind]} {plan.target}"]
    recording: dict[int, list[tuple[str, RecordingDecision]]] = {}
    for index, name, decision in recording_decisions(config, plan) if config else []:
        recording.setdefault(index, []).append((name, decision))
    for index, step in enumerate(plan.steps, 1):
        lines.append(f"  {index}. {step.type} {step.module}: {describe(step)}")
        lines.append(f"     why: {step.reason}")
        for name, decision in recording.get(index, []):
            lines.append(f"     recording, if {name} answers: {decision.summary()}")
    if plan.loops_to:
        lines.append(f"  then back to {plan.loops_to} (the plan repeats from there)")
    return "\n".join(lines)


def cmd_route(args: argparse.Namespace) -> int:
    loaded = load_or_report(args.config)
    if isinstance(loaded, int):
        return loaded
    config = loaded.config
    try:
        instant = parse_instant(args.at, config.system.timezone)
    except ValueError:
        print(f"error: --at {args.at!r} is not an ISO-8601 time like 2026-11-23T10:00",
              file=sys.stderr)
        return 2
    try:
        plan = resolve(config, args.to, args.caller or "", instant, args.press or "")
    except UnknownNumber as exc:
        if args.json:
            print(json.dumps({"number": args.to, "error": str(exc), "steps": []}))
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({**plan.as_json(), "recording": recording_json(config, plan)},
                         indent=2))
    else:
        print(render(plan, config))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    route = sub.add_parser("route", help="dry run of one inbound call: the steps, and why")
    route.add_argument("config")
    route.add_argument("--to", required=True, help="the number called (DID or internal)")
    route.add_argument("--from", dest="caller", help="the caller's number")
    route.add_argument("--at", help="when (ISO-8601; without offset: the system time zone)")
    route.add_argument("--press", help="keys the caller presses at voice menus, in order")
    route.add_argument("--json", action="store_true", help="print the plan as JSON")
    route.set_defaults(func=cmd_route)
