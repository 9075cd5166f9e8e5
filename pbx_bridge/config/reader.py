"""Typed reading of one YAML mapping, reporting every wrong type or unknown key as a Problem.

A Section never raises for bad input: it records the problem and returns a default, so one run
of `check` reports everything at once.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from datetime import date, time
from typing import Any, TypeVar

from pbx_bridge.config.problems import Problems
from pbx_bridge.config.secrets import Secret
from pbx_bridge.config.source import LocatedList, LocatedMap, Where

T = TypeVar("T")

_TIME = re.compile(r"^([01]?[0-9]|2[0-4]):([0-5][0-9])$")
_DIGITS = re.compile(r"^\+?[0-9]+$")


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "nothing" if value is None else type(value).__name__


class Section:
    """One mapping of the config, named by its path (e.g. `call_flows[main-line].modules.menu`)."""

    def __init__(self, data: Any, path: str, where: Where, problems: Problems) -> None:
        self.path = path
        self.problems = problems
        self.used: set[str] = set()
        if isinstance(data, LocatedMap):
            self.data: LocatedMap = data
            self.where = data.where
            self.valid = True
        else:
            self.data = LocatedMap()
            self.data.where, self.data.key_where = where, {}
            self.where = where
            self.valid = data is None
            if data is not None:
                what = path or "the file"
                example = "" if path else " (like `system:`)"
                problems.error(where, f"{what} must be a mapping of keys{example}, "
                                      f"not {_type_name(data)}")

    # -- places and messages -------------------------------------------------------------
    def at(self, key: str) -> Where:
        return self.data.at(key)

    def name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, message: str) -> None:
        self.problems.error(self.at(key), f"{self.name(key)}: {message}")

    def warning(self, key: str, message: str) -> None:
        self.problems.warning(self.at(key), f"{self.name(key)}: {message}")

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def raw(self, key: str) -> Any:
        self.used.add(key)
        return self.data.get(key)

    def _missing(self, key: str, required: bool, what: str) -> None:
        if required:
            self.problems.error(self.where, f"{self.name(key)} is required ({what})")

    # -- scalars -------------------------------------------------------------------------
    def text(self, key: str, default: str = "", *, required: bool = False, what: str = "text",
             numeric: bool = False) -> str:
        value = self.raw(key)
        if value is None:
            self._missing(key, required, what)
            return default
        if isinstance(value, int) and not isinstance(value, bool) and numeric:
            return str(value)
        if not isinstance(value, str):
            self.error(key, f"expected {what}, got {_type_name(value)}")
            return default
        if required and not value.strip():
            self.error(key, f"must not be empty ({what})")
        return value

    def integer(self, key: str, default: int, *, low: int | None = None, high: int | None = None,
                unit: str = "") -> int:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(key, f"expected a whole number{f' of {unit}' if unit else ''}, "
                            f"got {_type_name(value)} {value!r}")
            return default
        if low is not None and value < low:
            self.error(key, f"must be at least {low}{f' {unit}' if unit else ''}, got {value}")
        if high is not None and value > high:
            self.error(key, f"must be at most {high}{f' {unit}' if unit else ''}, got {value}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.error(key, f"expected true or false, got {_type_name(value)} {value!r}")
            return default
        return value

    def choice(self, key: str, choices: Iterable[str], default: str = "", *,
               required: bool = False) -> str:
        options = list(choices)
        value = self.text(key, default, required=required, what="one of " + ", ".join(options))
        if value and value not in options:
            self.error(key, f"{value!r} is not one of: {', '.join(options)}")
            return default
        return value

    def number(self, key: str, *, required: bool = False) -> str:
        """A phone number: digits with an optional '+', kept as text without the '+'."""
        value = self.text(key, required=required, what="a phone number", numeric=True)
        if value and not _DIGITS.match(value):
            self.error(key, f"{value!r} is not a phone number (digits, optionally a leading +)")
            return ""
        return value.lstrip("+")

    def secret(self, key: str, *, required: bool = False) -> Secret | None:
        value = self.text(key, required=required, what="a secret: env:NAME or file:/path")
        if not value:
            return None
        secret = Secret.parse(value, self.at(key), self.name(key))
        if secret.inline:
            self.warning(key, "secret written inline; use env:NAME or file:/path instead")
        return secret

    def clock(self, key: str, *, required: bool = True) -> time | None:
        value = self.text(key, required=required, what='a time of day like "09:00"')
        if not value:
            return None
        match = _TIME.match(value)
        if not match or (int(match[1]) == 24 and match[2] != "00"):
            self.error(key, f'{value!r} is not a time of day; write it like "09:00" (24-hour)')
            return None
        hour, minute = int(match[1]), int(match[2])
        return time.max if hour == 24 else time(hour, minute)

    # -- collections ---------------------------------------------------------------------
    def items(self, key: str, *, required: bool = False, what: str = "a list") -> LocatedList:
        value = self.raw(key)
        if value is None:
            self._missing(key, required, what)
            empty = LocatedList()
            empty.where, empty.item_where = self.at(key), []
            return empty
        if not isinstance(value, LocatedList):
            self.error(key, f"expected {what}, got {_type_name(value)}")
            empty = LocatedList()
            empty.where, empty.item_where = self.at(key), []
            return empty
        return value

    def texts(self, key: str, *, required: bool = False, what: str = "names",
              numeric: bool = False) -> tuple[tuple[str, Where], ...]:
        """A list of text items (a single text is accepted as a list of one)."""
        value = self.raw(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return ((str(value), self.at(key)),)
        seq = self.items(key, required=required, what=f"a list of {what}")
        out: list[tuple[str, Where]] = []
        for index, item in enumerate(seq):
            if isinstance(item, str) or (numeric and isinstance(item, int)
                                         and not isinstance(item, bool)):
                out.append((str(item), seq.at(index)))
            else:
                self.problems.error(seq.at(index), f"{self.name(key)}[{index}]: expected "
                                    f"{what}, got {_type_name(item)}")
        return tuple(out)

    def numbers(self, key: str) -> tuple[tuple[str, Where], ...]:
        out = []
        for value, where in self.texts(key, what="phone numbers", numeric=True):
            if _DIGITS.match(value):
                out.append((value.lstrip("+"), where))
            else:
                self.problems.error(where, f"{self.name(key)}: {value!r} is not a phone number")
        return tuple(out)

    def dates(self, key: str) -> tuple[tuple[date, Where], ...]:
        out = []
        for value, where in self.texts(key, what='dates like "2026-12-25"'):
            try:
                out.append((date.fromisoformat(value), where))
            except ValueError:
                self.problems.error(where, f'{self.name(key)}: {value!r} is not a date; write '
                                    'it like "2026-12-25"')
        return tuple(out)

    def section(self, key: str, *, required: bool = False) -> Section:
        value = self.raw(key)
        if value is None:
            self._missing(key, required, "a mapping")
        return Section(value, self.name(key), self.at(key), self.problems)

    def sections(self, key: str, label: str = "name") -> Iterator[Section]:
        """The mappings of a list, each named by its `label` key when it has one."""
        seq = self.items(key, what="a list of mappings")
        for index, item in enumerate(seq):
            tag = item.get(label) if isinstance(item, dict) else None
            path = f"{self.name(key)}[{tag if isinstance(tag, str | int) else index}]"
            yield Section(item, path, seq.at(index), self.problems)

    # -- unknown keys --------------------------------------------------------------------
    def done(self, also_known: Iterable[str] = ()) -> None:
        """Report keys that nothing read: a typo there would silently change behaviour."""
        known = self.used | set(also_known)
        for key in self.data:
            if key not in known:
                hint = difflib.get_close_matches(key, sorted(known), n=1)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
                self.error(key, f"unknown key{suggestion}")
