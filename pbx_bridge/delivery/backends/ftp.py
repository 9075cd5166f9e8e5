"""FTP and explicit FTPS (AUTH TLS): passive or active, named user or anonymous.

Upload as a hidden temporary name, then RNFR/RNTO, then SIZE: a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import ftplib
import io
import posixpath
import socket
import ssl
from typing import Any

from pbx_bridge.config.delivery_model import FtpDelivery
from pbx_bridge.delivery.backends.base import (
    Backend,
    LocalFile,
    Receipt,
    Refused,
    TemporaryFailure,
    secret,
    temp_name,
)
from pbx_bridge.delivery.naming import CallFacts


class ReusingFtpTls(ftplib.FTP_TLS):
    """FTPS whose data connections resume the control connection's TLS session.

    The stdlib opens a fresh TLS session per data connection; vsftpd (by default), ProFTPD and
    FileZilla Server refuse that with "522 session reuse required".
    """

    def ntransfercmd(self, cmd: str, rest: int | str | None = None) -> tuple[socket.socket, Any]:
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:  # type: ignore[attr-defined]
            conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                            session=self.sock.session)  # type: ignore[union-attr]
        return conn, size


class FtpBackend(Backend):
    concurrency = 2
    kind = "ftp"
    method: FtpDelivery

    def _connect(self) -> ftplib.FTP:
        m = self.method
        ftp: ftplib.FTP = (ReusingFtpTls(context=ssl.create_default_context(), timeout=30)
                           if m.tls else ftplib.FTP(timeout=30))
        try:
            ftp.connect(m.host, m.port)
            if isinstance(ftp, ReusingFtpTls):
                ftp.auth()
            if m.anonymous:
                ftp.login()
            else:
                ftp.login(m.username, secret(m.password, f"{m.name}.password"))
            if isinstance(ftp, ReusingFtpTls):
                ftp.prot_p()
            ftp.set_pasv(m.passive_mode)
            ftp.voidcmd("TYPE I")
        except BaseException:
            with contextlib.suppress(Exception):
                ftp.close()
            raise
        return ftp

    def _folders(self, ftp: ftplib.FTP, folder: str) -> None:
        """Create every missing level; an existing folder answers 550, which is fine."""
        if not folder or folder in ("/", "."):
            return
        path = "/" if folder.startswith("/") else ""
        for part in folder.strip("/").split("/"):
            path = posixpath.join(path, part) if path else part
            with contextlib.suppress(ftplib.error_perm):
                ftp.mkd(path)

    def upload(self, file: LocalFile, remote_name: str, facts: CallFacts, tag: str) -> Receipt:
        folder, name = posixpath.split(remote_name)
        tmp = posixpath.join(folder, temp_name(name, tag))
        try:
            ftp = self._connect()
            try:
                self._folders(ftp, folder)
                with file.path.open("rb") as fh:
                    ftp.storbinary(f"STOR {tmp}", fh, blocksize=1 << 16)
                ftp.rename(tmp, remote_name)
                size = ftp.size(remote_name)
            finally:
                with contextlib.suppress(Exception):
                    ftp.quit()
        except ftplib.error_perm as exc:
            code = str(exc)[:3]
            if code in ("552", "553"):  # exceeded storage allocation / name not allowed
                raise Refused(f"{self.method.host}: {exc}") from None
            raise TemporaryFailure(f"{self.method.host}: {exc}",
                                   auth="misconfigured" if code == "530" else None) from None
        except (ftplib.Error, OSError, EOFError) as exc:
            raise TemporaryFailure(f"{self.method.host}:{self.method.port}: "
                                   f"{exc or type(exc).__name__}") from None
        return Receipt(remote_name, size)

    def test(self, file: LocalFile, remote_name: str) -> str:
        receipt = self.upload(file, remote_name, CallFacts(), "test")
        try:
            ftp = self._connect()
            try:
                buf = io.BytesIO()
                ftp.retrbinary(f"RETR {remote_name}", buf.write)
                ftp.delete(remote_name)
            finally:
                with contextlib.suppress(Exception):
                    ftp.quit()
        except (ftplib.Error, OSError, EOFError) as exc:
            raise TemporaryFailure(f"{self.method.host}: reading back: {exc}") from None
        if buf.getvalue() != file.path.read_bytes():
            raise TemporaryFailure(f"{remote_name}: read back different bytes")
        return f"wrote {receipt.size} bytes to {remote_name}, read them back, removed it"
