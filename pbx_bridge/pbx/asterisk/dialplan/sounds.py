"""Greetings Asterisk can play: every audio file as 8 kHz mono 16-bit WAV. The I/O edge.

A WAV already in that format is copied byte for byte; anything else (another rate, stereo,
MP3, FLAC... whatever the local sox reads) is converted with sox, repeatable and without
dither, so the same input gives the same bytes. A missing, unreadable or unconvertible file is
a problem naming it; `dialplan` and `run` refuse on any.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

from pbx_bridge.config.external import missing_audio_files
from pbx_bridge.config.model import AudioFile, Config
from pbx_bridge.config.problems import Severity
from pbx_bridge.pbx.asterisk.dialplan import names

SOX_TIMEOUT = 60.0


def playable_as_is(path: Path) -> bool:
    try:
        with wave.open(str(path), "rb") as wav:
            return (wav.getframerate(), wav.getnchannels(), wav.getsampwidth(),
                    wav.getcomptype()) == (8000, 1, 2, "NONE")
    except (wave.Error, EOFError, OSError):
        return False


def _convert(audio: AudioFile, target: Path) -> str | None:
    where = f"{audio.at('file')}: audio file {audio.name}: {audio.file}"
    if playable_as_is(audio.path):
        shutil.copyfile(audio.path, target)
        return None
    sox = shutil.which("sox")
    if sox is None:
        return f"{where} is not 8 kHz mono 16-bit WAV and sox is not installed to convert it"
    try:
        proc = subprocess.run(
            [sox, "-V1", "-R", "-D", str(audio.path), "-r", "8000", "-c", "1", "-b", "16",
             "-e", "signed-integer", str(target)],
            capture_output=True, text=True, errors="replace", timeout=SOX_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{where}: sox failed: {exc}"
    if proc.returncode != 0:
        detail = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return f"{where}: not an audio file sox can read ({detail[0]})"
    return None


def prepare(config: Config, sounds_dir: Path) -> list[str]:
    """Write each greeting as `<sounds_dir>/<names.sound(audio)>.wav`; return the problems."""
    problems = [str(p) for p in missing_audio_files(config, Severity.ERROR)]
    if problems:
        return problems
    sounds_dir.mkdir(parents=True, exist_ok=True)
    for audio in config.audio_files:
        if not audio.file:
            continue
        target = sounds_dir / f"{names.sound(audio)}.wav"
        partial = target.with_suffix(".partial.wav")
        problem = _convert(audio, partial)
        if problem:
            partial.unlink(missing_ok=True)
            problems.append(problem)
        else:
            partial.replace(target)
            target.chmod(0o644)
    return problems
