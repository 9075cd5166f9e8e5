"""`pbx-bridge lab demo` end to end on a copy of config/example.yaml (its store and delivery
folder moved into tmp_path): real Asterisk, sipp phones and carrier, files delivered."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pbx_bridge.lab.pytest_plugin import leftover_processes

pytestmark = pytest.mark.asterisk

CONFIG = Path(__file__).parents[2] / "config"


def test_the_demo_runs_the_example_office_and_delivers_every_file(
        lab_root: Path, tmp_path: Path) -> None:
    office = tmp_path / "office"
    shutil.copytree(CONFIG, office)
    example = office / "example.yaml"
    example.write_text(example.read_text().replace("/var/lib/pbx-bridge", str(tmp_path)))
    bridge = Path(sys.executable).with_name("pbx-bridge")

    started = time.monotonic()
    proc = subprocess.run([str(bridge), "lab", "demo", "--root", str(lab_root),
                           "--config", str(example)],
                          capture_output=True, text=True, timeout=90, check=False)
    seconds = time.monotonic() - started
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert seconds < 60, out

    assert "5/5 calls as expected; every file delivered" in out
    assert "answered by sales-2" in out and "rang: reception BUSY" in out
    assert "refused by the router: 33170000199 is not a DID of this system" in out
    delivered = sorted(p.name for p in (tmp_path / "recordings").rglob("*.wav"))
    assert [name.split("-2026-")[0] for name in delivered] == [
        "Call recording-33611223344-33170000100",  # reception's own inbound_external flag
        "Call recording-33612345678-33170000102",  # the main line's call recorder module
        "Voicemail-33655667788-33170000100", "Voicemail-33698765432-33170000102"]
    [given] = [line for line in out.splitlines() if line.startswith("secrets generated")]
    assert given.split(": ", 1)[1].split(", ") == [  # names only, never values
        "PBX_BRIDGE_AMI_SECRET", "PBX_BRIDGE_RECEPTION_PASSWORD", "PBX_BRIDGE_SALES1_PASSWORD",
        "PBX_BRIDGE_SALES2_PASSWORD", "PBX_BRIDGE_SMTP_PASSWORD"]

    run_dir = Path(re.search(r"run folder (\S+)\)", out)[1])
    assert not run_dir.exists()  # removed after a run that went well
    assert leftover_processes([], f"{run_dir.relative_to(lab_root)}/") == []
    assert "stopped" in out
