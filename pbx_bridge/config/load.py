"""Loading a config: file -> model + every problem, sorted by line.

`load_config` never raises for bad content; only an unreadable file or non-YAML text raises
`SourceError` (the `check` exit code 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pbx_bridge.config.external import check_external
from pbx_bridge.config.model import Config
from pbx_bridge.config.parse_contacts import read_contact_methods, read_users
from pbx_bridge.config.parse_delivery import read_delivery_methods, read_sms
from pbx_bridge.config.parse_flows import read_call_flows
from pbx_bridge.config.parse_system import (
    lines,
    read_audio_files,
    read_feature_codes,
    read_numbers,
    read_system,
    read_time_schedules,
    read_trunks,
)
from pbx_bridge.config.problems import Problem, Problems, sorted_problems
from pbx_bridge.config.reader import Section
from pbx_bridge.config.rules import check_rules
from pbx_bridge.config.source import Where, parse_yaml, read_yaml


@dataclass(frozen=True)
class Loaded:
    config: Config
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]

    @property
    def ok(self) -> bool:
        return not self.errors


class ConfigInvalid(Exception):
    """Raised by `load_valid_config`: the message lists every error, one per line."""


def build_config(data: object, file: str, path: Path, problems: Problems) -> Config:
    root = Section(data, "", Where(file, 1), problems)
    if data is None:
        problems.error(Where(file, 1), "the file is empty: start from config/example.yaml")
    system = read_system(root.section("system", required=True))
    numbers, number_lines = read_numbers(root)
    contacts = read_contact_methods(root.section("contact_methods"))
    config = Config(
        root.where, lines(root), path, system, numbers, number_lines,
        trunks=read_trunks(root),
        feature_codes=read_feature_codes(root.section("feature_codes")),
        audio_files=read_audio_files(root, path.parent),
        time_schedules=read_time_schedules(root),
        users=read_users(root),
        call_flows=read_call_flows(root),
        delivery_methods=read_delivery_methods(root),
        sms=read_sms(root),
        **contacts,
    )
    root.done()
    return config


def _finish(data: object, duplicates: list, file: str, path: Path) -> Loaded:
    problems = Problems()
    for dup in duplicates:
        problems.error(dup.where, f"{dup.key}: duplicate key (first at line {dup.first.line}); "
                                  "YAML would silently keep only the last one")
    config = build_config(data, file, path, problems)
    problems.extend(check_rules(config))
    problems.extend(check_external(config))
    return Loaded(config, sorted_problems(problems))


def load_config(path: str | Path) -> Loaded:
    file = str(path)
    data, duplicates = read_yaml(file)
    return _finish(data, duplicates, file, Path(file).resolve())


def load_config_text(text: str, file: str = "config.yaml", base: Path | None = None) -> Loaded:
    """For tests and tools: a config from text, its relative paths resolved against `base`."""
    data, duplicates = parse_yaml(text, file)
    return _finish(data, duplicates, file, (base or Path.cwd()) / Path(file).name)


def load_valid_config(path: str | Path) -> Loaded:
    loaded = load_config(path)
    if not loaded.ok:
        raise ConfigInvalid("\n".join(str(p) for p in loaded.errors))
    return loaded
