"""Reading the file: every problem at once, unreadable files, wrong types, typos, YAML traps."""

from __future__ import annotations

import copy
import subprocess
import sys
from datetime import time
from pathlib import Path

import pytest
import yaml

from pbx_bridge.config.load import load_config
from tests.config.checking import MINIMAL, Checker, edited, line_of

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

SALES = "destinations: [desk-1, desk-2]"
SUPPORT = "members: [desk-1, desk-2, alice, mobile]"


def console_script() -> str:
    script = Path(sys.executable).with_name("pbx-bridge")
    assert script.exists(), f"the pbx-bridge console script is not installed at {script}"
    return str(script)


# -- every problem at once ----------------------------------------------------------------------
def test_several_problems_are_all_reported_in_one_run_sorted_by_line(check: Checker) -> None:
    result = check(edited(MINIMAL, {
        "max_wait: 300": "max_wait: 901",                              # near the end
        "  name: Test Co": "  nmae: Test Co",                          # at the top
        "ring_time: 20": "ring_time: 61",
        'internal_number: "102"': 'internal_number: "101"  # twice',
        "file: greeting.wav": "file: missing.wav",                     # a warning
        'record_on_demand: "*33"': 'record_on_demand: "*11"',
    }))
    expected = [
        (result.line_of("nmae:"), "system.nmae: unknown key; did you mean 'name'?"),
        (result.line_of("record_on_demand"), "feature_codes.record_on_demand: '*11' is also"),
        (result.line_of("missing.wav"), "warning: audio file greeting: missing.wav not found"),
        (result.line_of("# twice"), "SIP account desk-2: internal_number 101 is already used"),
        (result.line_of("ring_time: 61"), "call_flows[main].modules.sales.ring_time: "),
        (result.line_of("max_wait: 901"), "call_flows[main].modules.support.max_wait: "),
    ]
    assert result.code == 1
    assert [(line, message[:len(start)]) for (line, message), (_, start)
            in zip(result.problems, expected, strict=True)] == expected
    assert result.out.splitlines()[-1] == f"{result.path}: invalid (5 errors, 1 warning)"
    assert len(result.out.splitlines()) == len(expected) + 1  # nothing else is printed


