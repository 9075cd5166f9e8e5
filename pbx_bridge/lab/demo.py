"""`pbx-bridge lab demo`: a real Asterisk, two real SIP phones and a carrier, end to end.

Self-contained on purpose: the DID table lives here until the routing of later issues drives
the FastAGI answers from the YAML configuration. Everything started here is stopped here,
also on Ctrl-C or an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog

from pbx_bridge.delivery.naming import CallFacts
from pbx_bridge.lab.ami import AmiClient, AmiError, event_is
from pbx_bridge.lab.demo_delivery import DemoDeliveryError, deliver_recordings
from pbx_bridge.lab.provision import ProvisionError, provision
from pbx_bridge.lab.recordings import RecordingListener, wav_stats
from pbx_bridge.lab.runner import AsteriskLab, LabError
from pbx_bridge.lab.sipp import (
    SipAccount,
    SippError,
    SippPhone,
    carrier_call,
    carrier_trunk_conf,
    phone_endpoint_conf,
)
from pbx_bridge.pbx.asterisk.fastagi import AgiServer, AgiSession

PHONES = {"2001": "Alice", "2002": "Bob"}
# DID -> phone; the third sample DID is deliberately unknown.
DIDS = {"15551230001": "2001", "15551230002": "2002"}
SAMPLE_CALLS = (
    ("15551230001", "15559876543"),
    ("15551230002", "15557654321"),
    ("15551239999", "15550001111"),
)


@dataclass
class CallReport:
    did: str
    caller: str
    route: str = "-"
    answered_by: str = "-"
    status: str = "-"
    recording: str = "-"
    seconds: float = 0.0
    rms: float = 0.0
    started: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    notes: list[str] = field(default_factory=list)


def _dialplan(agi_port: int, recordings: str, post_command: str) -> str:
    # The AGI answer is a variable, then the dialplan acts on it: the FastAGI session ends at
    # once instead of staying open for the whole call (notes/asterisk-lab.md §3.1).
    return f"""
