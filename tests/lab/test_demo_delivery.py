"""The demo hands its recordings to the config's delivery method and shows the log."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pbx_bridge.delivery.naming import CallFacts
from pbx_bridge.lab.demo_delivery import DemoDeliveryError, deliver_recordings


def config(tmp_path: Path) -> Path:
    path = tmp_path / "demo.yaml"
    path.write_text(f"""
system:
  name: Demo
  timezone: Europe/Paris
  store: sqlite://{tmp_path}/demo.db
delivery_methods:
  - name: recordings-local
    type: local
    directory: {tmp_path}/out/%{{call_year}}
    file_name: "%{{service_name}}-%{{src_number}}-%{{call_time}}.wav"
""")
    return path


def test_recordings_are_delivered_under_their_pattern_names_and_logged(tmp_path: Path) -> None:
    recording = tmp_path / "1795418878.0.wav"
    recording.write_bytes(b"RIFF" + bytes(1000))
    facts = CallFacts("Recording", "15559876543", "", "15551230001",
                      datetime(2026, 11, 23, 7, 27, 57, tzinfo=UTC))

    lines = deliver_recordings(config(tmp_path), "recordings-local", [(recording, facts)])

    delivered = tmp_path / "out/2026/Recording-15559876543-2026-11-23 08-27-57.wav"
    assert delivered.read_bytes() == b"RIFF" + bytes(1000)
    assert not recording.exists()  # handed on: the local copy goes once delivered
    assert lines == [f"#1 delivered recordings-local attempts=1 {recording} -> {delivered}"]


def test_an_unknown_method_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DemoDeliveryError, match="no delivery method named 'nope'"):
        deliver_recordings(config(tmp_path), "nope", [])
