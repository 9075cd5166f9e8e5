"""The operator's contract rules (CONTRACT.md), over a built model. Pure: no I/O."""

from __future__ import annotations

from pbx_bridge.config import rules_numbers, rules_refs
from pbx_bridge.config.model import Config
from pbx_bridge.config.problems import Problem

RULES = (
    rules_numbers.internal_numbers,
    rules_numbers.dids,
    rules_numbers.caller_ids,
    rules_numbers.feature_codes,
    rules_refs.unique_names,
    rules_refs.references,
    rules_refs.instant_loops,
    rules_refs.patterns,
    rules_refs.email_targets,
    rules_refs.trunk_needed,
)


def check_rules(config: Config) -> list[Problem]:
    return [problem for rule in RULES for problem in rule(config)]
