"""pytest fixtures for tests against a real Asterisk (marker `asterisk`).

Enable in the root `tests/conftest.py` (pytest accepts `pytest_plugins` only there):

    pytest_plugins = ["pbx_bridge.lab.pytest_plugin"]

One Asterisk runs for the whole session (start-up is ~0.3 s, but phones and the carrier trunk
are cheaper to keep). Async objects (AMI client, FastAGI server, sipp processes) live on one
event loop in a background thread, so session fixtures can share them; `async def` tests
marked `asterisk` run on that loop too (no pytest-asyncio needed).

When the lab is unavailable, tests are skipped with the exact reason on a developer machine and
fail under `CI=true`: a CI run that silently skips the real-Asterisk tests proves nothing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import itertools
import os
import shutil
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import pytest

from pbx_bridge.lab import sipp as sipp_mod
from pbx_bridge.lab.ami import AmiClient
from pbx_bridge.lab.provision import default_root, read_marker
from pbx_bridge.lab.recordings import RecordingListener
from pbx_bridge.lab.runner import AsteriskLab, LabError
from pbx_bridge.lab.sipp import (
    CarrierResult,
    SipAccount,
    SippPhone,
    carrier_call,
    carrier_trunk_conf,
    phone_endpoint_conf,
)
from pbx_bridge.pbx.asterisk.fastagi import AgiServer, Handler

T = TypeVar("T")
CALLER = "15559876543"
ASYNC_TEST_TIMEOUT = 120.0


class LabLoop:
    """An asyncio loop in a daemon thread; `run()` executes a coroutine on it and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="lab-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = ASYNC_TEST_TIMEOUT) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"lab coroutine did not finish within {timeout} s") from None

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5.0)
        if not self.thread.is_alive():
            self.loop.close()


_loop: LabLoop | None = None


def lab_loop_instance() -> LabLoop:
    global _loop
    if _loop is None:
        _loop = LabLoop()
    return _loop


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"real Asterisk unavailable under CI: {reason}", pytrace=False)
    pytest.skip(f"real Asterisk unavailable: {reason}")


def lab_problem(root: Path) -> str | None:
    """Why the lab cannot run here, in words naming exactly what is missing; None when fine."""
    if os.geteuid() != 0:
        return "not root (the lab runs Asterisk in a chroot)"
    if shutil.which("chroot") is None:
        return "no chroot binary on PATH"
    if read_marker(root) is None:
        return f"no cached Asterisk root at {root}: run pbx-bridge lab provision"
    if shutil.which("sipp") is None:
        return "sipp not installed (Debian sip-tester): run pbx-bridge lab provision"
    return None


def leftover_processes(pids: list[int], needle: str) -> list[str]:
    """Our processes still alive: listed PIDs (not zombies) and any command line with `needle`."""
    found: list[str] = []
    proc = Path("/proc")
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue  # exited while we looked
        if state == "Z":
            continue
        if int(entry.name) in pids or (needle and needle in cmdline):
            found.append(f"{entry.name}: {cmdline.strip()[:120]}")
    return found


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run `async def` tests marked `asterisk` on the lab loop."""
    if pyfuncitem.get_closest_marker("asterisk") is None:
        return None
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = inspect.signature(pyfuncitem.obj).parameters
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    lab_loop_instance().run(pyfuncitem.obj(**kwargs))
    return True


def pytest_sessionfinish(session: pytest.Session) -> None:
    global _loop
    if _loop is not None:
        _loop.close()
        _loop = None


@pytest.fixture(scope="session")
def lab_loop() -> LabLoop:
    return lab_loop_instance()


@pytest.fixture(scope="session")
def lab_root() -> Path:
    root = default_root().absolute()
    problem = lab_problem(root)
    if problem:
        unavailable(problem)
    return root


@pytest.fixture(scope="session")
def lab_carrier() -> SipAccount:
    """The operator's DID trunk credentials (defined in the operator-side pjsip.conf)."""
    return SipAccount.generate("carrier")


