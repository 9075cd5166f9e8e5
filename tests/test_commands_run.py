"""`pbx-bridge run`: refuses what it could not work with, runs its parts, drains on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from pbx_bridge.config.load import load_config
from pbx_bridge.delivery.naming import CallFacts
from pbx_bridge.delivery.queue import submit
from pbx_bridge.store import open_store
from tests.config.checking import MINIMAL, MINIMAL_ENV, edited
from tests.pbx.asterisk.fake_ami import FakeAmi

TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_config(tmp_path: Path, agi_port: int = 0, ami_port: int = 0) -> Path:
    path = tmp_path / "pbx.yaml"
    pbx = f"\n  pbx:\n    agi:\n      listen: 127.0.0.1:{agi_port}" if agi_port else ""
    if ami_port:
        pbx += (f"\n    ami:\n      port: {ami_port}\n      username: bridge"
                "\n      secret: env:PBX_TEST_AMI_SECRET")
    path.write_text(edited(MINIMAL, {
        "  timezone: Europe/Paris":
            f"  timezone: Europe/Paris\n  store: sqlite://{tmp_path}/b.db{pbx}",
        "directory: /var/archive/%{call_year}": f"directory: {tmp_path}/archive/%{{call_year}}",
    }))
    (tmp_path / "greeting.wav").write_bytes(b"RIFF")
    return path


def run_bridge(config: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "pbx_bridge.cli", "run", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **env})


def wait_for_event(process: subprocess.Popen[str], event: str) -> dict:
    """Read the bridge's JSON log lines until `event` appears (or fail after TIMEOUT)."""
    assert process.stderr is not None
    deadline = time.monotonic() + TIMEOUT
    seen = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stderr], [], [], deadline - time.monotonic())
        if not ready:
            break
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("event") == event:
            return record
    raise AssertionError(f"no {event} within {TIMEOUT} s; the bridge said: {''.join(seen)}")


def test_unresolved_secrets_and_missing_audio_refuse_the_start_naming_each(
        tmp_path: Path) -> None:
    config = write_config(tmp_path)
    (tmp_path / "greeting.wav").unlink()
    env = {k: v for k, v in os.environ.items() if k not in MINIMAL_ENV}
    done = subprocess.run([sys.executable, "-m", "pbx_bridge.cli", "run", str(config)],
                          capture_output=True, text=True, env=env, timeout=TIMEOUT)
    assert done.returncode == 1
    errors = done.stderr.splitlines()
    assert sum("unresolved secret:" in line for line in errors) == len(MINIMAL_ENV)
    assert any("audio file greeting: greeting.wav not found" in line for line in errors)
    assert errors[-1].endswith("refusing to start (3 unresolved secrets or audio files, each "
                               "named above)")
    assert all(line.startswith(f"{config}:") for line in errors)


def test_the_bridge_delivers_queued_files_and_sigterm_drains_and_exits_0(tmp_path: Path) -> None:
    agi_port = free_port()
    config = write_config(tmp_path, agi_port)
    loaded = load_config(config)
    recording = tmp_path / "1795418878.0.wav"
    recording.write_bytes(b"RIFF" + bytes(100))
    store = open_store(loaded.config.system.store)
    submit(store, loaded.config, recording, ["archive"],
           CallFacts("Recording", "12025550123", "", "33100000001",
                     datetime(2026, 11, 23, 8, 0, tzinfo=UTC)))
    store.close()

    bridge = run_bridge(config, MINIMAL_ENV)
    try:
        ready = wait_for_event(bridge, "bridge_ready")
        assert ready["components"] == ["delivery", "routing"]
        with socket.create_connection(("127.0.0.1", agi_port), timeout=TIMEOUT):
            pass  # the FastAGI router listens where the config says
        delivered = wait_for_event(bridge, "delivery_delivered")
        assert Path(delivered["remote_name"]).read_bytes() == b"RIFF" + bytes(100)
        bridge.send_signal(signal.SIGTERM)
        assert bridge.wait(TIMEOUT) == 0
    finally:
        if bridge.poll() is None:
            bridge.kill()
            bridge.wait()
    assert not any(MINIMAL_ENV[k] in (bridge.stderr.read() if bridge.stderr else "")
                   for k in MINIMAL_ENV)


def test_a_port_in_use_is_one_clear_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = write_config(tmp_path, taken.getsockname()[1])
        done = subprocess.run([sys.executable, "-m", "pbx_bridge.cli", "run", str(config)],
                              capture_output=True, text=True, timeout=TIMEOUT,
                              env={**os.environ, **MINIMAL_ENV})
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1].startswith("error: routing: ")


@contextlib.contextmanager
def fake_ami() -> Iterator[FakeAmi]:
    """The fake AMI server on its own loop in a thread: the bridge runs in a subprocess."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fake = asyncio.run_coroutine_threadsafe(FakeAmi().start(), loop).result(TIMEOUT)
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(fake.close(), loop).result(TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(TIMEOUT)
        loop.close()


def test_with_ami_configured_the_bridge_follows_calls_too(tmp_path: Path) -> None:
    with fake_ami() as ami:
        config = write_config(tmp_path, free_port(), ami.port)
        bridge = run_bridge(config, {**MINIMAL_ENV, "PBX_TEST_AMI_SECRET": ami.secret})
        try:
            ready = wait_for_event(bridge, "bridge_ready")
            assert ready["components"] == ["delivery", "events", "routing"]
            assert ami.logins == [True]
            bridge.send_signal(signal.SIGTERM)
            assert bridge.wait(TIMEOUT) == 0
        finally:
            if bridge.poll() is None:
                bridge.kill()
                bridge.wait()


def test_a_refused_ami_login_stops_the_start_after_one_attempt(tmp_path: Path) -> None:
    with fake_ami() as ami:
        config = write_config(tmp_path, free_port(), ami.port)
        done = subprocess.run([sys.executable, "-m", "pbx_bridge.cli", "run", str(config)],
                              capture_output=True, text=True, timeout=TIMEOUT,
                              env={**os.environ, **MINIMAL_ENV,
                                   "PBX_TEST_AMI_SECRET": "not-the-secret"})
        assert ami.logins == [False]  # never retried: fail2ban would ban the bridge
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1].startswith("error: events: AMI login refused")
    assert "not-the-secret" not in done.stderr + done.stdout
