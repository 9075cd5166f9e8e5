"""SFTP (paramiko), host key checked against the method's known_hosts file.

A host the file doesn't know is refused, never trusted on first use, unless the operator set
`accept_unknown_host_key: true`. Upload to a hidden temporary name, then posix-rename.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import stat

import paramiko
import structlog

from pbx_bridge.config.delivery_model import SftpDelivery
from pbx_bridge.delivery.backends.base import (
    Backend,
    LocalFile,
    Receipt,
    TemporaryFailure,
    secret,
    temp_name,
)
from pbx_bridge.delivery.naming import CallFacts

log = structlog.get_logger()
_KEY_TYPES: tuple[type[paramiko.PKey], ...] = (paramiko.Ed25519Key, paramiko.ECDSAKey,
                                                paramiko.RSAKey)


def _private_key(text: str) -> paramiko.PKey:
    for cls in _KEY_TYPES:
        try:
            return cls.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise TemporaryFailure("private_key: not an OpenSSH/PEM Ed25519, ECDSA or RSA key",
                           auth="misconfigured")


class _Loud(paramiko.MissingHostKeyPolicy):
    """The operator chose to accept unknown host keys: accept, but say which key."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        log.warning("sftp_unknown_host_key_accepted", host=hostname,
                    key_type=key.get_name(), fingerprint=key.fingerprint)


class SftpBackend(Backend):
    concurrency = 4
    kind = "sftp"
    method: SftpDelivery

    def _connect(self) -> paramiko.SSHClient:
        m = self.method
        client = paramiko.SSHClient()
        if m.known_hosts:
            path = os.path.expanduser(m.known_hosts)
            try:
                client.load_host_keys(path)
            except OSError as exc:
                if not m.accept_unknown_host_key:
                    raise TemporaryFailure(f"known_hosts {path}: {exc.strerror or exc}",
                                           auth="misconfigured") from None
        client.set_missing_host_key_policy(_Loud() if m.accept_unknown_host_key
                                           else paramiko.RejectPolicy())
        pkey = _private_key(secret(m.private_key, f"{m.name}.private_key")) \
            if m.private_key else None
        try:
            client.connect(m.host, port=m.port, username=m.username,
                           password=secret(m.password, f"{m.name}.password") or None, pkey=pkey,
                           look_for_keys=False, allow_agent=False, timeout=30,
                           banner_timeout=30, auth_timeout=30)
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise TemporaryFailure(
                f"{m.host}:{m.port}: the host key CHANGED (got {exc.key.get_name()} "
                f"{exc.key.fingerprint}); if that is expected, update {m.known_hosts}",
                auth="misconfigured") from None
        except paramiko.AuthenticationException as exc:
            client.close()
            raise TemporaryFailure(f"{m.host}:{m.port}: {exc}", auth="misconfigured") from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            client.close()
            hint = "; add its key to known_hosts" if "known_hosts" in str(exc) else ""
            raise TemporaryFailure(f"{m.host}:{m.port}: {exc or type(exc).__name__}{hint}",
                                   auth="misconfigured" if hint else None) from None
        return client

    @staticmethod
    def _folders(sftp: paramiko.SFTPClient, folder: str) -> None:
        path = "/" if folder.startswith("/") else ""
        for part in [p for p in folder.split("/") if p]:
            path = posixpath.join(path, part) if path else part
            try:
                if stat.S_ISDIR(sftp.stat(path).st_mode or 0):
                    continue
            except FileNotFoundError:
                pass
            # OpenSSH answers a generic "Failure" for an existing folder: check first (above).
            sftp.mkdir(path)

    def upload(self, file: LocalFile, remote_name: str, facts: CallFacts, tag: str) -> Receipt:
        folder, name = posixpath.split(remote_name)
        tmp = posixpath.join(folder, temp_name(name, tag))
        client = self._connect()
        try:
            sftp = client.open_sftp()
            self._folders(sftp, folder)
            with file.path.open("rb") as fh:
                sftp.putfo(fh, tmp, file_size=file.size, confirm=True)
            try:
                sftp.posix_rename(tmp, remote_name)  # atomic replace (OpenSSH extension)
            except OSError:
                # Servers without the extension: plain rename fails if the target exists,
                # which only happens when an earlier attempt of this same job finished.
                with contextlib.suppress(OSError):
                    sftp.remove(remote_name)
                sftp.rename(tmp, remote_name)
            size = sftp.stat(remote_name).st_size
        except (TimeoutError, OSError, paramiko.SSHException, EOFError) as exc:
            raise TemporaryFailure(f"{self.method.host}: {remote_name}: "
                                   f"{exc or type(exc).__name__}") from None
        finally:
            client.close()
        return Receipt(remote_name, size)

    def test(self, file: LocalFile, remote_name: str) -> str:
        receipt = self.upload(file, remote_name, CallFacts(), "test")
        client = self._connect()
        try:
            sftp = client.open_sftp()
            with sftp.open(remote_name, "rb") as fh:
                data = fh.read()
            sftp.remove(remote_name)
        except (OSError, paramiko.SSHException) as exc:
            raise TemporaryFailure(f"{remote_name}: reading back: {exc}") from None
        finally:
            client.close()
        if data != file.path.read_bytes():
            raise TemporaryFailure(f"{remote_name}: read back different bytes")
        return f"wrote {receipt.size} bytes to {remote_name}, read them back, removed it"
