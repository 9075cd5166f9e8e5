"""Secrets as `env:NAME` / `file:/path` references, resolved only when needed.

A Secret never shows its value in repr/str, and every value it resolves is remembered so the
log redactor can mask it wherever it turns up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pbx_bridge.config.source import Where

_resolved_values: set[str] = set()


def known_secret_values() -> frozenset[str]:
    """Every secret value resolved in this process (for log redaction)."""
    return frozenset(_resolved_values)


class SecretUnresolved(Exception):
    """A referenced secret is not available; the message names the reference, never a value."""


@dataclass(frozen=True)
class Secret:
    """A reference to a secret. `inline` is a value written in the file itself (discouraged)."""

    reference: str
    where: Where
    key: str
    inline: bool = field(default=False)
    base: str = ""  # `file:` paths that are relative are relative to the config file's folder

    @staticmethod
    def parse(text: str, where: Where, key: str) -> Secret:
        if text.startswith("file:") and not text.startswith("file:/"):
            return Secret(text, where, key, base=_folder_of(where.file))
        if text.startswith(("env:", "file:")):
            return Secret(text, where, key)
        return Secret(text, where, key, inline=True)

    def describe(self) -> str:
        """What to show an operator: the reference, or that the value is inline."""
        return "an inline value" if self.inline else self.reference

    def unresolved_reason(self) -> str | None:
        """Why resolve() would fail, or None when it would succeed."""
        return self._lookup()[1]

    def resolve(self) -> str:
        value, reason = self._lookup()
        if reason is not None:
            raise SecretUnresolved(reason)
        _resolved_values.add(value)
        return value

    def _lookup(self) -> tuple[str, str | None]:
        """(value, None) or ("", why not); no exceptions: `check` asks for thousands."""
        if self.inline:
            return self.reference, None
        if self.reference.startswith("env:"):
            name = self.reference[4:]
            if not name:
                return "", f"{self.key}: `env:` needs a variable name"
            value = os.environ.get(name, "")
            return (value, None) if value else (
                "", f"{self.key}: environment variable {name} is not set")
        path = Path(self.base, self.reference[5:])
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or "not UTF-8 text"
            return "", f"{self.key}: cannot read {path}: {why}"
        value = lines[0].strip() if lines else ""
        return (value, None) if value else ("", f"{self.key}: {path} is empty")

    def __repr__(self) -> str:
        return f"Secret({self.describe()!r})"

    __str__ = __repr__


@lru_cache(maxsize=64)
def _folder_of(config_file: str) -> str:
    return str(Path(config_file).resolve().parent)
