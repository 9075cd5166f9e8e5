"""The FastAGI wire format, sans-IO: the `agi_*` environment block, command responses, quoting.

Bounded and forgiving where Asterisk may be cut short (a caller name truncated mid-character is
replaced, never a decode error), strict where a peer is not Asterisk at all (lines that are not
`agi_*` end the session at once). The server in `fastagi.py` feeds it bytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

MAX_HEADER_BYTES = 64 * 1024
MAX_LINE_BYTES = 64 * 1024  # one command response (a 520 usage text is a few KB)
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\([^()\r\n]*\))?$")
APP_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_STATUS = re.compile(r"^(\d{3})[ -]?(.*)$")
_RESULT = re.compile(r"^result=(?P<result>\S*)(?:\s+\((?P<data>.*)\))?(?P<extra>.*)$")


class AgiProtocolError(Exception):
    """The peer broke the AGI protocol (oversized or malformed header block)."""


class AgiHangup(Exception):
    """The channel hung up: `HANGUP` line, `200 result=-1`, 511, or EOF."""


@dataclass(frozen=True)
class AgiResult:
    code: int
    result: str = ""
    data: str = ""
    extra: str = ""  # text after the result, e.g. `endpos=1234`
    lines: tuple[str, ...] = ()  # the raw lines (several for 520 usage text)


def _bad_line(line: bytes) -> bool:
    return not line.startswith(b"agi_") or b":" not in line


class AgiEnvParser:
    """Sans-IO reader of the `agi_*: value` block that opens a FastAGI session.

    A line that is not `agi_<name>: value` fails at once (garbage, HTTP probes), and so does a
    block larger than `max_bytes`, so a bad peer is dropped as soon as it shows itself.
    """

    def __init__(self, max_bytes: int = MAX_HEADER_BYTES) -> None:
        self.max_bytes = max_bytes
        self.env: dict[str, str] = {}
        self.done = False
        self._buffer = bytearray()
        self._checked = 0  # complete lines before this offset were looked at

    def feed(self, data: bytes) -> bytes:
        """Consume bytes; returns what follows the block once it is complete (else b"")."""
        if self.done:
            return bytes(data)
        buf = self._buffer
        if not buf and b"\r" not in data:  # the usual case: Asterisk writes it all at once
            end = data.find(b"\n\n")
            if end > 0:
                return self._finish(data, end, 2)
        buf += data
        if buf[:1] == b"\n" or buf[:2] == b"\r\n":  # an empty environment
            self.done = True
            rest = bytes(buf[1 if buf[:1] == b"\n" else 2 :])
            buf.clear()
            return rest
        start = max(self._checked - 1, 0)
        end, skip = buf.find(b"\n\n", start), 2
        if b"\r" in buf:
            crlf = buf.find(b"\n\r\n", start)
            if crlf >= 0 and (end < 0 or crlf < end):
                end, skip = crlf, 3
        if end < 0:
            self._check_partial()
            return b""
        return self._finish(buf, end, skip)

    def _finish(self, buf: bytes | bytearray, end: int, skip: int) -> bytes:
        if end > self.max_bytes:
            raise AgiProtocolError(f"AGI environment larger than {self.max_bytes} bytes")
        # Asterisk may cut a long caller name mid-character: replace, never raise.
        env = self.env
        for line in buf[:end].decode("utf-8", "replace").split("\n"):
            key, sep, value = line.partition(":")
            if not sep or not key.startswith("agi_"):
                raise AgiProtocolError(f"not an AGI environment line: {line[:60]!r}")
            env[key.strip()] = value.strip()
        self.done = True
        rest = bytes(buf[end + skip :])
        self._buffer.clear()
        return rest

    def _check_partial(self) -> None:
        buf = self._buffer
        pos = self._checked
        while (nl := buf.find(b"\n", pos)) >= 0:
            line = bytes(buf[pos:nl])
            if _bad_line(line):
                raise AgiProtocolError(f"not an AGI environment line: {line[:60]!r}")
            pos = nl + 1
        self._checked = pos
        head = bytes(buf[pos : pos + 4])
        if not b"agi_".startswith(head) and head != b"\r":  # `\r`: a CRLF blank line begins
            raise AgiProtocolError(f"not an AGI environment line: {bytes(buf[pos : pos + 60])!r}")
        if len(buf) > self.max_bytes:
            raise AgiProtocolError(f"AGI environment larger than {self.max_bytes} bytes")


def agi_args(env: Mapping[str, str]) -> list[str]:
    """`agi_arg_1`, `agi_arg_2`, ... in order, up to the first gap."""
    args: list[str] = []
    while f"agi_arg_{len(args) + 1}" in env:
        args.append(env[f"agi_arg_{len(args) + 1}"])
    return args


# The answers most commands get (`SET VARIABLE`, `EXEC`, `ANSWER`): AgiResult is frozen, so
# one instance each serves every session.
_COMMON = {
    line: AgiResult(200, result, "", "", (line,))
    for line, result in (("200 result=1", "1"), ("200 result=0", "0"))
}


def parse_response(lines: list[str]) -> AgiResult:
    """Parse one command response (a single line, or a 520- ... 520 block)."""
    first = lines[0]
    if len(lines) == 1 and (common := _COMMON.get(first)) is not None:
        return common
    if first.startswith("HANGUP"):
        raise AgiHangup("HANGUP")
    match = _STATUS.match(first)
    if match is None:
        raise AgiProtocolError(f"not an AGI response: {first[:80]!r}")
    code, rest = int(match.group(1)), match.group(2).strip()
    if code == 511:
        raise AgiHangup(rest or "511 dead channel")
    if code != 200:
        return AgiResult(code, "", rest, "", tuple(lines))
    found = _RESULT.match(rest)
    if found is None:
        return AgiResult(code, "", rest, "", tuple(lines))
    result, data = found.group("result"), found.group("data") or ""
    if result == "-1":
        raise AgiHangup("result=-1")
    return AgiResult(code, result, data, found.group("extra").strip(), tuple(lines))


def quote(value: str) -> str:
    """Quote caller-influenced text for one AGI argument: no line breaks, `"` and `\\` escaped.

    Control characters (a CR/LF would end the command and start another one) become spaces.
    """
    clean = value if value.isprintable() else _CONTROL.sub(" ", value)
    if "\\" in clean or '"' in clean:
        clean = clean.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{clean}"'


def script_name(network_script: str) -> str:
    """`route?x=1` and `/route` both route as `route`."""
    return network_script.split("?", 1)[0].strip("/")
