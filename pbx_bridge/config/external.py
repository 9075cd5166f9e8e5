"""What a config needs from outside itself: secrets and audio files.

`check` reports them as warnings (the file itself is fine); `dialplan` and `run` turn the same
problems into errors, naming each one.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from functools import cache
from typing import Any

from pbx_bridge.config.model import Config
from pbx_bridge.config.problems import Problem, Severity, sorted_problems
from pbx_bridge.config.secrets import Secret


@cache
def _compared_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.compare)


def iter_secrets(value: Any) -> Iterator[Secret]:
    """Every Secret anywhere in the model (callers sort by place when order matters)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | int | bool) or item is None:
            continue
        if isinstance(item, Secret):
            yield item
        elif isinstance(item, tuple | list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            stack.extend(getattr(item, name) for name in _compared_fields(type(item)))


def unresolved_secrets(config: Config, severity: Severity = Severity.WARNING) -> list[Problem]:
    problems = []
    for secret in iter_secrets(config):
        reason = secret.unresolved_reason()
        if reason:
            problems.append(Problem(secret.where, f"unresolved secret: {reason}", severity))
    return problems


def missing_audio_files(config: Config, severity: Severity = Severity.WARNING) -> list[Problem]:
    problems = []
    for audio in config.audio_files:
        if not audio.file:
            continue
        if not audio.path.is_file():
            reason = "not found"
        elif not os.access(audio.path, os.R_OK):
            reason = "not readable"
        else:
            continue
        problems.append(Problem(audio.at("file"), f"audio file {audio.name}: {audio.file} "
                                f"{reason} (looked for {audio.path})", severity))
    return problems


def check_external(config: Config) -> list[Problem]:
    return unresolved_secrets(config) + missing_audio_files(config)


def external_errors(config: Config) -> list[Problem]:
    """For `run` and `dialplan`: the same findings, as errors that stop them, by line."""
    return sorted_problems(unresolved_secrets(config, Severity.ERROR)
                           + missing_audio_files(config, Severity.ERROR))
