"""Contract rules about numbers: internal numbers, DIDs, `numbers`, caller IDs, feature codes.

A clash is reported at the later of the two places in the file, and names the earlier one.
"""

from __future__ import annotations

import pytest

from tests.config.checking import MINIMAL, Checker, edited, line_of

DESK_1_INTERNAL = line_of(MINIMAL, 'internal_number: "101"')
DESK_1_DID = line_of(MINIMAL, 'did_number: "33100000001"')
ALICE_INTERNAL = line_of(MINIMAL, 'internal_numbers: ["201"]')
ALICE_DIDS = line_of(MINIMAL, 'did_numbers: ["33100000002"]')
MAIN_FLOW_NUMBER = line_of(MINIMAL, 'number: "33100000003"')


def test_the_minimal_config_passes_with_no_problem_at_all(check: Checker) -> None:
    result = check(MINIMAL)
    result.assert_valid()
    assert result.problems == []
    assert result.out.endswith("valid (0 errors, 0 warnings)\n")


# -- internal numbers: 1 to 4 digits, unique across the whole system --------------------------
@pytest.mark.parametrize("number", ["10200", "10a", "*1"])
def test_internal_number_that_is_not_1_to_4_digits_is_refused(check: Checker, number: str) -> None:
    result = check.minimal_with('internal_number: "102"', f'internal_number: "{number}"')
    message = result.only_error_at(f'internal_number: "{number}"')
    assert message.startswith(f"SIP account desk-2: internal_number '{number}' ")
    assert "must be 1 to 4 digits" in message


def test_internal_number_of_four_digits_passes(check: Checker) -> None:
    check.minimal_with('internal_number: "102"', 'internal_number: "1020"').assert_valid()


def test_internal_number_used_twice_is_refused_at_the_second_one(check: Checker) -> None:
    result = check.minimal_with('internal_number: "102"', 'internal_number: "101"  # desk-2')
    message = result.only_error_at("# desk-2")
    assert message.startswith("SIP account desk-2: internal_number 101 is already used by "
                              f"SIP account desk-1 (line {DESK_1_INTERNAL})")
    assert "unique across the whole system, pick another" in message


def test_internal_number_of_an_app_configuration_counts_for_uniqueness(check: Checker) -> None:
    result = check.minimal_with('internal_number: "300"', 'internal_number: "201"')
    message = result.only_error_at('internal_number: "201"')
    assert message.startswith("PSTN forwarding mobile: internal_number 201 is already used by "
                              f"app configuration of user alice (line {ALICE_INTERNAL})")


def test_internal_number_clash_inside_a_list_is_reported_at_its_item(check: Checker) -> None:
    result = check.minimal_with('internal_number: "102"',
                                'internal_numbers:\n        - "103"\n        - "101"')
    message = result.only_error_at('- "101"')
    assert message.startswith("SIP account desk-2: internal_numbers 101 is already used by "
                              f"SIP account desk-1 (line {DESK_1_INTERNAL})")


def test_internal_number_clash_names_the_key_holding_it(check: Checker) -> None:
    result = check.minimal_with('internal_number: "102"',
                                'internal_number: "102"\n      internal_numbers: ["101"]')
    message = result.only_error_at('internal_numbers: ["101"]')
    assert message.startswith("SIP account desk-2: internal_numbers 101 is already used")


# -- DIDs assigned directly to a contact method -----------------------------------------------
def test_direct_did_cannot_also_be_a_call_flows_number(check: Checker) -> None:
    result = check.minimal_with('did_number: "33100000001"', 'did_number: "33100000003"')
    message = result.only_error_at('did_number: "33100000003"')
    assert message.startswith("SIP account desk-1: did_number 33100000003 is also the number "
                              f"of call flow main (line {MAIN_FLOW_NUMBER})")
    assert "either rings one contact method directly or starts a call flow, not both" in message


def test_direct_did_cannot_be_assigned_to_two_contact_methods(check: Checker) -> None:
    result = check.minimal_with('internal_number: "102"',
                                'internal_number: "102"\n      did_number: "33100000002"')
    message = result.only_error_at('did_number: "33100000002"')
    assert message.startswith("SIP account desk-2: did_number 33100000002 is already assigned "
                              f"to app configuration of user alice (line {ALICE_DIDS})")
    assert "remove it from one of them" in message


