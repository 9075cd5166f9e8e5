"""Real servers for the delivery tests, each started on a free port with its own config and
awaited by probing it (never by sleeping): vsftpd, OpenSSH sshd, aiosmtpd, moto S3, Azurite.

Also a throttling TCP gate (to hold an upload mid-way) and the test TLS authority.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

READY_TIMEOUT = 15.0
TEST_USER = "pbxtest"
ROOT_DIR = Path(__file__).resolve().parents[2]
AZURITE = ROOT_DIR / "tools" / "node_modules" / ".bin" / "azurite-blob"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout: float = READY_TIMEOUT,
               what: str = "condition") -> None:
    """Wait for a condition with a deadline (a poll, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def wait_for_banner(port: int, proc: subprocess.Popen[bytes] | None = None,
                    log: Path | None = None, expect: bytes = b"") -> None:
    """Ready when a connection succeeds (and, if given, the greeting starts with `expect`)."""

    def ready() -> bool:
        if proc is not None and proc.poll() is not None:
            text = log.read_text(errors="replace") if log and log.exists() else ""
            raise RuntimeError(f"server exited with {proc.returncode}: {text[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if expect:
                    s.settimeout(5)
                    return s.recv(64).startswith(expect)
                return True
        except OSError:
            return False

    wait_until(ready, what=f"a server on port {port}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- TLS ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tls:
    ca: Path
    cert: Path
    key: Path


def make_tls(folder: Path) -> Tls:
    """A throwaway CA and a server certificate for IP 127.0.0.1 signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(hours=1), now + dt.timedelta(days=2)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pbx-bridge test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    tls = Tls(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    tls.ca.write_bytes(ca.public_bytes(pem))
    tls.cert.write_bytes(cert.public_bytes(pem))
    tls.key.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    tls.key.chmod(0o600)
    return tls


# -- a system account (vsftpd and sshd check real passwords) ------------------------------------
@dataclass(frozen=True)
class Account:
    name: str
    password: str
    uid: int
    gid: int


def test_account() -> Account:
    """The test account, created once if missing; a fresh random password per run."""
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "-m", "-d", f"/var/lib/{TEST_USER}", "-s", "/bin/sh",
                        TEST_USER], check=True)
    password = secrets.token_urlsafe(16)
    subprocess.run(["chpasswd"], input=f"{TEST_USER}:{password}".encode(), check=True)
    entry = pwd.getpwnam(TEST_USER)
    Path(entry.pw_dir).mkdir(parents=True, exist_ok=True)  # vsftpd ends sessions without one
    return Account(TEST_USER, password, entry.pw_uid, entry.pw_gid)


def user_dir(account: Account, prefix: str) -> Path:
    """A folder the test account owns. Not under pytest's tmp: that one is 0700 root."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.chown(path, account.uid, account.gid)
    path.chmod(0o755)
    return path


# -- vsftpd ------------------------------------------------------------------------------------
@dataclass
class Vsftpd:
    port: int
    root: Path  # uploads by the account land here (absolute paths, no chroot)
    anon_incoming: Path
    proc: subprocess.Popen[bytes] | None = None
    conf: Path = field(default_factory=Path)
    log: Path = field(default_factory=Path)

    def start(self) -> None:
        self.proc = subprocess.Popen(["/usr/sbin/vsftpd", str(self.conf)],
                                     stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        wait_for_banner(self.port, self.proc, self.log, expect=b"220")

    def stop(self) -> None:
        if self.proc:
            stop(self.proc)

    def remove_folders(self) -> None:
        """The upload folders live outside pytest's tmp (see `user_dir`): remove them."""
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.anon_incoming.parent, ignore_errors=True)


def vsftpd(account: Account, tls: Tls, work: Path, port: int | None = None) -> Vsftpd:
    port = port or free_port()
    root = user_dir(account, "pbx-ftp-")
    anon = Path(tempfile.mkdtemp(prefix="pbx-ftp-anon-"))
    anon.chmod(0o755)  # vsftpd refuses a writable anonymous root
    incoming = anon / "incoming"
    incoming.mkdir()
    ftp = pwd.getpwnam("ftp")
    os.chown(incoming, ftp.pw_uid, ftp.pw_gid)
    pasv = 61000 + port % 4000  # outside the OS's ephemeral range (32768-60999)
    conf = work / f"vsftpd-{port}.conf"
    # No trailing comments: vsftpd reads them as part of the value.
    conf.write_text("\n".join([
        "listen=YES", "listen_ipv6=NO", "listen_address=127.0.0.1", f"listen_port={port}",
        "background=NO", "anonymous_enable=YES", "no_anon_password=YES", f"anon_root={anon}",
        "anon_upload_enable=YES", "anon_mkdir_write_enable=YES", "anon_other_write_enable=YES",
        "anon_umask=022", "write_enable=YES", "local_enable=YES", "local_umask=022",
        "pasv_enable=YES", "pasv_address=127.0.0.1", f"pasv_min_port={pasv}",
        f"pasv_max_port={pasv + 20}", "connect_from_port_20=NO",
        "secure_chroot_dir=/var/run/vsftpd/empty", "pam_service_name=vsftpd",
        "xferlog_enable=YES", f"vsftpd_log_file={work}/vsftpd-{port}.xfer.log",
        "ssl_enable=YES", "allow_anon_ssl=YES", "force_local_logins_ssl=NO",
        "force_local_data_ssl=NO", "force_anon_logins_ssl=NO", "force_anon_data_ssl=NO",
        # The default, as on real servers: the data connection must resume the TLS session.
        "require_ssl_reuse=YES", f"rsa_cert_file={tls.cert}", f"rsa_private_key_file={tls.key}",
        "seccomp_sandbox=NO", "",
    ]))
    server = Vsftpd(port, root, incoming, conf=conf, log=work / f"vsftpd-{port}.log")
    return server


# -- OpenSSH -------------------------------------------------------------------------------------
@dataclass
class Sshd:
    port: int
    root: Path
    known_hosts: Path
    proc: subprocess.Popen[bytes]

    def remove_folders(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def sshd(account: Account, work: Path) -> Sshd:
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir
    port = free_port()
    key = work / "ssh_host_ed25519_key"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                       check=True)
    conf = work / "sshd_config"
    conf.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {key}", f"PidFile {work}/sshd.pid",
        "UsePAM no", "PasswordAuthentication yes", "KbdInteractiveAuthentication no",
        "PubkeyAuthentication no", "PermitRootLogin no", f"AllowUsers {account.name}",
        "StrictModes no", "LogLevel VERBOSE", "Subsystem sftp internal-sftp",
        f"Match User {account.name}", "  ForceCommand internal-sftp",
        "  AllowTcpForwarding no", "  X11Forwarding no", "  PermitTTY no", "",
    ]))
    subprocess.run(["/usr/sbin/sshd", "-t", "-f", str(conf)], check=True)
    log = work / "sshd.log"
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(conf)],
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)
    wait_for_banner(port, proc, log, expect=b"SSH-2.0-")
    known = work / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} "
                     + " ".join((work / "ssh_host_ed25519_key.pub").read_text().split()[:2])
                     + "\n")
    return Sshd(port, user_dir(account, "pbx-sftp-"), known, proc)


