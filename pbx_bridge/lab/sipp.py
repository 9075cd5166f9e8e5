"""Real SIP phones and a real SIP carrier for the lab, played by SIPp (Debian `sip-tester`).

- `SippPhone`: one sipp process per phone. It REGISTERs with digest credentials, then answers
  any INVITE on the same port (the out-of-call scenario) with RTP audio from a pcap.
- `carrier_call`: one sipp process that INVITEs a DID (digest auth as the operator's trunk),
  talks for N seconds and hangs up; its exit status says whether the call was answered.

Processes run in the foreground (not `-bg`) so they are our children: we know the PID, can
await their exit and reap them. Readiness comes from AMI events (`ContactStatus`), never from
sleeping. The scenarios are package data under `pbx_bridge/lab/sipp/`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import shutil
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

import structlog

from pbx_bridge.lab.ami import AmiClient, Predicate
from pbx_bridge.pbx.asterisk.ami_protocol import AmiMessage

log = structlog.get_logger()

SCENARIOS = Path(__file__).with_name("sipp")
MEDIA_PORTS = (40000, 49990)  # away from Asterisk's RTP range (asterisk_config.RTP_START)
# Every sipp PID this process started: the test teardown checks none of them is left running.
STARTED_PIDS: list[int] = []


class SippError(Exception):
    """sipp is missing, exited early, or did not reach the expected state."""


@dataclass(frozen=True)
class SipAccount:
    username: str
    password: str

    @classmethod
    def generate(cls, username: str) -> SipAccount:
        return cls(username, secrets.token_urlsafe(12))


def phone_endpoint_conf(account: SipAccount, context: str = "pbx-bridge-phones") -> str:
    """PJSIP endpoint/auth/aor for one phone (what the generated pjsip file will hold)."""
    name = account.username
    return f"""
[{name}]
type = endpoint
context = {context}
disallow = all
allow = alaw,ulaw
direct_media = no
rtp_symmetric = yes
force_rport = yes
rewrite_contact = yes
dtmf_mode = rfc4733
auth = {name}
aors = {name}

[{name}]
type = auth
auth_type = userpass
username = {name}
password = {account.password}

[{name}]
type = aor
max_contacts = 1
remove_existing = yes
"""


def carrier_trunk_conf(account: SipAccount, context: str = "pbx-bridge-inbound",
                       uas_port: int | None = None) -> str:
    """The operator's DID trunk: identified by its auth user, since From is the caller; with
    `uas_port`, calls out go to a sipp UAS there (caller IDs in P-Asserted-Identity)."""
    conf = phone_endpoint_conf(account, context).replace(
        "dtmf_mode = rfc4733",
        "dtmf_mode = rfc4733\nidentify_by = auth_username\nsend_pai = yes\n"
        "; the sipp carrier scenario takes no re-INVITE: no connected-line updates to it\n"
        "send_connected_line = no",
    )
    if uas_port is not None:
        conf = conf.replace("max_contacts = 1\nremove_existing = yes",
                            f"contact = sip:127.0.0.1:{uas_port}")
    return conf


def sipp_binary() -> str:
    path = shutil.which("sipp")
    if path is None:
        raise SippError("sipp not found: install Debian package sip-tester")
    return path


def free_media_port() -> int:
    """An even UDP port with the next three free too (sipp uses port, +1 RTCP, +2/+3 video)."""
    for _ in range(200):
        base = random.randrange(MEDIA_PORTS[0], MEDIA_PORTS[1], 2)
        socks: list[socket.socket] = []
        try:
            for offset in range(4):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise SippError("no free UDP media port range found")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


class SippProcess:
    """A sipp child process with its stderr in `workdir` and a clean stop."""

    def __init__(self, name: str, args: list[str], workdir: Path) -> None:
        self.name = name
        self.args = args
        self.workdir = workdir
        self.stderr_path = workdir / f"{name}.stderr.log"
        self.process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.stderr_path.open("wb") as err:
            # stdout is sipp's redrawn status screen: useless in a file, so dropped.
            self.process = await asyncio.create_subprocess_exec(
                sipp_binary(),
                *self.args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=err,
                cwd=self.workdir,  # -trace_err writes <scenario>_<pid>_errors.log here
                start_new_session=True,
            )
        STARTED_PIDS.append(self.process.pid)
        log.info("sipp_started", name=self.name, pid=self.process.pid)

    async def wait(self, timeout: float) -> int:
        assert self.process is not None
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError as exc:
            raise SippError(f"sipp {self.name} still running after {timeout} s") from exc

    def failure(self, what: str) -> SippError:
        rc = self.process.returncode if self.process else None
        return SippError(f"sipp {self.name} {what} (exit {rc}): {_tail(self.stderr_path)}")

    async def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL if it lingers; always reaped."""
        process = self.process
        if process is None:
            return None
        if process.returncode is None:
            started = asyncio.get_running_loop().time()
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                log.warning("sipp_kill", name=self.name, pid=process.pid)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
            seconds = round(asyncio.get_running_loop().time() - started, 3)
            log.info("sipp_stopped", name=self.name, seconds=seconds, rc=process.returncode)
        return process.returncode


