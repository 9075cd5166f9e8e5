"""File names, folders and email subjects from dynamic fields. Pure: no I/O, no clock.

The caller's name and number come from the network (SIP headers, CNAM) and are hostile until
proven otherwise: a value can never add a folder, climb out of the target folder, hide a file,
or put a line break into an email header. The operator's own pattern may contain folders.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pbx_bridge.config.delivery_model import DYNAMIC_FIELDS

# A single value is capped in characters; a whole file name in UTF-8 bytes: most file systems
# allow 255 bytes, and the worker's temporary upload name adds a few (see TEMP_NAME_ROOM).
MAX_VALUE_CHARS = 80
MAX_NAME_BYTES = 255
TEMP_NAME_ROOM = 40
MAX_TEXT_CHARS = 500

_FIELD = re.compile(r"%\{([a-z_]+)\}")
# Characters with a meaning to some file system or protocol: the path separators, and those
# Windows/SMB/OneDrive refuse (names often end up on such shares).
_PATH_UNSAFE = re.compile(r'[/\\:*?"<>|]')
_DOTS = re.compile(r"\.{2,}")
_SPACES = re.compile(r"\s+")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,8}$")
# Unicode categories dropped from caller text: controls (CR, LF, NUL...), format characters
# (bidi overrides that disguise an extension), separators for lines and paragraphs,
# surrogates, private use and unassigned code points.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})

# Line breaks of every kind become a space (words stay apart); other controls are dropped.
_BREAKS = frozenset("\t\r\n\x0b\x0c\x85\u2028\u2029")

Context = Literal["path", "text"]


@dataclass(frozen=True)
class CallFacts:
    """What the file is about. `call_time` is an aware datetime (stored as UTC ISO-8601)."""

    service_name: str = ""
    src_number: str = ""
    src_name: str = ""
    dst_number: str = ""
    call_time: datetime = datetime(1970, 1, 1, tzinfo=UTC)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["call_time"] = self.call_time.astimezone(UTC).isoformat()
        return data

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> CallFacts:
        when = datetime.fromisoformat(str(data.get("call_time") or "1970-01-01T00:00:00+00:00"))
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return CallFacts(str(data.get("service_name", "")), str(data.get("src_number", "")),
                         str(data.get("src_name", "")), str(data.get("dst_number", "")), when)


def clean_text(value: str, *, limit: int = MAX_VALUE_CHARS) -> str:
    """NFC text with no control, format or line-separator characters, whitespace collapsed."""
    value = unicodedata.normalize("NFC", value)
    value = "".join(" " if ch in _BREAKS else ch for ch in value
                    if ch in _BREAKS or unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    return _SPACES.sub(" ", value).strip()[:limit].strip()


def clean_path_value(value: str, *, limit: int = MAX_VALUE_CHARS) -> str:
    """A value safe inside one path segment: no separators, no `..`, no leading dot."""
    value = _PATH_UNSAFE.sub("_", clean_text(value, limit=limit))
    value = _DOTS.sub(".", value)
    return value.strip(". ")


def field_values(facts: CallFacts, tz: str | ZoneInfo) -> dict[str, str]:
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    local = facts.call_time.astimezone(zone)
    return {
        "src_number": facts.src_number,
        "src_name": facts.src_name,
        "dst_number": facts.dst_number,
        "service_name": facts.service_name,
        "call_time": local.strftime("%Y-%m-%d %H-%M-%S"),
        "call_year": local.strftime("%Y"),
        "call_month": local.strftime("%m"),
        "call_day": local.strftime("%d"),
        "call_hour": local.strftime("%H"),
    }


def render(pattern: str, facts: CallFacts, tz: str | ZoneInfo, *,
           context: Context = "path") -> str:
    """Substitute the dynamic fields; each value is cleaned for where it lands."""
    values = field_values(facts, tz)
    clean = clean_path_value if context == "path" else clean_text

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        return clean(values[name]) if name in DYNAMIC_FIELDS else match.group(0)

    out = _FIELD.sub(one, pattern)
    # The pattern is the operator's, but a header must stay one line whatever they wrote.
    return clean_text(out, limit=MAX_TEXT_CHARS) if context == "text" else out


def cap_bytes(name: str, max_bytes: int) -> str:
    """Shorten a file name to `max_bytes` of UTF-8, keeping its extension and whole characters."""
    if len(name.encode()) <= max_bytes:
        return name
    match = _EXTENSION.search(name)
    ext = match.group(0) if match else ""
    stem = name[: len(name) - len(ext)]
    budget = max_bytes - len(ext.encode())
    encoded = stem.encode()[:max(budget, 0)]
    return encoded.decode("utf-8", errors="ignore").rstrip(". ") + ext


def file_name(pattern: str, facts: CallFacts, tz: str | ZoneInfo, *, source_suffix: str = ""
              ) -> str:
    """One file name (never a path): the pattern rendered, the source's extension added when the
    pattern has none, capped so that a temporary upload name still fits."""
    rendered = render(pattern, facts, tz)
    # Separators in the operator's pattern would make folders: a file name pattern is a name.
    # Each value is already capped, so this only bounds a pathological pattern.
    name = _PATH_UNSAFE.sub("_", clean_text(rendered, limit=len(rendered)))
    name = _DOTS.sub(".", name).strip(". ")
    if not name.strip("_- "):
        name = "unnamed"
    suffix = source_suffix if source_suffix.startswith(".") or not source_suffix \
        else "." + source_suffix
    if suffix and not _EXTENSION.search(pattern.strip()):
        name += suffix
    return cap_bytes(name, MAX_NAME_BYTES - TEMP_NAME_ROOM)


def folder(pattern: str, facts: CallFacts, tz: str | ZoneInfo) -> str:
    """A folder from the operator's pattern. Only the pattern's own `/` make levels; a segment
    that ends up empty, `.` or `..` is dropped or neutralised, so nothing climbs out."""
    rendered = render(pattern, facts, tz)
    absolute = rendered.startswith("/")
    parts = []
    for part in rendered.split("/"):
        part = clean_text(part, limit=MAX_NAME_BYTES)
        if part in ("", "."):
            continue
        if part == "..":
            part = "_"
        parts.append(cap_bytes(part, MAX_NAME_BYTES))
    joined = "/".join(parts)
    return ("/" + joined) if absolute else joined


def join(folder_path: str, name: str) -> str:
    if not folder_path:
        return name
    return str(PurePosixPath(folder_path) / name)


def subject(pattern: str, facts: CallFacts, tz: str | ZoneInfo) -> str:
    """An email subject or body line: never a CR or LF, whatever the caller sent."""
    return render(pattern, facts, tz, context="text")
