"""Fast sans-IO AMI framing for the ingest path: bytes in, whole raw frames out.

`ami_protocol.AmiParser` decodes every line of every message; a busy Asterisk sends ~100
events per call, most of which the bridge never reads (VarSet, Newexten, AGIExec, RTCP...).
This reader only cuts the stream at the blank line that ends each frame (one `bytes.split` per
read), names the frame's event from its first line, and leaves the decoding of a frame to the
caller, who does it only for the frames it wants (`parse_frame`, same rules and same
`AmiMessage` as `AmiParser`). Measured in `bench/ami_ingest.py`.

Same robustness rules as `AmiParser`:
- a frame is decoded only once complete, so a UTF-8 character split across two reads
  survives; undecodable bytes become U+FFFD;
- a frame longer than `max_frame_bytes` is dropped (counted in `skipped_frames`), and reading
  resumes after the next blank line; a frame with a line without a key is skipped by
  `parse_frame`; nothing raises.
Line ends: Asterisk sends CRLF; a stream whose first line ends in a bare LF (recorded
fixtures) is read with LF throughout.
"""

from __future__ import annotations

import structlog

from pbx_bridge.pbx.asterisk.ami_protocol import (
    BANNER_PREFIX,
    DEFAULT_MAX_FRAME_BYTES,
    AmiMessage,
    _split_pairs,
)

log = structlog.get_logger()


class AmiFrameReader:
    """`feed(bytes)` -> the raw frames (bytes, without the blank line) those bytes complete."""

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.banner: str | None = None
        self.skipped_frames = 0
        self.eol = b"\r\n"
        self._sep = b"\r\n\r\n"
        self._buffer = b""
        self._started = False
        self._discarding = False  # inside an over-long frame: drop until its end

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer + data if self._buffer else data
        if not self._started:
            buffer = self._start(buffer)
            if not self._started:
                self._buffer = buffer
                return []
        frames = buffer.split(self._sep)
        rest = frames.pop()
        keep = len(self._sep) - 1  # a separator may straddle two reads
        if self._discarding:
            if not frames:
                self._buffer = rest[-keep:]
                return []
            frames.pop(0)  # the tail of the over-long frame
            self._discarding = False
        if len(rest) > self.max_frame_bytes:
            self._skip("frame too long")
            self._discarding, rest = True, rest[-keep:]
        self._buffer = rest
        out = []
        for frame in frames:
            if len(frame) > self.max_frame_bytes:
                self._skip("frame too long")
            elif frame.strip():
                out.append(frame.lstrip(b"\r\n"))
        return out

    def _start(self, buffer: bytes) -> bytes:
        end = buffer.find(b"\n")
        if end < 0:
            if len(buffer) > self.max_frame_bytes:
                self._started, self._discarding = True, True
                self._skip("frame too long")
                return b""
            return buffer
        self._started = True
        if end == 0 or buffer[end - 1:end] != b"\r":
            self.eol, self._sep = b"\n", b"\n\n"
        first = buffer[:end].rstrip(b"\r").decode("utf-8", "replace")
        if first.startswith(BANNER_PREFIX):
            self.banner = first
            return buffer[end + 1:]
        return buffer

    def _skip(self, reason: str) -> None:
        self.skipped_frames += 1
        log.warning("ami_frame_skipped", reason=reason, skipped=self.skipped_frames)

    def event_name(self, frame: bytes) -> bytes:
        """`b"Newchannel"` for a frame starting `Event: Newchannel`; b"" otherwise."""
        if not frame.startswith(b"Event: "):
            return b""
        end = frame.find(self.eol)
        return frame[7:end] if end >= 0 else frame[7:]

    def parse_frame(self, frame: bytes) -> AmiMessage | None:
        """The frame as an `AmiMessage` (None, logged, if a line has no key)."""
        lines = frame.split(b"\n")
        if self.eol == b"\r\n":
            lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
        pairs, bad = _split_pairs(lines)
        if bad is not None:
            self.skipped_frames += 1
            log.warning("ami_frame_skipped", reason=bad, skipped=self.skipped_frames)
            return None
        return AmiMessage(pairs)
