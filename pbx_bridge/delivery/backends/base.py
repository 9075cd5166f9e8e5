"""The one small interface every backend offers, and the errors the worker understands.

Backends are synchronous (their client libraries are); the worker runs them in threads. They
raise `TemporaryFailure` (retry later) or `Refused` (this method will never take this file:
the fallback takes over). Anything else is a bug and is retried like a temporary failure.
"""

from __future__ import annotations

import hashlib
import mimetypes
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pbx_bridge.config.delivery_model import DeliveryMethod
from pbx_bridge.config.model import Config
from pbx_bridge.config.secrets import Secret, SecretUnresolved, known_secret_values
from pbx_bridge.delivery.naming import CallFacts

# OAuth backends will also report `access_revoked` (the operator must reconnect).
AuthState = Literal["connected", "access_revoked", "misconfigured"]
T = TypeVar("T")


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


# Above this size the SHA-256 is computed on a thread of its own while the upload runs (the
# worker needs it only for the log, after the upload); below, at once: a thread costs more.
BACKGROUND_HASH_BYTES = 4 << 20


def in_background(fn: Callable[..., T], *args: Any) -> Future[T]:
    """Run `fn(*args)` on a daemon thread; its result (or exception) in the future."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(fn(*args))
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, daemon=True, name="pbx-hash").start()
    return future


def _digest(path: Path, name: str, chunk: int = 1 << 20) -> str:
    h = hashlib.new(name, usedforsecurity=False)
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


class LocalFile:
    """The file being delivered: path, size and type known at once. Its SHA-256 is computed
    while the upload runs (a second pass over the file would cost as much as a fast upload);
    its MD5 only if a backend asks (S3 and Azure compare it with the stored object's).
    Reading either waits for it; a read error surfaces as a TemporaryFailure."""

    __slots__ = ("_lock", "_md5", "_sha256", "content_type", "path", "size")

    def __init__(self, path: Path, size: int, sha256: str | Future[str], md5: str | None,
                 content_type: str) -> None:
        self.path = path
        self.size = size
        self.content_type = content_type
        self._sha256 = sha256
        self._md5 = md5
        self._lock = threading.Lock()

    @staticmethod
    def read(path: Path, chunk: int = 1 << 20) -> LocalFile:
        """Size and both digests, now, in one pass."""
        sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
        with path.open("rb") as fh:
            while block := fh.read(chunk):
                sha.update(block)
                md5.update(block)
                size += len(block)
        return LocalFile(path, size, sha.hexdigest(), md5.hexdigest(), _content_type(path))

    @staticmethod
    def open(path: Path) -> LocalFile:
        """Size now; the SHA-256 on a thread of its own (for a large file), the MD5 on demand."""
        size = path.stat().st_size
        if size < BACKGROUND_HASH_BYTES:
            return LocalFile.read(path)
        return LocalFile(path, size, in_background(_digest, path, "sha256"), None,
                         _content_type(path))

    @property
    def hashed(self) -> bool:
        """Whether the SHA-256 is known (reading it will not wait)."""
        return isinstance(self._sha256, str) or self._sha256.done()

    @property
    def sha256(self) -> str:
        if isinstance(self._sha256, str):
            return self._sha256
        try:
            self._sha256 = self._sha256.result()
        except OSError as exc:
            raise TemporaryFailure(f"{self.path}: reading: {exc.strerror or exc}") from None
        return self._sha256

    @property
    def md5(self) -> str:
        with self._lock:
            if self._md5 is None:
                try:
                    self._md5 = _digest(self.path, "md5")
                except OSError as exc:
                    raise TemporaryFailure(f"{self.path}: reading: {exc.strerror or exc}") \
                        from None
            return self._md5

    def __repr__(self) -> str:
        return f"LocalFile({str(self.path)!r}, size={self.size})"


def _content_type(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


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