def test_call_flow_number_used_by_two_call_flows_is_refused(check: Checker) -> None:
    result = check.minimal_with("delivery_methods:\n", (
        '  - name: other\n    number: "33100000003"  # again\n    start: vm\n'
        "    modules:\n      vm: {type: voicemail}\n\ndelivery_methods:\n"))
    message = result.only_error_at("# again")
    assert message.startswith("call flow other: number 33100000003 already starts call flow "
                              f"main (line {MAIN_FLOW_NUMBER})")


# -- every DID used anywhere is listed under `numbers` ----------------------------------------
@pytest.mark.parametrize(("old", "new", "owner"), [
    ('did_number: "33100000001"', 'did_number: "33100000009"',
     "SIP account desk-1: did_number"),
    ('did_numbers: ["33100000002"]', 'did_numbers: ["33100000009"]',
     "app configuration of user alice: did_numbers"),
    ('caller_ids: ["33100000002"]', 'caller_ids: ["33100000009"]',
     "app configuration of user alice: caller_ids"),
    ('number: "33100000003"', 'number: "33100000009"', "call flow main: number"),
    ('number: "33100000003"', 'number: "33100000003"\n    numbers: ["33100000009"]',
     "call flow main: numbers"),
    ('- number: "33100000001"', '- number: "33100000009"', "sms: number"),
], ids=["did_number", "did_numbers", "caller_ids", "call_flow_number", "call_flow_numbers",
        "sms_number"])
def test_did_not_listed_under_numbers_is_refused(check: Checker, old: str, new: str,
                                                 owner: str) -> None:
    result = check.minimal_with(old, new)
    message = result.only_error_at("33100000009")
    assert message == (f"{owner} 33100000009 is not listed under `numbers`; add it there "
                       "(every DID used must belong to this system)")


def test_numbers_may_be_written_with_a_plus_or_unquoted(check: Checker) -> None:
    check(edited(MINIMAL, {'  - "33100000001"': '  - "+33100000001"',
                           '  - "33100000003"': "  - 33100000003"})).assert_valid()


def test_number_listed_twice_under_numbers_is_refused(check: Checker) -> None:
    result = check.minimal_with('  - "33100000003"', '  - "33100000003"\n  - "+33100000001"')
    message = result.only_error_at('"+33100000001"')
    assert message.startswith("numbers: 33100000001 is listed twice")
    assert "remove one" in message


# -- caller IDs only with external outbound calls ---------------------------------------------
@pytest.mark.parametrize("change", [
    ("external_outbound_calls: true", "external_outbound_calls: false"),
    ("      external_outbound_calls: true\n", ""),
], ids=["set_to_false", "left_out"])
def test_caller_ids_without_external_outbound_calls_are_refused(check: Checker,
                                                                change: tuple[str, str]) -> None:
    result = check.minimal_with(*change)
    message = result.only_error_at("caller_ids:")
    assert message == ("app configuration of user alice: caller_ids are only allowed with "
                       "external_outbound_calls: true; set it, or remove caller_ids")


# -- feature codes: distinct, none a prefix of another ----------------------------------------
def test_feature_codes_that_are_the_same_are_refused(check: Checker) -> None:
    result = check.minimal_with('record_on_demand: "*33"', 'record_on_demand: "*11"')
    message = result.only_error_at('record_on_demand: "*11"')
    assert message == ("feature_codes.record_on_demand: '*11' is also attended_transfer; "
                       "feature codes must be distinct")


def test_feature_code_that_is_a_prefix_of_another_is_refused(check: Checker) -> None:
    result = check.minimal_with('record_on_demand: "*33"', 'record_on_demand: "*1"')
    message = result.only_error_at('record_on_demand: "*1"')
    assert message.startswith("feature_codes.record_on_demand: '*1' and attended_transfer "
                              "'*11' overlap ('*1' is a prefix of '*11')")
    assert "pick codes where none starts another" in message


def test_feature_code_overlap_is_reported_at_the_later_key_naming_both(check: Checker) -> None:
    result = check.minimal_with('attended_transfer: "*11"', 'attended_transfer: "*3"')
    message = result.only_error_at('record_on_demand: "*33"')
    assert "feature_codes.record_on_demand: '*33' and attended_transfer '*3'" in message


def test_feature_code_that_is_not_star_or_hash_then_digits_is_refused(check: Checker) -> None:
    result = check.minimal_with('unattended_transfer: "*22"', 'unattended_transfer: "22"')
    message = result.only_error_at('unattended_transfer: "22"')
    assert message.startswith("feature_codes.unattended_transfer: '22' is not a feature code")
