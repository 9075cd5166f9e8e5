"""Running `pbx-bridge check` on a config written to disk, and reading what it printed.

Rule tests start from `files/minimal.yaml` (a complete config with no problem at all), change
one thing with `edited`, and assert the exact `FILE:LINE` of the offending key: the line is
found by searching the edited text for a snippet that occurs on exactly one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from pbx_bridge.cli import main

FILES = Path(__file__).parent / "files"
MINIMAL = (FILES / "minimal.yaml").read_text(encoding="utf-8")

# minimal.yaml reads its SIP passwords from these and plays greeting.wav from beside itself.
MINIMAL_ENV = {
    "PBX_TEST_DESK1_PASSWORD": "desk-one-password",
    "PBX_TEST_DESK2_PASSWORD": "desk-two-password",
}


def edited(text: str, changes: dict[str, str]) -> str:
    """`text` with each snippet replaced; each must occur exactly once, so edits can't miss."""
    for old, new in changes.items():
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times, not once"
        text = text.replace(old, new)
    return text


def line_of(text: str, snippet: str) -> int:
    """The 1-based line of `text` holding `snippet` (which must be on exactly one line)."""
    found = [n for n, line in enumerate(text.splitlines(), 1) if snippet in line]
    assert len(found) == 1, f"{snippet!r} is on lines {found}, not on exactly one"
    return found[0]


@dataclass(frozen=True)
class Checked:
    """What one `pbx-bridge check` run returned and printed."""

    path: Path
    text: str
    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err

    @property
    def problems(self) -> list[tuple[int, str]]:
        """(line, message) of every `FILE:LINE: message` printed, in printed order."""
        pattern = re.compile(rf"^{re.escape(str(self.path))}:(\d+): (.*)$")
        return [(int(m[1]), m[2]) for m in map(pattern.match, self.output.splitlines()) if m]

    @property
    def errors(self) -> list[tuple[int, str]]:
        return [(line, msg) for line, msg in self.problems if not msg.startswith("warning: ")]

    @property
    def warnings(self) -> list[tuple[int, str]]:
        return [(line, msg.removeprefix("warning: ")) for line, msg in self.problems
                if msg.startswith("warning: ")]

    def line_of(self, snippet: str) -> int:
        return line_of(self.text, snippet)

    def errors_at(self, snippet: str) -> list[str]:
        line = self.line_of(snippet)
        return [msg for at, msg in self.errors if at == line]

    def only_error_at(self, snippet: str) -> str:
        """The message of the one error printed, asserting it is on the line of `snippet`."""
        assert self.code == 1, f"expected exit 1, got {self.code}:\n{self.output}"
        assert len(self.errors) == 1, f"expected exactly one error:\n{self.output}"
        line = self.line_of(snippet)
        assert self.errors[0][0] == line, (
            f"expected the error at line {line} ({snippet!r}):\n{self.output}")
        return self.errors[0][1]

    def assert_valid(self) -> None:
        assert (self.code, self.errors) == (0, []), self.output
        assert "Traceback" not in self.output


class Checker:
    """`check(text)` writes the config into a fresh file and runs `pbx-bridge check` on it."""

    def __init__(self, directory: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.directory = directory
        self.capsys = capsys

    def __call__(self, text: str, name: str = "pbx.yaml") -> Checked:
        path = self.directory / name
        path.write_text(text, encoding="utf-8")
        return self.path(path, text)

    def path(self, path: Path, text: str = "") -> Checked:
        self.capsys.readouterr()
        code = main(["check", str(path)])
        out, err = self.capsys.readouterr()
        assert "Traceback" not in out + err
        return Checked(path, text, code, out, err)

    def minimal_with(self, old: str, new: str) -> Checked:
        """minimal.yaml with one snippet replaced."""
        return self(edited(MINIMAL, {old: new}))
