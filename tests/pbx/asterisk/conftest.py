"""A real Asterisk running the files `pbx-bridge dialplan` generates for files/lab.yaml, our
FastAGI call router, sipp phones with the config's credentials, and a sipp carrier both ways.

One Asterisk for the session (separate from the lab's own `asterisk_lab`): its include folder
holds the generated files, its operator-side pjsip.conf defines the carrier trunk (inbound DIDs
to `pbx-bridge-inbound`, outbound calls to a sipp UAS on `uas_port`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pbx_bridge.config.load import load_config
from pbx_bridge.config.model import Config
from pbx_bridge.lab.ami import AmiClient, event_is
from pbx_bridge.lab.pytest_plugin import CALLER, LabLoop
from pbx_bridge.lab.runner import AsteriskLab
from pbx_bridge.lab.sipp import (
    SCENARIOS,
    CarrierResult,
    SipAccount,
    SippPhone,
    SippProcess,
    carrier_call,
    carrier_trunk_conf,
    free_media_port,
    free_udp_port,
)
from pbx_bridge.pbx.asterisk.call_routing import CallRouter, RecordingsDir
from pbx_bridge.pbx.asterisk.dialplan import render, sip_passwords
from pbx_bridge.pbx.asterisk.dialplan.sounds import prepare
from pbx_bridge.pbx.asterisk.fastagi import AgiServer
from pbx_bridge.store import Store, open_store

LAB_CONFIG = Path(__file__).parent / "files" / "lab.yaml"
NEW_YORK = ZoneInfo("America/New_York")
OPEN = datetime(2026, 11, 24, 10, 0, tzinfo=NEW_YORK)  # a Tuesday morning
CLOSED = datetime(2026, 11, 24, 22, 0, tzinfo=NEW_YORK)


def trunk_conf(carrier: SipAccount, uas_port: int) -> str:
    """The operator's trunk: DIDs in (identified by its auth user), calls out to a sipp UAS."""
    return carrier_trunk_conf(carrier, uas_port=uas_port)


@dataclass
class RoutingLab:
    lab: AsteriskLab
    ami: AmiClient
    agi: AgiServer
    router: CallRouter
    store: Store
    config: Config
    carrier: SipAccount
    uas_port: int
    workdir: Path
    processes: list[SippProcess] = field(default_factory=list)

    def account(self, username: str) -> SipAccount:
        cm = next(c for c in self.config.sip_accounts if c.username == username)
        assert cm.password is not None
        return SipAccount(username, cm.password.resolve())

    async def phone(self, username: str, scenario: str = "phone_answer.xml") -> SippPhone:
        phone = SippPhone(self.account(username), self.lab.sip_port, self.workdir, scenario)
        self.processes.append(phone)
        await phone.register(self.ami)
        return phone

    async def phones(self, **scenarios: str) -> list[SippPhone]:
        """`phones(lab102="phone_busy.xml", ...)`: registered in parallel."""
        return list(await asyncio.gather(*(self.phone(user, scenario)
                                           for user, scenario in scenarios.items())))

    async def carrier_call(self, did: str, talk: float) -> CarrierResult:
        return await carrier_call(self.carrier, self.lab.sip_port, did, CALLER, talk,
                                  self.workdir)

    async def phone_call(self, username: str, number: str, pai: str,
                         talk: float = 2.0) -> tuple[int, str]:
        """A phone calls out; returns sipp's exit status and the SIP messages it saw."""
        account = self.account(username)
        log = self.workdir / f"call-{username}-{secrets.token_hex(3)}.msg.log"
        args = [f"127.0.0.1:{self.lab.sip_port}", "-i", "127.0.0.1",
                "-p", str(free_udp_port()), "-mp", str(free_media_port()),
                "-sf", str(SCENARIOS / "phone_call.xml"), "-s", number,
                "-set", "cli", username, "-set", "pai", pai,
                "-au", username, "-ap", account.password, "-d", str(int(talk * 1000)),
                "-m", "1", "-timeout", "30s", "-timeout_error", "-nostdin",
                "-trace_msg", "-message_file", str(log), "-trace_err"]
        proc = SippProcess(log.stem, args, self.workdir)
        self.processes.append(proc)
        await proc.start()
        rc = await proc.wait(40)
        return rc, log.read_text(errors="replace") if log.exists() else ""

    async def carrier_answers(self) -> tuple[SippProcess, Path]:
        """The carrier's side of outbound calls: a sipp UAS on `uas_port` answering one call."""
        log = self.workdir / f"carrier-uas-{secrets.token_hex(3)}.msg.log"
        args = ["-i", "127.0.0.1", "-p", str(self.uas_port), "-mp", str(free_media_port()),
                "-sf", str(SCENARIOS / "phone_answer.xml"), "-m", "1", "-timeout", "30s",
                "-nostdin", "-trace_msg", "-message_file", str(log), "-trace_err"]
        proc = SippProcess(log.stem, args, self.workdir)
        self.processes.append(proc)
        await proc.start()
        return proc, log

    async def stop_processes(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.processes))
        self.processes.clear()

    async def close(self) -> None:
        await self.stop_processes()
        await self.ami.close()
        await self.agi.close()

    def shut_down(self, lab_loop: LabLoop) -> None:
        """End of the session: phones, AMI and AGI closed, Asterisk stopped, run folder gone."""
        with contextlib.suppress(Exception):
            lab_loop.run(self.close())
        self.lab.stop()
        self.store.close()
        if not os.environ.get("PBX_BRIDGE_LAB_KEEP"):
            self.lab.remove_run_dir()

    async def press(self, digit: str, since: int, timeout: float = 15.0) -> int:
        """The carrier's caller presses `digit` once a voice menu listens (AMI PlayDTMF);
        returns the event position after that menu, to wait for the next one."""
        read = await self.ami.wait_for(event_is("Newexten", Application="Read"), timeout,
                                       since=since)
        await self.ami.action("PlayDTMF", {"Channel": read["Channel"], "Digit": digit,
                                           "Duration": "200", "Receive": "true"})
        return self.ami.events.index(read, since) + 1


