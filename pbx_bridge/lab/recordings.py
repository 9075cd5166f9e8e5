"""Recordings in the lab: knowing when MixMonitor has closed a file, and what is in it.

Asterisk sends no AMI event when a MixMonitor file is complete (notes/asterisk-lab.md §0.6:
there is no MixMonitorStop at hangup). The reliable signal is MixMonitor's post-command, which
runs after the file is closed. `RecordingListener` gives the post-command a TCP port on
127.0.0.1 to report the file name to (bash's /dev/tcp, present in the root), so a test awaits
the file instead of polling for it.
"""

from __future__ import annotations

import array
import asyncio
import math
import sys
import wave
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import structlog

log = structlog.get_logger()


@dataclass(frozen=True)
class WavStats:
    seconds: float
    rate: int
    channels: int
    rms: float


def wav_stats(path: Path) -> WavStats:
    """Duration and RMS of a 16-bit PCM WAV (MixMonitor's format), with the stdlib only."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit samples, got {wav.getsampwidth() * 8}")
        frames = wav.readframes(wav.getnframes())
        rate, channels, count = wav.getframerate(), wav.getnchannels(), wav.getnframes()
    samples = array.array("h")
    samples.frombytes(frames)
    if sys.byteorder != "little":  # WAV is little-endian
        samples.byteswap()
    rms = math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0
    return WavStats(count / rate if rate else 0.0, rate, channels, rms)


class RecordingListener:
    """A TCP listener; each connection sends one line: the path of a finished recording."""

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._done: asyncio.Queue[str] = asyncio.Queue()

    def post_command(self, variable: str = "MIXMONITOR_FILENAME") -> str:
        """MixMonitor's third argument: report `^{variable}` (expanded at the end) to us."""
        return f"/bin/bash -c 'echo ^{{{variable}}} >/dev/tcp/127.0.0.1/{self.port}'"

    async def start(self) -> RecordingListener:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5.0)
            path = line.decode("utf-8", "replace").strip()
            if path:
                log.info("recording_done", path=path)
                self._done.put_nowait(path)
        except (TimeoutError, OSError) as exc:
            log.warning("recording_notify_failed", error=str(exc))
        finally:
            writer.close()

    async def wait(self, timeout: float) -> str:
        """The next finished recording (path as Asterisk sees it)."""
        try:
            return await asyncio.wait_for(self._done.get(), timeout)
        except TimeoutError as exc:
            raise TimeoutError(f"no recording finished within {timeout} s") from exc

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> RecordingListener:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