# -- files that can't be read: one line, exit 2 -------------------------------------------------
@pytest.mark.parametrize(("content", "expected"), [
    (b"system:\n  name: [Test\n", ":3: not valid YAML: "),
    (b"system:\n\tname: Test\n", ":2: not valid YAML: "),
    (b"system: {name: x}\n---\nnumbers: []\n", ":2: not valid YAML: "),
    (b"system:\n  name: Caf\xe9\n", ": not UTF-8 text"),
    (b"system:\n  name: x\n  store: \x00\n", ":3: not valid YAML: control characters are not "
                                             "allowed; remove the control character"),
], ids=["unclosed_list", "tab_indent", "two_documents", "latin1_bytes", "control_character"])
def test_a_file_that_is_not_yaml_is_one_line_and_exit_2(check: Checker, tmp_path: Path,
                                                        content: bytes, expected: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_bytes(content)
    result = check.path(path)
    assert result.code == 2
    assert result.output.count("\n") == 1, result.output
    assert result.output.startswith(f"{path}{expected}"), result.output


def test_a_missing_file_is_one_line_and_exit_2(check: Checker, tmp_path: Path) -> None:
    result = check.path(tmp_path / "nowhere.yaml")
    assert (result.code, result.output) == (2, f"{tmp_path / 'nowhere.yaml'}: no such file\n")


def test_a_directory_is_one_line_and_exit_2(check: Checker, tmp_path: Path) -> None:
    result = check.path(tmp_path)
    assert (result.code, result.output) == (2, f"{tmp_path}: is a directory, not a config "
                                               "file\n")


def test_unparsable_yaml_through_the_console_script_has_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("system:\n  name: [Test\n")
    run = subprocess.run([console_script(), "check", str(path)], capture_output=True,
                         text=True, timeout=30, check=False)
    assert run.returncode == 2
    assert "Traceback" not in run.stdout + run.stderr
    assert (run.stdout + run.stderr).startswith(f"{path}:3: not valid YAML: ")


def test_an_empty_file_is_invalid_with_a_hint(check: Checker) -> None:
    result = check("# nothing yet\n")
    assert result.code == 1
    assert (1, "the file is empty: start from config/example.yaml") in result.errors


def test_a_file_that_is_a_list_is_invalid_and_says_what_it_must_be(check: Checker) -> None:
    result = check("- system\n- numbers\n")
    assert result.code == 1
    assert (1, "the file must be a mapping of keys (like `system:`), not a list") in result.errors


# -- wrong types: FILE:LINE, exit 1, never a traceback ------------------------------------------
@pytest.mark.parametrize(("old", "new", "expected"), [
    ("ring_time: 20", "ring_time: soon",
     "call_flows[main].modules.sales.ring_time: expected a whole number of seconds, got text "
     "'soon'"),
    ("max_wait: 300", "max_wait: 5.5",
     "call_flows[main].modules.support.max_wait: expected a whole number of seconds, got a "
     "number 5.5"),
    ("when_unavailable: {action: voicemail, greeting: greeting}", "when_unavailable: [voicemail]",
     "contact_methods.sip_accounts[desk-1].when_unavailable must be a mapping of keys, not a "
     "list"),
    ('options: {"1": sales, "2": support}', "options: [sales, support]",
     "call_flows[main].modules.menu.options must be a mapping of keys, not a list"),
    ("emails: [ops@example.com]", "emails: {ops@example.com: true}",
     "delivery_methods[ops-email].emails: expected a list of names, got a mapping"),
    ("      - days: [mon, tue, wed, thu, fri]", "      - days: {mon: true}",
     "time_schedules[office].rules[0].days: expected a list of weekdays like mon, tue, got a "
     "mapping"),
    ("verified: false", "verified: [false]",
     "contact_methods.emails[new@example.com].verified: expected true or false, got a list"),
], ids=["text_for_seconds", "fraction_for_seconds", "list_for_mapping", "list_for_menu",
        "mapping_for_list", "mapping_for_days", "list_for_boolean"])
def test_a_value_of_the_wrong_type_is_reported_at_its_key(check: Checker, old: str, new: str,
                                                          expected: str) -> None:
    result = check.minimal_with(old, new)
    message = result.only_error_at(new.strip())
    assert message.startswith(expected), message


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    """The path to every key and list item under `node`, outermost first."""
    children = node.items() if isinstance(node, dict) else (
        enumerate(node) if isinstance(node, list) else ())
    out = []
    for key, value in children:
        out += [(*prefix, key), *_paths(value, (*prefix, key))]
    return out


def test_any_value_of_any_type_anywhere_gives_problems_with_lines_never_a_crash(
        check: Checker) -> None:
    """Each key of minimal.yaml in turn gets a text, a number, a list, a mapping and nothing."""
    base = yaml.load(MINIMAL, Loader=Loader)
    wrong_values = ["soon", 7, ["x", 1], {"k": "v"}, None]
    failures = []
    for path in _paths(base):
        for wrong in wrong_values:
            data = copy.deepcopy(base)
            holder = data
            for step in path[:-1]:
                holder = holder[step]
            holder[path[-1]] = wrong
            result = check(yaml.dump(data, Dumper=Dumper, sort_keys=False))
            *problem_lines, summary = result.out.splitlines()
            if (result.code not in (0, 1) or result.err
                    or len(result.problems) != len(problem_lines)
                    or any(line < 1 for line, _ in result.problems)
                    or not summary.startswith(f"{result.path}: ")):
                failures.append(f"{path} = {wrong!r}:\n{result.output}")
    assert not failures, "\n".join(failures[:5])


# -- unknown keys and duplicate keys ------------------------------------------------------------
@pytest.mark.parametrize(("old", "new", "expected"), [
    ("ring_time: 20", "ring_tme: 20",
     "call_flows[main].modules.sales.ring_tme: unknown key; did you mean 'ring_time'?"),
    ("feature_codes:", "feature_code:", "feature_code: unknown key; did you mean 'feature_codes'?"),
    ("verified: false", "verifed: false",
     "contact_methods.emails[new@example.com].verifed: unknown key; did you mean 'verified'?"),
    ('subject: "%{service_name} from %{src_number}"', 'subjet: "%{service_name}"',
     "delivery_methods[ops-email].subjet: unknown key; did you mean 'subject'?"),
    ("    first_name: Bob", "    colour: blue", "users[bob].colour: unknown key"),
], ids=["module_key", "top_level_key", "email_key", "delivery_key", "no_close_match"])
def test_an_unknown_key_is_reported_with_a_did_you_mean(check: Checker, old: str, new: str,
                                                        expected: str) -> None:
    message = check.minimal_with(old, new).only_error_at(new.strip())
    assert message == expected


def test_a_duplicate_key_is_reported_at_the_second_one(check: Checker) -> None:
    result = check.minimal_with("ring_time: 20", "ring_time: 20\n        ring_time: 30")
    message = result.only_error_at("ring_time: 30")
    assert message == (f"ring_time: duplicate key (first at line {line_of(MINIMAL, 'ring_time')}"
                       "); YAML would silently keep only the last one")


def test_a_module_defined_twice_is_reported_as_a_duplicate_key(check: Checker) -> None:
    result = check.minimal_with("      voicemail:\n", (
        "      sales:  # again\n        type: voicemail\n      voicemail:\n"))
    message = result.only_error_at("# again")
    assert message.startswith(f"sales: duplicate key (first at line {line_of(MINIMAL, 'sales:')})")


# -- YAML 1.1 traps -----------------------------------------------------------------------------
def test_unquoted_times_of_day_are_times_not_minutes(check: Checker) -> None:
    result = check(edited(MINIMAL, {'from: "09:00"': "from: 09:00", 'to: "18:00"': "to: 18:30"}))
    result.assert_valid()
    rule = load_config(result.path).config.time_schedules[0].rules[0]
    assert (rule.start, rule.end) == (time(9, 0), time(18, 30))


@pytest.mark.parametrize(("old", "new"), [
    ("verified: false", "verified: no"),
    ("external_outbound_calls: true", "external_outbound_calls: on"),
    ("external_outbound_calls: true", "external_outbound_calls: yes"),
])
def test_yaml_1_1_booleans_stay_words_and_are_refused_where_true_or_false_is_needed(
        check: Checker, old: str, new: str) -> None:
    word = new.split(": ")[1]
    result = check.minimal_with(old, new)
    assert result.code == 1
    [message] = result.errors_at(new)
    assert message.endswith(f"expected true or false, got text {word!r}")


def test_no_and_on_stay_words_as_names(check: Checker) -> None:
    result = check(edited(MINIMAL, {"name: desk-2": "name: on", SALES: "destinations: [no, on]",
                                    "- name: mobile": "- name: no",
                                    SUPPORT: "members: [desk-1, on, alice, no]"}))
    result.assert_valid()
    config = load_config(result.path).config
    assert [cm.name for cm in config.contact_methods] == ["desk-1", "on", "alice", "no"]


def test_unquoted_number_with_a_leading_zero_keeps_its_zero(check: Checker) -> None:
    result = check(edited(MINIMAL, {'internal_number: "101"': "internal_number: 0101",
                                    'internal_number: "102"': "internal_number: 0800"}))
    result.assert_valid()
    config = load_config(result.path).config
    assert [cm.internal_numbers for cm in config.sip_accounts] == [("0101",), ("0800",)]


def test_unquoted_numbers_that_differ_only_by_leading_zeros_are_different(
        check: Checker) -> None:
    result = check.minimal_with('internal_number: "102"', "internal_number: 0101")
    result.assert_valid()  # 0101 is not 101



def test_a_schedule_rule_with_no_days_is_refused_rather_than_never_matching(
        check: Checker) -> None:
    result = check.minimal_with("      - days: [mon, tue, wed, thu, fri]", "      - days: []")
    message = result.only_error_at("- days: []")
    assert message == ("time_schedules[office].rules[0].days: an empty list never matches; list "
                       "at least one weekday, like [mon]")