def _contact_up(username: str) -> Predicate:
    def match(message: AmiMessage) -> bool:
        return (
            message.event == "ContactStatus"
            and message.get("AOR") == username
            and message.get("ContactStatus") in ("Created", "Reachable", "NonQualified", "Updated")
        )

    return match


class SippPhone(SippProcess):
    """A registered phone that answers calls with audio."""

    def __init__(
        self,
        account: SipAccount,
        asterisk_sip_port: int,
        workdir: Path,
        answer_scenario: str = "phone_answer.xml",
    ) -> None:
        self.account = account
        self.sip_port = free_udp_port()
        self.media_port = free_media_port()
        args = [
            f"127.0.0.1:{asterisk_sip_port}",
            "-i", "127.0.0.1",
            "-p", str(self.sip_port),
            "-mp", str(self.media_port),
            "-sf", str(SCENARIOS / "phone_register.xml"),
            "-oocsf", str(SCENARIOS / answer_scenario),
            "-s", account.username,
            "-ap", account.password,
            "-m", "1",
            "-timeout", "3600s",
            "-nostdin",
            "-trace_err",
        ]  # fmt: skip
        super().__init__(f"phone-{account.username}", args, workdir)

    async def register(self, ami: AmiClient, timeout: float = 10.0) -> AmiMessage:
        """Start sipp and return the AMI ContactStatus event of its registration."""
        since = ami.mark()
        await self.start()
        assert self.process is not None
        registered = asyncio.ensure_future(
            ami.wait_for(_contact_up(self.account.username), timeout, since=since)
        )
        exited = asyncio.ensure_future(self.process.wait())
        try:
            done, _ = await asyncio.wait(
                {registered, exited}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        except BaseException:
            registered.cancel()  # cut short (Ctrl-C): leave no AMI wait behind
            raise
        finally:
            exited.cancel()
        if registered in done:
            return registered.result()
        registered.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await registered
        if exited in done:
            raise self.failure("exited before registering")
        await self.stop()
        raise self.failure(f"did not register within {timeout} s")


@dataclass(frozen=True)
class CarrierResult:
    returncode: int
    seconds: float
    stderr: str

    @property
    def answered(self) -> bool:
        return self.returncode == 0


async def carrier_call(
    account: SipAccount,
    asterisk_sip_port: int,
    did: str,
    caller: str,
    talk_seconds: float,
    workdir: Path,
    timeout: float | None = None,
) -> CarrierResult:
    """Place one DID call from the carrier trunk and wait until sipp has hung up."""
    if not did.isdigit() or not caller.isdigit():
        raise ValueError("DID and caller must be digits")
    talk_ms = int(talk_seconds * 1000)
    limit = timeout if timeout is not None else talk_seconds + 30.0
    args = [
        f"127.0.0.1:{asterisk_sip_port}",
        "-i", "127.0.0.1",
        "-p", str(free_udp_port()),
        "-mp", str(free_media_port()),
        "-sf", str(SCENARIOS / "carrier_call.xml"),
        "-s", did,
        "-set", "cli", caller,
        "-au", account.username,
        "-ap", account.password,
        "-d", str(talk_ms),
        "-m", "1",
        "-timeout", f"{int(limit)}s",
        "-timeout_error",
        "-nostdin",
        "-trace_err",
    ]  # fmt: skip
    proc = SippProcess(f"carrier-{did}-{secrets.token_hex(2)}", args, workdir)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await proc.start()
    try:
        rc = await proc.wait(limit + 5.0)
    finally:
        await proc.stop()
    return CarrierResult(rc, loop.time() - started, _tail(proc.stderr_path))
