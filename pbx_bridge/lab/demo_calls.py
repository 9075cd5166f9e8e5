"""The demo's sample calls on the real Asterisk: sipp phones as the config's SIP accounts, one
sipp carrier call per sample, keys pressed with AMI PlayDTMF, and what happened read from AMI
events and the router's own decisions. Waits are on AMI events, process exits and the
router's `finished` round, each with a timeout; never on sleeps."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from pbx_bridge.lab.ami import AmiClient, event_is
from pbx_bridge.lab.demo_bridge import DemoBridge, FileReport
from pbx_bridge.lab.demo_plan import ANSWER, BUSY, SampleCall
from pbx_bridge.lab.sipp import CarrierResult, SipAccount, SippPhone, carrier_call
from pbx_bridge.pbx.asterisk.ami_protocol import AmiMessage

SCENARIO_WORDS = {ANSWER: "answers", BUSY: "busy"}
MIN_RMS, MIN_SECONDS = 100.0, 1.0  # speech, not silence; more than a blip
CAUSES = {"1": "unallocated number", "16": "normal clearing", "17": "user busy",
          "21": "call rejected"}


class PhoneSet:
    """One registered sipp phone per endpoint; re-registered when a call needs another
    behaviour (answer, ring without answering, busy)."""

    def __init__(self, accounts: dict[str, SipAccount], sip_port: int, ami: AmiClient,
                 workdir: Path) -> None:
        self.accounts = accounts
        self.sip_port = sip_port
        self.ami = ami
        self.workdir = workdir
        self.phones: dict[str, SippPhone] = {}
        self.scenarios: dict[str, str] = {}

    async def ensure(self, scenarios: dict[str, str]) -> list[str]:
        """Make each phone behave as asked; returns the endpoints (re-)registered."""
        changes = {ep: sc for ep, sc in scenarios.items()
                   if ep in self.accounts and self.scenarios.get(ep) != sc}
        await asyncio.gather(*(self.phones.pop(ep).stop() for ep in changes
                               if ep in self.phones))
        for endpoint, scenario in changes.items():
            self.phones[endpoint] = SippPhone(self.accounts[endpoint], self.sip_port,
                                              self.workdir, scenario)
            self.scenarios[endpoint] = scenario
        await asyncio.gather(*(self.phones[ep].register(self.ami) for ep in changes))
        return list(changes)

    def describe(self, endpoint: str) -> str:
        return SCENARIO_WORDS.get(self.scenarios.get(endpoint, ""), "rings, never answers")

    async def stop(self) -> None:
        await asyncio.gather(*(phone.stop() for phone in self.phones.values()),
                             return_exceptions=True)
        self.phones.clear()


@dataclass
class CallReport:
    call: SampleCall
    uniqueid: str = ""
    carrier: CarrierResult | None = None
    steps: list[dict[str, object]] = field(default_factory=list)
    legs: dict[str, str] = field(default_factory=dict)  # endpoint -> DialStatus
    hangup_cause: str = ""
    files: list[FileReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def answered_by(self) -> str:
        return next((ep for ep, status in self.legs.items() if status == "ANSWER"), "")

    @property
    def job_ids(self) -> list[int]:
        return [job.id for f in self.files for job in f.jobs]


def _endpoint(channel: str) -> str:
    return channel.split("/", 1)[-1].rsplit("-", 1)[0]


async def _carrier_channel(ami: AmiClient, trunk: str, since: int,
                           call: asyncio.Task[CarrierResult]) -> AmiMessage | None:
    def inbound(message: AmiMessage) -> bool:
        return (message.event == "Newchannel"
                and message.get("Channel", "").startswith(f"PJSIP/{trunk}-"))

    waiter = asyncio.ensure_future(ami.wait_for(inbound, 10, since=since))
    done, _ = await asyncio.wait({waiter, call}, timeout=10,
                                 return_when=asyncio.FIRST_COMPLETED)
    if waiter in done:
        return waiter.result()
    waiter.cancel()
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        await waiter
    with contextlib.suppress(TimeoutError):  # the carrier gave up first: the channel may exist
        return await ami.wait_for(inbound, 1, since=since)
    return None


async def _press(ami: AmiClient, uniqueid: str, keys: str, since: int) -> None:
    """Press each key once a voice menu of this call listens (Read), as the caller would."""
    for key in keys:
        read = await ami.wait_for(event_is("Newexten", Application="Read", Uniqueid=uniqueid),
                                  15, since=since)
        await ami.action("PlayDTMF", {"Channel": read["Channel"], "Digit": key,
                                      "Duration": "200", "Receive": "true"})
        since = ami.events.index(read, since) + 1


async def place(call: SampleCall, bridge: DemoBridge, ami: AmiClient, carrier: SipAccount,
                trunk: str, sip_port: int, workdir: Path,
                step_log: dict[str, list[dict[str, object]]]) -> CallReport:
    report = CallReport(call)
    bridge.now = call.at  # the router's clock for this call (and its `finished` round)
    mark = ami.mark()
    task = asyncio.create_task(carrier_call(carrier, sip_port, call.did, call.caller,
                                            call.talk, workdir))
    try:
        channel = await _carrier_channel(ami, trunk, mark, task)
        if channel is None:
            report.carrier = await task
            report.problems.append(f"no call reached Asterisk: {report.carrier.stderr}")
            return report
        report.uniqueid = channel["Uniqueid"]
        await _press(ami, report.uniqueid, call.keys, mark)
        report.carrier = await task
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    hangup = await ami.wait_for(event_is("Hangup", Uniqueid=report.uniqueid), 10, since=mark)
    report.hangup_cause = hangup.get("Cause", "")
    if call.files:
        report.files = await bridge.wait_finished(report.uniqueid, 10)
    report.steps = step_log.get(report.uniqueid, [])
    for event in ami.events[mark:]:
        if event.event == "DialEnd" and event.get("Uniqueid") == report.uniqueid:
            report.legs[_endpoint(event.get("DestChannel", ""))] = event.get("DialStatus", "")
    report.problems += expectation_problems(report)
    return report


def expectation_problems(report: CallReport) -> list[str]:
    """What differs from the call's expected outcome (empty: as expected)."""
    call, problems = report.call, []
    answered = report.carrier is not None and report.carrier.answered
    if call.expect == "refused":
        if answered:
            problems.append("expected a refusal, but the call was answered")
        if report.hangup_cause != "1":
            problems.append(f"expected hangup cause 1, got {report.hangup_cause or 'none'}")
    elif not answered:
        problems.append("the carrier's call was not answered")
    if call.expect == "answered" and report.answered_by != call.answered_by:
        problems.append(f"expected {call.answered_by} to answer, got "
                        f"{report.answered_by or 'nobody'}")
    if call.expect == "voicemail" and report.answered_by:
        problems.append(f"expected voicemail, but {report.answered_by} answered")
    taken = [(str(s.get("step")), str(s.get("module"))) for s in report.steps
             if s.get("event") == "call_step"]
    planned = [(s.type, s.module) for s in call.plan.steps] if call.plan else []
    if planned and (not taken or taken != planned[:len(taken)]):
        problems.append(f"route {taken} differs from the resolver's plan {planned}")
    kinds = sorted(f.kind for f in report.files)
    wanted = sorted(["call"] * call.recorded + ["voicemail"] * (call.expect == "voicemail"))
    if kinds != wanted:
        problems.append(f"expected files {wanted or 'none'}, got {kinds or 'none'}")
    for f in report.files:
        if f.stats is None:
            problems.append(f"{f.path.name}: unreadable ({f.error})")
        elif f.stats.seconds < MIN_SECONDS or f.stats.rms < MIN_RMS:
            problems.append(f"{f.path.name}: {f.stats.seconds:.2f} s, RMS {f.stats.rms:.0f}: "
                            "expected speech")
        if not f.jobs:
            problems.append(f"{f.path.name}: not queued for delivery")
    return problems


