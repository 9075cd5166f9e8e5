from __future__ import annotations

from pathlib import Path

import pytest

from pbx_bridge.config.load import load_config
from pbx_bridge.config.model import Config

# The contract's acme.yaml, copied beside the config tests (kept identical by a test there).
ACME = Path(__file__).resolve().parents[1] / "config" / "files" / "acme.yaml"


@pytest.fixture(scope="session")
def acme() -> Config:
    loaded = load_config(ACME)
    assert loaded.ok, [str(p) for p in loaded.errors]
    return loaded.config
