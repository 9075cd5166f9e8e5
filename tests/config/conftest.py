from __future__ import annotations

from pathlib import Path

import pytest

from tests.config.checking import MINIMAL_ENV, Checker


@pytest.fixture
def check(tmp_path: Path, capsys: pytest.CaptureFixture[str],
          monkeypatch: pytest.MonkeyPatch) -> Checker:
    """Runs `pbx-bridge check` on a config text, with what minimal.yaml needs around it."""
    for name, value in MINIMAL_ENV.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "greeting.wav").write_bytes(b"RIFF\0\0\0\0WAVE")
    return Checker(tmp_path, capsys)