[pbx-bridge-inbound]
exten => _X.,1,NoOp(DID ${{EXTEN}} from ${{CALLERID(num)}})
 same => n,AGI(agi://127.0.0.1:{agi_port}/route,${{EXTEN}})
 same => n,GotoIf($["${{ROUTE_DIAL}}" = ""]?noroute)
 same => n,MixMonitor({recordings}/${{UNIQUEID}}.wav,,{post_command})
 same => n,Dial(${{ROUTE_DIAL}},20)
 same => n,Hangup()
 same => n(noroute),Hangup(1)
"""


async def _place(
    lab: AsteriskLab,
    ami: AmiClient,
    carrier: SipAccount,
    listener: RecordingListener,
    report: CallReport,
    talk: float,
) -> None:
    mark = ami.mark()
    report.started = datetime.now(UTC)
    result = await carrier_call(
        carrier, lab.sip_port, report.did, report.caller, talk, lab.run_dir / "sipp"
    )
    report.status = (
        "answered" if result.answered else f"not answered (sipp exit {result.returncode})"
    )
    try:
        hangup = await ami.wait_for(
            lambda m: m.event == "Hangup" and m.get("Channel", "").startswith("PJSIP/carrier-"),
            5,
            since=mark,
        )
        report.notes.append(f"carrier hangup cause {hangup.get('Cause')} {hangup.get('Cause-txt')}")
    except (TimeoutError, AmiError) as exc:
        report.notes.append(f"no Hangup event: {exc}")
    if not result.answered:
        return
    dial_end = await ami.wait_for(event_is("DialEnd", DialStatus="ANSWER"), 5, since=mark)
    endpoint = dial_end.get("DestChannel", "").removeprefix("PJSIP/").rsplit("-", 1)[0]
    report.answered_by = f"{endpoint} ({PHONES.get(endpoint, '?')})"
    path = await listener.wait(timeout=10)
    stats = wav_stats(lab.host_path(path))
    report.recording = str(lab.host_path(path))
    report.seconds, report.rms = stats.seconds, stats.rms


async def _demo(lab: AsteriskLab, carrier: SipAccount, talk: float) -> list[CallReport]:
    reports = {did: CallReport(did, caller) for did, caller in SAMPLE_CALLS}

    async def route(session: AgiSession) -> None:
        did = session.args[0] if session.args else ""
        target = DIDS.get(did)
        reports[did].route = f"PJSIP/{target}" if target else "no route: hang up"
        if target:
            await session.set_variable("ROUTE_DIAL", f"PJSIP/{target}")

    phones: list[SippPhone] = []
    async with AgiServer({"route": route}) as agi, RecordingListener() as listener:
        lab.write_include("extensions", _dialplan(agi.port, lab.layout.recordings,
                                                  listener.post_command()))
        accounts = [SipAccount.generate(number) for number in PHONES]
        lab.write_include("pjsip", "".join(phone_endpoint_conf(a) for a in accounts))
        print("starting Asterisk ...", flush=True)
        ready = await asyncio.to_thread(lab.start)
        print(f"Asterisk up: AMI FullyBooted {ready:.2f} s after start "
              f"(SIP 127.0.0.1:{lab.sip_port}, AMI {lab.ami_port}, FastAGI {agi.port})")
        ami = await AmiClient.connect("127.0.0.1", lab.ami_port, lab.ami_user, lab.ami_secret)
        try:
            for account in accounts:
                phone = SippPhone(account, lab.sip_port, lab.run_dir / "sipp")
                phones.append(phone)
                started = time.monotonic()
                await phone.register(ami)
                print(f"phone {account.username} ({PHONES[account.username]}) registered in "
                      f"{time.monotonic() - started:.2f} s from 127.0.0.1:{phone.sip_port}")
            for did, caller in SAMPLE_CALLS:
                print(f"carrier calls DID {did} from {caller} (talks {talk:.1f} s) ...",
                      flush=True)
                await _place(lab, ami, carrier, listener, reports[did], talk)
        finally:
            await asyncio.gather(*(phone.stop() for phone in phones))
            await ami.close()
    return list(reports.values())


def _print_reports(reports: list[CallReport]) -> None:
    print("\nwhat happened:")
    for r in reports:
        print(f"- DID {r.did} from {r.caller}: route {r.route}; {r.status}; "
              f"answered by {r.answered_by}")
        if r.recording != "-":
            print(f"    recording {r.recording}: {r.seconds:.2f} s, RMS {r.rms:.0f}")
        for note in r.notes:
            print(f"    {note}")


def _deliver(config: Path, method: str, reports: list[CallReport]) -> int:
    recordings = [(Path(r.recording), CallFacts("Recording", r.caller, "", r.did, r.started))
                  for r in reports if r.recording != "-"]
    print(f"\ndelivering {len(recordings)} recordings with {config}'s method {method!r} ...")
    try:
        lines = deliver_recordings(config, method, recordings)
    except DemoDeliveryError as exc:
        print(f"pbx-bridge lab demo: {exc}")
        return 1
    print(f"delivery log (also: pbx-bridge deliveries {config}):")
    for line in lines:
        print(f"  {line}")
    return 0 if lines and all(" delivered " in line for line in lines if line[0] == "#") else 1


def run_demo(root: Path | None, talk_seconds: float = 3.0, config: Path | None = None,
             deliver_to: str = "recordings-local") -> int:
    # The demo prints its own story; library info logs would interleave with it.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        result = provision(root, say=lambda text: print(text, flush=True))
    except ProvisionError as exc:
        print(f"pbx-bridge lab demo: {exc}")
        return 1
    print(f"Asterisk root {result.root} ({result.asterisk_version}), "
          f"{'reused' if result.reused else 'provisioned'} in {result.seconds:.2f} s")
    carrier = SipAccount.generate("carrier")
    lab = AsteriskLab(result.root, extra_config={"pjsip.conf": carrier_trunk_conf(carrier)})
    try:
        reports = asyncio.run(_demo(lab, carrier, talk_seconds))
    except (LabError, SippError, AmiError, TimeoutError, OSError) as exc:
        print(f"pbx-bridge lab demo: {exc}")
        return 1
    finally:
        with contextlib.suppress(LabError):
            lab.stop()
    _print_reports(reports)
    print(f"\nAsterisk stopped; run folder kept: {lab.run_dir}")
    return _deliver(config, deliver_to, reports) if config is not None else 0
