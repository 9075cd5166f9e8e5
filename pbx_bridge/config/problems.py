"""Problems found in a config: each names a place and says what to do."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pbx_bridge.config.source import Where


class Severity(Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    where: Where
    message: str
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def __str__(self) -> str:
        prefix = "warning: " if self.severity is Severity.WARNING else ""
        return f"{self.where}: {prefix}{self.message}"


def sorted_problems(problems: list[Problem]) -> list[Problem]:
    """By file and line, errors before warnings on the same line, stable otherwise."""
    return sorted(problems, key=lambda p: (p.where.file, p.where.line, not p.is_error))


class Problems(list[Problem]):
    """A collector handed through parsing and the rules."""

    def error(self, where: Where, message: str) -> None:
        self.append(Problem(where, message))

    def warning(self, where: Where, message: str) -> None:
        self.append(Problem(where, message, Severity.WARNING))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self if not p.is_error]
