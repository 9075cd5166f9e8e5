"""`pbx-bridge run`: refuses what it could not work with, runs its parts, drains on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
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


class Bridge:
    """`pbx-bridge run` in a subprocess; a thread hands its stderr lines over a queue, so a
    wait never misses a line already read into a buffer (select() on the pipe would)."""

    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pbx_bridge.cli", "run", str(config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **env})
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.said: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for_event(self, event: str) -> dict:
        """The first JSON log record named `event` (or fail after TIMEOUT)."""
        deadline = time.monotonic() + TIMEOUT
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.said.append(line)
            with contextlib.suppress(json.JSONDecodeError):
                record = json.loads(line)
                if record.get("event") == event:
                    return record
        raise AssertionError(f"no {event} within {TIMEOUT} s; the bridge said: "
                             f"{''.join(self.said)}")

    def stop(self) -> int:
        """SIGTERM, as an init system would; the exit status (killed if it hangs)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(TIMEOUT)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()

    def all_said(self) -> str:
        while (line := self.lines.get(timeout=TIMEOUT)) is not None:
            self.said.append(line)
        return "".join(self.said)


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

    bridge = Bridge(config, MINIMAL_ENV)
    try:
        ready = bridge.wait_for_event("bridge_ready")
        assert ready["components"] == ["delivery", "routing"]
        with socket.create_connection(("127.0.0.1", agi_port), timeout=TIMEOUT):
            pass  # the FastAGI router listens where the config says
        delivered = bridge.wait_for_event("delivery_delivered")
        assert Path(delivered["remote_name"]).read_bytes() == b"RIFF" + bytes(100)
    finally:
        assert bridge.stop() == 0
    said = bridge.all_said()
    assert not any(value in said for value in MINIMAL_ENV.values())


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
        bridge = Bridge(config, {**MINIMAL_ENV, "PBX_TEST_AMI_SECRET": ami.secret})
        try:
            ready = bridge.wait_for_event("bridge_ready")
            assert ready["components"] == ["delivery", "events", "routing"]
            assert ami.logins == [True]
        finally:
            assert bridge.stop() == 0


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