# -- Azurite -----------------------------------------------------------------------------------
AZURITE_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
               "KBHBeksoGMGw==")


@contextlib.contextmanager
def azurite(work: Path) -> Iterator[str]:
    """Azurite's blob service in memory; yields the connection string (the public dev key)."""
    port = free_port()
    log = work / "azurite.log"
    proc = subprocess.Popen([str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port),
                             "--inMemoryPersistence", "--silent", "--disableTelemetry",
                             "--skipApiVersionCheck"],
                            stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        wait_for_banner(port, proc, log)
        yield ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
               f"AccountKey={AZURITE_KEY};"
               f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")
    finally:
        stop(proc)


def have(binary: str) -> bool:
    return Path(binary).exists() or shutil.which(binary) is not None


# -- a gate in front of a server: forwards bytes, and can hold them ----------------------------
class Gate:
    """A TCP relay to `target`. After `hold_after` client bytes it stops forwarding upstream
    (the upload hangs mid-way, as on a stalled link) and sets `held`."""

    def __init__(self, target: int, hold_after: int | None = None) -> None:
        self.target = target
        self.hold_after = hold_after
        self.sent = 0
        self.held = threading.Event()
        self._release = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._closing = False
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self._socks += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False),
                             daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upload: bool) -> None:
        try:
            while data := src.recv(65536):
                if upload and self.hold_after is not None:
                    self.sent += len(data)
                    if self.sent >= self.hold_after:
                        self.held.set()
                        self._release.wait()
                        if self._closing:
                            return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._closing = True
        self._release.set()
        self._server.close()
        for s in self._socks:
            with contextlib.suppress(OSError):
                s.close()
