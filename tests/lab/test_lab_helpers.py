"""Helpers of the lab that need no Asterisk: process leftovers, the lab loop, WAV stats."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from pbx_bridge.lab.pytest_plugin import LabLoop, lab_problem, leftover_processes
from pbx_bridge.lab.recordings import RecordingListener, wav_stats


def test_leftover_processes_sees_live_and_ignores_reaped() -> None:
    marker = "pbx-bridge-leftover-probe"
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()", marker], stdin=subprocess.PIPE
    )
    try:
        assert any(line.startswith(f"{child.pid}:") for line in leftover_processes([child.pid], ""))
        assert any(marker in line for line in leftover_processes([], marker))
    finally:
        assert child.stdin is not None
        child.stdin.close()  # the child exits on EOF: no signal, no sleep
        child.wait(10)
    assert leftover_processes([child.pid], marker) == []


def test_lab_problem_names_what_is_missing(tmp_path: Path) -> None:
    problem = lab_problem(tmp_path / "nowhere")
    assert problem is not None
    assert "not root" in problem or f"no cached Asterisk root at {tmp_path}" in problem


def test_lab_loop_runs_coroutines_and_times_out() -> None:
    loop = LabLoop()
    try:
        assert loop.run(asyncio.sleep(0, result=42)) == 42
        with pytest.raises(TimeoutError):
            loop.run(asyncio.Event().wait(), timeout=0.05)
    finally:
        loop.close()


def test_wav_stats(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\xe8\x03\x18\xfc" * 8000)  # +1000, -1000 for 2 s
    stats = wav_stats(path)
    assert (stats.seconds, stats.rate, round(stats.rms)) == (2.0, 8000, 1000)


def test_recording_listener_reports_paths() -> None:
    async def main() -> None:
        async with RecordingListener() as listener:
            assert f"/dev/tcp/127.0.0.1/{listener.port}" in listener.post_command()
            _, writer = await asyncio.open_connection("127.0.0.1", listener.port)
            writer.write(b"/opt/x/rec.wav\n")
            await writer.drain()
            assert await listener.wait(5) == "/opt/x/rec.wav"
            writer.close()

    asyncio.run(main())
