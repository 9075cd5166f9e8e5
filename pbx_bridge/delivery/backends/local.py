"""A local (or mounted) directory: copy under a hidden temporary name, fsync, rename."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from pbx_bridge.delivery.backends.base import (
    Backend,
    LocalFile,
    Receipt,
    TemporaryFailure,
    temp_name,
)
from pbx_bridge.delivery.naming import CallFacts


class LocalBackend(Backend):
    concurrency = 4
    kind = "local"

    def _target(self, remote_name: str) -> Path:
        target = Path(remote_name)
        if not target.is_absolute():  # relative folders are relative to the config file
            target = self.config.path.parent / target
        return target

    def upload(self, file: LocalFile, remote_name: str, facts: CallFacts, tag: str) -> Receipt:
        target = self._target(remote_name)
        tmp = target.with_name(temp_name(target.name, tag))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file.path, tmp)  # in the kernel (sendfile) where it can
            fd = os.open(tmp, os.O_WRONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            # rename is atomic within a file system: readers see no file or the whole file.
            os.replace(tmp, target)
            _fsync_dir(target.parent)
            size = target.stat().st_size
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise TemporaryFailure(f"{target.parent}: {exc.strerror or exc}") from None
        return Receipt(str(target), size)

    def test(self, file: LocalFile, remote_name: str) -> str:
        receipt = self.upload(file, remote_name, CallFacts(), "test")
        target = Path(receipt.remote_name)
        try:
            same = target.read_bytes() == file.path.read_bytes()
            target.unlink()
        except OSError as exc:
            raise TemporaryFailure(f"{target}: {exc.strerror or exc}") from None
        if not same:
            raise TemporaryFailure(f"{target}: read back different bytes")
        return f"wrote, read back and removed {target}"


def _fsync_dir(path: Path) -> None:
    """Make the rename itself durable (it lives in the directory entry)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
