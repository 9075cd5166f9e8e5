"""`pbx-bridge lab demo --config CONFIG`: the config's own office on a real Asterisk.

1. the Asterisk root is provisioned (or reused); each `env:` secret of the config gets a value
   generated for this run, in this process's environment only (never printed);
2. the Asterisk files are generated from the config (the `pbx-bridge dialplan` functions, AGI on
   a free port) and the lab Asterisk starts with them; the bridge's parts run in this process
   on the same config: the FastAGI call router and the delivery worker, with the config's store;
3. sipp phones register as the config's SIP accounts (and user apps) with those credentials;
4. a sipp carrier places the sample calls of `demo_plan.sample_calls` (the router's clock
   injected per call, said so), keys pressed with AMI PlayDTMF;
5. what happened is printed per call, then the delivery log of this run's files.

Exit 0 only when every call went as the resolver said it would and every file was delivered.
Everything started here is stopped here, also on Ctrl-C or an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import Any

from pbx_bridge.config.external import external_errors
from pbx_bridge.config.load import load_config
from pbx_bridge.config.model import Config
from pbx_bridge.lab.ami import AmiClient, AmiError
from pbx_bridge.lab.demo_bridge import (
    DemoBridge,
    StepLog,
    phone_accounts,
    trunk_endpoint,
    write_dialplan,
)
from pbx_bridge.lab.demo_calls import CallReport, PhoneSet, describe, place
from pbx_bridge.lab.demo_delivery import delivery_log, wait_settled
from pbx_bridge.lab.demo_plan import (
    SampleCall,
    endpoints,
    first_scenarios,
    give_secrets,
    sample_calls,
)
from pbx_bridge.lab.provision import ProvisionError, provision
from pbx_bridge.lab.runner import AsteriskLab, LabError
from pbx_bridge.lab.sipp import SipAccount, SippError, carrier_trunk_conf
from pbx_bridge.store import Store, StoreUnavailable, open_store

DELIVERY_TIMEOUT = 20.0
FEED_TIMEOUT = 10.0


def say(text: str = "") -> None:
    print(text, flush=True)


def _when(call: SampleCall) -> str:
    return call.at.strftime("%A %Y-%m-%d %H:%M %Z")


class DemoFailed(Exception):
    """The demo could not run (not: a call went otherwise than expected)."""


def _load(config_path: Path) -> Config:
    loaded = load_config(config_path)
    if loaded.config is None or loaded.errors:
        first = loaded.errors[0] if loaded.errors else "unreadable"
        raise DemoFailed(f"{config_path} does not pass check: {first}")
    return loaded.config


async def _calls(config: Config, lab: AsteriskLab, bridge: DemoBridge, steps: StepLog,
                 carrier: SipAccount, calls: list[SampleCall]) -> list[CallReport]:
    ami = await AmiClient.connect("127.0.0.1", lab.ami_port, lab.ami_user, lab.ami_secret)
    accounts = phone_accounts(config)
    names = {ep: cm.name for ep, cm in endpoints(config).items() if ep in accounts}
    phones = PhoneSet(accounts, lab.sip_port, ami, lab.run_dir / "sipp")
    reports: list[CallReport] = []
    try:
        started = time.monotonic()
        await phones.ensure(first_scenarios(calls, list(accounts)))
        say(f"{len(accounts)} sipp phones registered as the config's accounts in "
            f"{time.monotonic() - started:.2f} s (with the generated passwords):")
        for endpoint, cm_name in names.items():
            say(f"  {cm_name} (user {endpoint}): {phones.describe(endpoint)}")
        for number, call in enumerate(calls, 1):
            changed = await phones.ensure(call.phones)
            say(f"\ncall {number}: {call.title}")
            say(f"  carrier {call.caller} -> {call.did}; router clock {_when(call)} (injected)"
                + (f"; presses {call.keys}" if call.keys else ""))
            for endpoint in changed:
                say(f"  {names.get(endpoint, endpoint)} re-registered: "
                    f"{phones.describe(endpoint)}")
            try:
                report = await place(call, bridge, ami, carrier, trunk_endpoint(config),
                                     lab.sip_port, lab.run_dir / "sipp", steps.steps)
            except (TimeoutError, AmiError, SippError) as exc:  # this call; the next may work
                report = CallReport(call, problems=[f"{type(exc).__name__}: {exc}"])
            reports.append(report)
            for line in describe(report, names):
                say(f"  {line}")
            say("  " + ("as expected" if not report.problems
                        else "NOT AS EXPECTED: " + "; ".join(report.problems)))
    finally:
        await phones.stop()
        await ami.close()
    return reports


def _quiet_orphans(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A registration cut short (Ctrl-C) leaves its AMI waiter behind, which fails when the
    connection closes: not news. Everything else goes to the default handler."""
    if isinstance(context.get("exception"), AmiError) and "never retrieved" in str(
            context.get("message", "")):
        return
    loop.default_exception_handler(context)