def routing_config(lab: AsteriskLab) -> Config:
    loaded = load_config(LAB_CONFIG)
    assert loaded.ok, [str(p) for p in loaded.errors]
    return loaded.config


async def start_lab(root: Path, workdir: Path,
                    config_for: Callable[[AsteriskLab], Config] = routing_config,
                    lab_type: type[RoutingLab] = RoutingLab,
                    extras: dict[str, Callable[[AsteriskLab], Awaitable[object]]] | None = None,
                    ) -> RoutingLab:
    """A lab Asterisk on the dialplan `pbx-bridge dialplan` renders from `config_for(lab)`,
    our FastAGI call router, and a test AMI client; `extras` are made once Asterisk is up."""
    carrier = SipAccount.generate("carrier")
    uas_port = free_udp_port()
    lab = AsteriskLab(root, extra_config={"pjsip.conf": trunk_conf(carrier, uas_port)},
                      extra_modules=("app_read", "app_record"))
    config = config_for(lab)
    store = open_store(f"sqlite:///{workdir / 'store.db'}")
    router = CallRouter(config, store, clock=lambda: OPEN,
                        recordings=RecordingsDir(lab.layout.recordings, lab.recordings_dir))
    agi = await AgiServer(router.routes).start()
    passwords, problems = sip_passwords(config)
    sounds = lab.include_dir / "sounds"
    problems += prepare(config, sounds)
    assert not problems, problems
    files = render(config, passwords, lab.path_in_root(sounds), agi=f"127.0.0.1:{agi.port}")
    for name, text in files.items():
        (lab.include_dir / name).write_text(text)
    try:
        await asyncio.to_thread(lab.start)
        ami = await AmiClient.connect("127.0.0.1", lab.ami_port, lab.ami_user, lab.ami_secret)
        made = {name: await make(lab) for name, make in (extras or {}).items()}
    except BaseException:
        await agi.close()
        lab.stop()
        raise
    return lab_type(lab, ami, agi, router, store, config, carrier, uas_port,
                    lab.run_dir / "sipp", **made)


@pytest.fixture(scope="session")
def routing_session(lab_root: Path, lab_loop: LabLoop,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoutingLab]:
    rl = lab_loop.run(start_lab(lab_root, tmp_path_factory.mktemp("routing")))
    print(f"\nrouting lab Asterisk {rl.lab.name}: ready in {rl.lab.ready_seconds:.3f} s")
    try:
        yield rl
    finally:
        rl.shut_down(lab_loop)


@pytest.fixture
def routing_lab(routing_session: RoutingLab, lab_loop: LabLoop) -> Iterator[RoutingLab]:
    """The session's routing lab, with the clock at open hours and no phone left after."""
    routing_session.router.clock = lambda: OPEN
    yield routing_session
    lab_loop.run(routing_session.stop_processes())
