"""Sans-IO parser for the Asterisk Manager Interface (AMI) wire format.

Bytes go in (`AmiParser.feed`), complete messages come out. No sockets, no event loop: the
same parser serves the bridge, the lab client and replayed fixtures in tests.

Wire format: after a one-line banner (`Asterisk Call Manager/x.y.z`), each message is a block
of `Key: Value` lines ended by an empty line. Asterisk sends CRLF; recorded fixtures often use
LF, so both are accepted.

Robustness rules (the AMI stream is input we do not control):
- bytes are kept until a whole line is in, and each line is decoded on its own, so a UTF-8
  character split across two socket reads survives ("Müller" stays "Müller"); undecodable
  bytes become U+FFFD instead of raising;
- a frame with a line that has no colon, or a frame longer than `max_frame_bytes`, is logged
  and skipped; the parser resynchronises at the next empty line and never raises.
"""

from __future__ import annotations

from collections.abc import Iterator

import structlog

log = structlog.get_logger()

BANNER_PREFIX = "Asterisk Call Manager/"
DEFAULT_MAX_FRAME_BYTES = 1 << 20  # 1 MiB: far above any real event, bounds memory per peer


class AmiMessage(dict[str, str]):
    """One AMI message: a dict of the first value of each key, in wire order.

    Repeated keys (`ChanVariable`, `Output`, `Variable`) are all kept in `pairs`; read them
    with `getall`. Lookups with `get_ci` ignore case (`ActionID` vs `ActionId`).
    """

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[str, str]] | None = None) -> None:
        super().__init__()
        self.pairs: list[tuple[str, str]] = list(pairs or [])
        for key, value in self.pairs:
            self.setdefault(key, value)

    @property
    def event(self) -> str | None:
        return self.get("Event")

    @property
    def response(self) -> str | None:
        return self.get("Response")

    @property
    def action_id(self) -> str | None:
        return self.get_ci("ActionID")

    def get_ci(self, key: str, default: str | None = None) -> str | None:
        if key in self:
            return self[key]
        folded = key.lower()
        for name, value in self.pairs:
            if name.lower() == folded:
                return value
        return default

    def getall(self, key: str) -> list[str]:
        folded = key.lower()
        return [value for name, value in self.pairs if name.lower() == folded]

    def variables(self, key: str = "ChanVariable") -> dict[str, str]:
        """`ChanVariable: NAME=value` lines (or another repeated key) as a dict."""
        out: dict[str, str] = {}
        for item in self.getall(key):
            name, _, value = item.partition("=")
            out[name] = value
        return out

    def __repr__(self) -> str:
        return f"AmiMessage({self.pairs!r})"


def encode_action(action: str, fields: dict[str, str] | list[tuple[str, str]]) -> bytes:
    """Serialise an action. Values must not contain CR/LF: that would inject extra headers."""
    items = list(fields.items()) if isinstance(fields, dict) else list(fields)
    lines = [f"Action: {action}"]
    for key, value in items:
        text = str(value)
        if any(ch in key + text for ch in "\r\n") or ":" in key:
            raise ValueError(f"AMI field {key!r} contains a line break or a bad key")
        lines.append(f"{key}: {text}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


class AmiParser:
    """Incremental AMI parser. `feed(bytes)` returns the messages completed by those bytes."""

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.banner: str | None = None
        self.skipped_frames = 0
        self._buffer = bytearray()
        self._lines: list[bytes] = []
        self._frame_bytes = 0
        self._bad: str | None = None  # reason the current frame will be dropped
        self._first_line = True

    def feed(self, data: bytes) -> list[AmiMessage]:
        self._buffer += data
        return list(self._drain())

    def _drain(self) -> Iterator[AmiMessage]:
        buffer = self._buffer
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            raw = bytes(buffer[start:end])
            start = end + 1
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            message = self._line(raw)
            if message is not None:
                yield message
        del buffer[:start]
        # A line that never ends must not grow without bound: count it against the frame.
        if len(buffer) + self._frame_bytes > self.max_frame_bytes:
            self._mark_bad("frame too long")
            buffer.clear()

    def _line(self, raw: bytes) -> AmiMessage | None:
        if self._first_line:
            self._first_line = False
            text = raw.decode("utf-8", "replace")
            if text.startswith(BANNER_PREFIX):
                self.banner = text
                return None
        if not raw:
            return self._end_frame()
        if self._bad is None:
            self._frame_bytes += len(raw) + 2
            if self._frame_bytes > self.max_frame_bytes:
                self._mark_bad("frame too long")
            else:
                self._lines.append(raw)
        return None

    def _mark_bad(self, reason: str) -> None:
        if self._bad is None:
            self._bad = reason
            self._lines.clear()

    def _end_frame(self) -> AmiMessage | None:
        lines, bad = self._lines, self._bad
        self._lines, self._bad, self._frame_bytes = [], None, 0
        if bad is None and not lines:
            return None  # stray blank line between frames
        if bad is None:
            pairs, bad = _split_pairs(lines)
            if bad is None:
                return AmiMessage(pairs)
        self.skipped_frames += 1
        log.warning("ami_frame_skipped", reason=bad, skipped=self.skipped_frames)
        return None


def _split_pairs(lines: list[bytes]) -> tuple[list[tuple[str, str]], str | None]:
    pairs: list[tuple[str, str]] = []
    follows = False
    for raw in lines:
        text = raw.decode("utf-8", "replace")
        key, sep, value = text.partition(":")
        if follows and (not sep or " " in key):
            # Old `Response: Follows` command output: raw lines until --END COMMAND--.
            if text != "--END COMMAND--":
                pairs.append(("Output", text))
            continue
        if not sep or not key or key != key.strip():
            return [], f"line without a key: {text[:80]!r}"
        value = value[1:] if value.startswith(" ") else value
        pairs.append((key, value))
        if key == "Response" and value == "Follows":
            follows = True
    return pairs, None