async def _run(config: Config, lab: AsteriskLab, store: Store, carrier: SipAccount,
               calls: list[SampleCall]) -> tuple[list[CallReport], list[str], bool]:
    steps = StepLog()
    steps.configure()
    asyncio.get_running_loop().set_exception_handler(_quiet_orphans)
    bridge = DemoBridge(config, store, lab, calls[0].at)
    await bridge.start()
    try:
        files, problems = write_dialplan(config, lab, f"127.0.0.1:{bridge.agi.port}")
        if problems:
            raise DemoFailed("the dialplan can't be generated: " + "; ".join(problems))
        say(f"generated from {config.path.name}: {', '.join(files)} (+ sounds/), "
            f"FastAGI 127.0.0.1:{bridge.agi.port}")
        ready = await asyncio.to_thread(lab.start)
        await bridge.follow_calls()
        say(f"Asterisk up: FullyBooted {ready:.2f} s after start (SIP 127.0.0.1:{lab.sip_port}, "
            f"AMI {lab.ami_port} as {lab.ami_user!r}, run folder {lab.run_dir}); call router, "
            "AMI events and delivery worker running in this process")
        try:
            reports = await _calls(config, lab, bridge, steps, carrier, calls)
            try:  # recordings by the contact methods' own flags: queued by the AMI side
                policy_ids = await bridge.calls_settled(FEED_TIMEOUT)
            except TimeoutError:
                raise DemoFailed("the AMI side did not see every call end") from None
        finally:
            await bridge.stop_following()  # before Asterisk goes: no reconnect attempts
            await asyncio.to_thread(lab.stop)
        ids = [job_id for report in reports for job_id in report.job_ids] + policy_ids
        jobs = await wait_settled(bridge.worker, store, ids, DELIVERY_TIMEOUT)
        delivered = bool(jobs) and all(job.state == "delivered" for job in jobs) and \
            {job.id for job in jobs} >= set(ids)
        return reports, delivery_log(store, jobs), delivered
    finally:
        await bridge.stop()


def run_demo(root: Path | None, config_path: Path, *, keep: bool = False) -> int:
    started = time.monotonic()
    try:
        config = _load(config_path)
    except DemoFailed as exc:
        say(f"pbx-bridge lab demo: {exc}")
        return 1
    try:
        result = provision(root, say=say)
    except ProvisionError as exc:
        say(f"pbx-bridge lab demo: {exc}")
        return 1
    say(f"Asterisk root {result.root} ({result.asterisk_version}), "
        f"{'reused' if result.reused else 'provisioned'} in {result.seconds:.2f} s")
    generated = give_secrets(config, os.environ)
    say(f"secrets generated for this run (values in this process's environment only): "
        f"{', '.join(generated) or 'none'}")
    refused = external_errors(config)
    if refused:
        for problem in refused:
            say(str(problem))
        say(f"pbx-bridge lab demo: {config_path} can't run ({len(refused)} problems above)")
        return 1
    calls = sample_calls(config)
    try:
        store = open_store(config.system.store)
    except StoreUnavailable as exc:
        say(f"pbx-bridge lab demo: system.store: {exc}")
        return 1
    say(f"store: {config.system.store} (the config's own: `pbx-bridge deliveries "
        f"{config_path}` shows the log again)")
    carrier = SipAccount.generate(trunk_endpoint(config))
    ami = config.system.pbx.ami if config.system.pbx else None
    lab = AsteriskLab(result.root, extra_modules=("app_read", "app_record"),
                      extra_config={"pjsip.conf": carrier_trunk_conf(carrier)},
                      ami_user=ami.username if ami and ami.username else "pbxbridge")
    if ami is not None and ami.secret is not None:
        lab.ami_secret = ami.secret.resolve()  # the bridge's AMI account, as configured
    ok = False
    try:
        reports, log, delivered = asyncio.run(_run(config, lab, store, carrier, calls))
        ok = delivered and all(not r.problems for r in reports)
    except (DemoFailed, LabError, SippError, AmiError, TimeoutError, OSError) as exc:
        say(f"pbx-bridge lab demo: {type(exc).__name__}: {exc}")
        return 1
    finally:
        with contextlib.suppress(LabError):
            lab.stop()
        store.close()
        if ok and not keep:
            with contextlib.suppress(LabError):
                lab.remove_run_dir()
    say(f"\ndelivery log of this run ({config.system.store}; %{{call_time}} in the names is "
        "the real time of the call, the injected clock only chose the route):")
    for line in log or ["(no files were handed to delivery)"]:
        say(f"  {line}")
    failed = [r for r in reports if r.problems]
    say(f"\n{len(reports) - len(failed)}/{len(reports)} calls as expected; "
        f"{'every file delivered' if delivered else 'NOT every file delivered'}; "
        f"Asterisk, phones, router and worker stopped; {time.monotonic() - started:.1f} s")
    if not ok or keep:
        say(f"run folder kept: {lab.run_dir}")
    return 0 if ok else 1