@pytest.fixture(scope="session")
def asterisk_lab(lab_root: Path, lab_carrier: SipAccount) -> Iterator[AsteriskLab]:
    try:
        lab = AsteriskLab(lab_root, extra_config={"pjsip.conf": carrier_trunk_conf(lab_carrier)})
        lab.start()
    except (LabError, OSError) as exc:
        unavailable(f"Asterisk did not start: {exc}")
    print(f"\nlab Asterisk {lab.name}: AMI ready {lab.ready_seconds:.3f} s after start")
    try:
        yield lab
    finally:
        lab.stop()
        left = leftover_processes(
            [p for p in (lab.pid, *sipp_mod.STARTED_PIDS) if p], lab.layout.run
        )
        if not left and not os.environ.get("PBX_BRIDGE_LAB_KEEP"):
            lab.remove_run_dir()
        assert not left, f"lab processes left running: {left}"


@pytest.fixture(scope="session")
def ami(asterisk_lab: AsteriskLab, lab_loop: LabLoop) -> Iterator[AmiClient]:
    lab = asterisk_lab
    connect = AmiClient.connect("127.0.0.1", lab.ami_port, lab.ami_user, lab.ami_secret)
    client = lab_loop.run(connect)
    yield client
    lab_loop.run(client.close())


class PhoneBook:
    """Phones of the session: their endpoints go to the generated pjsip include file."""

    def __init__(self, lab: AsteriskLab) -> None:
        self.lab = lab
        self.accounts: dict[str, SipAccount] = {}
        self._numbers = itertools.count(2001)

    async def add(self, username: str | None = None) -> SipAccount:
        account = SipAccount.generate(username or str(next(self._numbers)))
        self.accounts[account.username] = account
        text = "".join(phone_endpoint_conf(a) for a in self.accounts.values())
        self.lab.write_include("pjsip", text)
        await asyncio.to_thread(self.lab.reload, ["res_pjsip.so"])
        return account


@pytest.fixture(scope="session")
def phone_book(asterisk_lab: AsteriskLab) -> PhoneBook:
    return PhoneBook(asterisk_lab)


@pytest.fixture
def sip_phone(
    asterisk_lab: AsteriskLab, ami: AmiClient, phone_book: PhoneBook, lab_loop: LabLoop
) -> Iterator[Callable[..., Awaitable[SippPhone]]]:
    """`await sip_phone()` -> a sipp phone registered with fresh credentials, stopped after."""
    phones: list[SippPhone] = []

    async def make(username: str | None = None, scenario: str = "phone_answer.xml") -> SippPhone:
        account = await phone_book.add(username)
        phone = SippPhone(account, asterisk_lab.sip_port, asterisk_lab.run_dir / "sipp", scenario)
        phones.append(phone)
        await phone.register(ami)
        return phone

    yield make

    async def stop_all() -> None:
        await asyncio.gather(*(phone.stop() for phone in phones))

    lab_loop.run(stop_all())


@pytest.fixture
def place_carrier_call(
    asterisk_lab: AsteriskLab, lab_carrier: SipAccount
) -> Callable[..., Awaitable[CarrierResult]]:
    """`await place_carrier_call(did, talk=3.0)`: one call from the operator's trunk."""

    async def place(did: str, caller: str = CALLER, talk: float = 3.0) -> CarrierResult:
        return await carrier_call(
            lab_carrier, asterisk_lab.sip_port, did, caller, talk, asterisk_lab.run_dir / "sipp"
        )

    return place


@pytest.fixture
def agi_server(
    lab_loop: LabLoop,
) -> Iterator[Callable[[Mapping[str, Handler]], Awaitable[AgiServer]]]:
    """`await agi_server({"route": handler})` -> a started FastAGI server on a free port."""
    servers: list[AgiServer] = []

    async def make(routes: Mapping[str, Handler]) -> AgiServer:
        server = AgiServer(routes)
        servers.append(server)
        return await server.start()

    yield make
    for server in servers:
        lab_loop.run(server.close())


@pytest.fixture
def recording_listener(lab_loop: LabLoop) -> Iterator[RecordingListener]:
    listener = lab_loop.run(RecordingListener().start())
    yield listener
    lab_loop.run(listener.close())