def describe(report: CallReport, names: dict[str, str]) -> list[str]:
    """The lines that tell what happened to one call (`names`: endpoint -> contact method)."""
    lines: list[str] = []
    route = " -> ".join(f"{s.get('step')} {s.get('module')}" for s in report.steps
                        if s.get("event") == "call_step")
    refusals = [str(s.get("reason")) for s in report.steps if s.get("event") == "call_refused"]
    if route:
        lines.append(f"route: {route}")
    for step in report.steps:  # the branches taken: the time router's verdict, a key
        reason = str(step.get("reason", ""))
        if step.get("event") == "call_step" and (step.get("step") == "time_router"
                                                 or "pressed" in reason):
            lines.append(f"  why {step.get('module')}: {reason.split('; ', 1)[-1]}")
    for reason in refusals:
        lines.append(f"refused by the router: {reason}")
    if report.legs:
        lines.append("rang: " + ", ".join(f"{names.get(ep, ep)} {status}"
                                          for ep, status in report.legs.items()))
    carrier = report.carrier
    if report.answered_by:
        lines.append(f"answered by {names.get(report.answered_by, report.answered_by)}")
    elif carrier is not None and carrier.answered:
        lines.append("answered by the voicemail")
    if carrier is not None and not carrier.answered:
        cause = report.hangup_cause
        lines.append(f"hangup cause {cause} ({CAUSES.get(cause, 'see Q.850')})")
    for f in report.files:
        what = "recording" if f.kind == "call" else f.kind
        stats = (f"{f.stats.seconds:.2f} s, RMS {f.stats.rms:.0f}" if f.stats
                 else f"unreadable: {f.error}")
        jobs = ", ".join(f"#{job.id} {job.method}" for job in f.jobs) or "no job"
        lines.append(f"{what} {f.path.name}: {stats}; queued as {jobs}")
    if carrier is not None:
        lines.append(f"carrier call: {carrier.seconds:.1f} s")
    return lines
