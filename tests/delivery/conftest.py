"""Fixtures: real local servers (see servers.py) and configs pointing at them."""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pbx_bridge.config.load import load_config
from pbx_bridge.config.model import Config
from pbx_bridge.delivery.worker import DeliveryWorker
from pbx_bridge.store import Store, open_store
from tests.delivery import servers

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="vsftpd and sshd need root and a system account")


@pytest.fixture(scope="session")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def tls(work: Path) -> servers.Tls:
    return servers.make_tls(work)


@pytest.fixture
def trust_test_ca(tls: servers.Tls, monkeypatch: pytest.MonkeyPatch) -> servers.Tls:
    """The product verifies TLS with the system's trust store; operators (and tests) add a
    private CA through SSL_CERT_FILE, which OpenSSL reads each time a context is made."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    return tls


@pytest.fixture(scope="session")
def account() -> servers.Account:
    if not ROOT:
        pytest.skip("needs root to create the test account")
    return servers.test_account()


@pytest.fixture(scope="session")
def ftp_server(account: servers.Account, tls: servers.Tls, work: Path
               ) -> Iterator[servers.Vsftpd]:
    if not servers.have("/usr/sbin/vsftpd"):
        pytest.skip("vsftpd is not installed (scripts/apt-packages.txt)")
    server = servers.vsftpd(account, tls, work)
    server.start()
    yield server
    server.stop()
    server.remove_folders()


@pytest.fixture(scope="session")
def sftp_server(account: servers.Account, work: Path) -> Iterator[servers.Sshd]:
    if not servers.have("/usr/sbin/sshd"):
        pytest.skip("openssh-server is not installed (scripts/apt-packages.txt)")
    server = servers.sshd(account, work)
    yield server
    servers.stop(server.proc)
    server.remove_folders()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def azure_server(work: Path) -> Iterator[str]:
    if not servers.AZURITE.exists():
        pytest.skip("Azurite is not installed: run `npm install` in tools/ (./dev.sh setup)")
    with servers.azurite(work) as connection_string:
        yield connection_string


@dataclass
class Mailbox:
    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                              envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"


@dataclass
class Smtp:
    port: int
    password: str
    mailbox: Mailbox
    limit: int


@pytest.fixture
def smtp_server(tls: servers.Tls, request: pytest.FixtureRequest) -> Iterator[Smtp]:
    """aiosmtpd with STARTTLS required, AUTH required, and a SIZE limit (marker `smtp_limit`)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    marker = request.node.get_closest_marker("smtp_limit")
    limit = marker.args[0] if marker else 10 << 20
    password = "mail-" + os.urandom(6).hex()

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and \
            (auth_data.login, auth_data.password) == (b"pbx", password.encode())
        return AuthResult(success=ok, handled=False)  # handled=False: a failure gets a 535

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.cert, tls.key)
    mailbox = Mailbox()
    port = servers.free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True, authenticator=authenticator,
                            auth_require_tls=True, auth_required=True, data_size_limit=limit)
    controller.start()  # returns once its own probe connection got the banner
    yield Smtp(port, password, mailbox, limit)
    controller.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "smtp_limit(n): the SMTP test server's SIZE limit")


# -- configs -----------------------------------------------------------------------------------
@dataclass
class Env:
    path: Path
    config: Config
    store: Store
    tmp: Path

    def worker(self, **kw: Any) -> DeliveryWorker:
        kw.setdefault("lease_seconds", 5.0)
        kw.setdefault("poll_seconds", 0.2)
        return DeliveryWorker(self.config, self.store, **kw)

    def run_until_idle(self, timeout: float = 60.0, **kw: Any) -> None:
        worker = self.worker(**kw)
        asyncio.run(asyncio.wait_for(worker.run(asyncio.Event(), until_settled=True), timeout))


def secret_file(tmp: Path, name: str, value: str) -> str:
    path = tmp / f"secret-{name}"
    path.write_text(value + "\n")
    path.chmod(0o600)
    return f"file:{path}"


@pytest.fixture
def make_env(tmp_path: Path) -> Iterator[Callable[..., Env]]:
    """Write a config with these delivery methods (YAML text) and open its store."""
    opened: list[Store] = []

    def make(methods: str, *, smtp: str = "", tz: str = "America/New_York") -> Env:
        text = "\n".join([
            "system:", "  name: Delivery test", f"  timezone: {tz}",
            f"  store: sqlite://{tmp_path}/store.db",
            textwrap.indent(textwrap.dedent(smtp), "  "),
            "contact_methods:", "  emails:",
            "    - {address: ops@test.example, verified: true}",
            "    - {address: eve@test.example, verified: false}",
            "delivery_methods:",
            textwrap.indent(textwrap.dedent(methods), "  "),
        ])
        path = tmp_path / "pbx.yaml"
        path.write_text(text)
        loaded = load_config(path)
        assert loaded.ok, [str(p) for p in loaded.errors]
        store = open_store(loaded.config.system.store)
        opened.append(store)
        return Env(path, loaded.config, store, tmp_path)

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def recording(tmp_path: Path) -> Callable[[int, str], Path]:
    def make(size: int = 100_000, name: str = "call-1700000000.123.wav") -> Path:
        spool = tmp_path / "spool"
        spool.mkdir(exist_ok=True)
        path = spool / name
        with path.open("wb") as fh:
            fh.write(b"RIFF")
            fh.write(os.urandom(max(size - 4, 0)))
        return path

    return make


def copy_of(path: Path, tmp: Path) -> Path:
    target = tmp / "originals" / path.name
    target.parent.mkdir(exist_ok=True)
    shutil.copy2(path, target)
    return target
