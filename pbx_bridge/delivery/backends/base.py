"""The one small interface every backend offers, and the errors the worker understands.

Backends are synchronous (their client libraries are); the worker runs them in threads. They
raise `TemporaryFailure` (retry later) or `Refused` (this method will never take this file:
the fallback takes over). Anything else is a bug and is retried like a temporary failure.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from pbx_bridge.config.delivery_model import DeliveryMethod
from pbx_bridge.config.model import Config
from pbx_bridge.config.secrets import Secret, SecretUnresolved, known_secret_values
from pbx_bridge.delivery.naming import CallFacts

# OAuth backends will also report `access_revoked` (the operator must reconnect).
AuthState = Literal["connected", "access_revoked", "misconfigured"]


def scrub(text: str) -> str:
    """Errors end up in the log and in the store: never with a secret value in them."""
    for secret in known_secret_values():
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


class DeliveryError(Exception):
    permanent: ClassVar[bool] = False

    def __init__(self, message: str, *, retry_after: float | None = None,
                 auth: AuthState | None = None) -> None:
        super().__init__(scrub(message))
        self.retry_after = retry_after
        self.auth = auth


class TemporaryFailure(DeliveryError):
    """Try again later: the server is down, busy, or the operator must fix something."""


class Refused(DeliveryError):
    """This method will never accept this file (too big, unsupported...): use the fallback."""

    permanent = True


@dataclass(frozen=True)
class LocalFile:
    path: Path
    size: int
    sha256: str
    md5: str
    content_type: str

    @staticmethod
    def read(path: Path, chunk: int = 1 << 20) -> LocalFile:
        sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
        with path.open("rb") as fh:
            while block := fh.read(chunk):
                sha.update(block)
                md5.update(block)
                size += len(block)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return LocalFile(path, size, sha.hexdigest(), md5.hexdigest(), content_type)


@dataclass(frozen=True)
class Receipt:
    """What the backend says it stored: checked against the local file by the worker."""

    remote_name: str
    size: int | None
    remote_hash: str = ""  # as the backend reports it, e.g. "md5:…" or "etag:…"
    hash_matches: bool | None = None  # None: the backend gives nothing comparable


def temp_name(name: str, tag: str) -> str:
    """A hidden name in the same folder, stable per job so a retry overwrites its own leftover."""
    return f".{name}.{tag}.part"


def secret(value: Secret | None, what: str) -> str:
    if value is None:
        return ""
    try:
        return value.resolve()
    except SecretUnresolved as exc:
        raise TemporaryFailure(f"{what}: {exc}", auth="misconfigured") from None


class Backend:
    """Upload one local file under one name; test the method; report authorisation state."""

    concurrency: ClassVar[int] = 2
    # Whether remote names are folder + file (vs a single key); used for display only.
    kind: ClassVar[str] = ""

    def __init__(self, method: DeliveryMethod, config: Config) -> None:
        self.method = method
        self.config = config

    def remote_folder(self) -> str:
        """The key of the method holding its folder pattern ('' if none)."""
        for key in ("directory", "prefix", "folder"):
            if hasattr(self.method, key):
                return str(getattr(self.method, key))
        return ""

    def upload(self, file: LocalFile, remote_name: str, facts: CallFacts, tag: str) -> Receipt:
        raise NotImplementedError

    def test(self, file: LocalFile, remote_name: str) -> str:
        """Write a small file, read it back or stat it, clean up; returns what was checked."""
        raise NotImplementedError

    def auth_state(self) -> AuthState:
        return "connected"


class NotYetSupported(Backend):
    """Dropbox, Google Drive, OneDrive: the OAuth flows come later. Every job is refused with a
    clear reason, so the fallback (if any) takes over and nothing waits forever in silence."""

    concurrency = 1

    def _refuse(self) -> Refused:
        return Refused(f"delivery method {self.method.name}: type {self.method.type} is not yet "
                       "supported by this pbx-bridge version")

    def upload(self, file: LocalFile, remote_name: str, facts: CallFacts, tag: str) -> Receipt:
        raise self._refuse()

    def test(self, file: LocalFile, remote_name: str) -> str:
        raise self._refuse()

    def auth_state(self) -> AuthState:
        return "misconfigured"
