"""What the demo will do with a config, decided before anything starts. Pure (no I/O).

The sample calls come from the config itself: its first call flow with a time router is called
in open hours (pressing the menu key that leads to a ring group) and in closed hours, its first
direct DID is called while the phone answers and while it is busy, and a number that is not a
DID is called last. Each call's expected outcome comes from the project's own resolver
(`pbx_bridge.routing.resolve`), so the demo checks the real call against the dry run.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pbx_bridge.config.external import iter_secrets
from pbx_bridge.config.model import CallFlow, Config, ContactMethod
from pbx_bridge.pbx.asterisk.dialplan import names
from pbx_bridge.routing.plan import Plan, Step
from pbx_bridge.routing.resolve import resolve

ANSWER, NOANSWER, BUSY = "phone_answer.xml", "phone_noanswer.xml", "phone_busy.xml"
BASE_DAY = date(2026, 11, 24)  # a Tuesday: the week the demo looks at starts here
RINGING = ("contact_method", "ring_group", "queue")
Outcome = Literal["answered", "voicemail", "refused"]
CALLERS = ("33612345678", "33698765432", "33611223344", "33655667788", "33699887766")


@dataclass(frozen=True)
class SampleCall:
    title: str
    did: str
    caller: str
    at: datetime  # the call router's clock during this call
    expect: Outcome
    keys: str = ""  # pressed at voice menus, in order (AMI PlayDTMF)
    answered_by: str = ""  # the endpoint expected to answer
    phones: dict[str, str] = field(default_factory=dict)  # endpoint -> sipp scenario
    recorded: bool = False  # a call recorder is on the path: one recording file
    plan: Plan | None = None
    talk: float = 4.0  # seconds the carrier keeps the call up after the answer

    @property
    def files(self) -> int:
        """Files this call hands to delivery (a call recording, a voicemail)."""
        return int(self.recorded) + int(self.expect == "voicemail")


def endpoints(config: Config) -> dict[str, ContactMethod]:
    """Every PJSIP endpoint the generated files define, as a sipp phone can register."""
    return {names.endpoint(cm): cm for cm in config.contact_methods
            if cm.kind in ("sip_account", "app_configuration")}


def give_secrets(config: Config, environ: MutableMapping[str, str]) -> list[str]:
    """A generated value for each `env:` secret of the config, set in `environ`; the names."""
    wanted = sorted({s.reference[4:] for s in iter_secrets(config)
                     if s.reference.startswith("env:") and not s.inline and s.reference[4:]})
    for name in wanted:
        environ[name] = secrets.token_urlsafe(18)
    return wanted


def first_action(plan: Plan) -> Step | None:
    """The first step that rings, records a message or ends the call."""
    return next((s for s in plan.steps if s.type in (*RINGING, "voicemail", "hangup", "fax")),
                None)


def _candidates(config: Config) -> Iterator[datetime]:
    zone = ZoneInfo(config.system.timezone)
    for offset in range(14):
        for hour in (10, 15, 3, 22):
            yield datetime.combine(BASE_DAY + timedelta(days=offset), time(hour), zone)


def _holidays(config: Config, flow: CallFlow) -> Iterator[datetime]:
    zone = ZoneInfo(config.system.timezone)
    for module in flow.modules.values():
        schedule = config.schedule(module.schedule) if module.type == "time_router" else None
        for day in schedule.holidays if schedule else ():
            yield datetime.combine(day, time(10), zone)


def _ringing_after(plan: Plan, reachable: dict[str, ContactMethod]) -> Step | None:
    step = first_action(plan)
    if step is None or step.type != "ring_group":
        return None
    return step if any(d in reachable for d in step.destinations) else None


def _flow_calls(config: Config, flow: CallFlow, callers: Iterator[str]) -> list[SampleCall]:
    by_name = {cm.name: ep for ep, cm in endpoints(config).items()}
    menus = [m for m in flow.modules.values() if m.type == "voice_menu"]
    keys = sorted({k for m in menus for k in m.options}) or [""]
    calls: list[SampleCall] = []
    opened = closed = None
    for at in _candidates(config):
        plan = resolve(config, flow.number, "", at)
        is_open = any(s.type == "time_router" and "open:" in s.reason for s in plan.steps)
        if is_open and opened is None:
            opened = at
        if not is_open and closed is None:
            closed = at
    closed = next(_holidays(config, flow), closed)
    for key in keys if opened else ():
        assert opened is not None
        plan = resolve(config, flow.number, "", opened, key)
        group = _ringing_after(plan, by_name)
        if group is None:
            continue
        reachable = [by_name[d] for d in group.destinations if d in by_name]
        answerer = reachable[1] if len(reachable) > 1 else reachable[0]
        pressed = f", the caller presses {key}" if key else ""
        calls.append(SampleCall(
            f"{flow.name} in open hours{pressed}, ring group {group.module}", flow.number,
            next(callers), opened, "answered", keys=key, answered_by=answerer,
            phones={ep: ANSWER if ep == answerer else NOANSWER for ep in reachable},
            recorded=any(s.type == "call_recorder" for s in plan.steps), plan=plan, talk=6.0))
        break
    if closed is not None:
        plan = resolve(config, flow.number, "", closed)
        step = first_action(plan)
        if step is not None and step.type == "voicemail":
            why = "a holiday" if closed.date() in {h.date() for h in _holidays(config, flow)} \
                else "closed hours"
            calls.append(SampleCall(f"{flow.name} on {why}: voicemail {step.module}",
                                    flow.number, next(callers), closed, "voicemail",
                                    recorded=any(s.type == "call_recorder" for s in plan.steps),
                                    plan=plan))
    return calls


def _direct_calls(config: Config, cm: ContactMethod, at: datetime,
                  callers: Iterator[str]) -> list[SampleCall]:
    endpoint = names.endpoint(cm)
    did = cm.did_numbers[0]
    plan = resolve(config, did, "", at)
    calls = [SampleCall(f"direct DID of {cm.name}, answered", did, next(callers), at,
                        "answered", answered_by=endpoint, phones={endpoint: ANSWER}, plan=plan,
                        talk=3.0)]
    if plan.steps and plan.steps[-1].type == "voicemail":
        calls.append(SampleCall(f"direct DID of {cm.name} while busy: voicemail", did,
                                next(callers), at, "voicemail", phones={endpoint: BUSY},
                                plan=plan))
    return calls


def unknown_number(config: Config) -> str:
    """A number in the DIDs' range that is not one of them."""
    base = int(config.numbers[0]) if config.numbers and config.numbers[0].isdigit() \
        else 33100000000
    taken = set(config.numbers)
    return next(str(n) for n in range(base + 99, base + 10_000) if str(n) not in taken)


def sample_calls(config: Config) -> list[SampleCall]:
    callers = iter(CALLERS)
    calls: list[SampleCall] = []
    flow = next((f for f in config.call_flows
                 if any(m.type == "time_router" for m in f.modules.values())),
                config.call_flows[0] if config.call_flows else None)
    if flow is not None:
        calls += _flow_calls(config, flow, callers)
    weekday = datetime.combine(BASE_DAY, time(10),
                               ZoneInfo(config.system.timezone))
    direct = next((cm for cm in endpoints(config).values() if cm.did_numbers), None)
    if direct is not None:
        calls += _direct_calls(config, direct, weekday, callers)
    calls.append(SampleCall("a number that is not a DID: refused", unknown_number(config),
                            next(callers), weekday, "refused", talk=1.0))
    return calls


def first_scenarios(calls: list[SampleCall], all_endpoints: list[str]) -> dict[str, str]:
    """Each phone's scenario at registration: what the first call ringing it needs (so phones
    re-register only when a later call needs another), else ringing without an answer."""
    wanted: dict[str, str] = {}
    for call in calls:
        for endpoint, scenario in call.phones.items():
            wanted.setdefault(endpoint, scenario)
    return {ep: wanted.get(ep, NOANSWER) for ep in all_endpoints}
