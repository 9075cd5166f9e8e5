"""Contract rules about delivery methods: verified email targets, dynamic fields in patterns."""

from __future__ import annotations

import pytest

from tests.config.checking import MINIMAL, Checker, edited, line_of

NEW_ADDRESS = line_of(MINIMAL, "- address: new@example.com")
ALL_FIELDS = "%{src_number}%{src_name}%{dst_number}%{service_name}%{call_time}" \
             "%{call_year}%{call_month}%{call_day}%{call_hour}"
ALLOWED = ("use one of %{src_number}, %{src_name}, %{dst_number}, %{service_name}, "
           "%{call_time}, %{call_year}, %{call_month}, %{call_day}, %{call_hour}")


# -- an email delivery method only sends to verified email contact methods ---------------------
def test_email_delivery_to_an_unverified_address_is_refused(check: Checker) -> None:
    result = check.minimal_with("emails: [ops@example.com]", "emails: [new@example.com]")
    message = result.only_error_at("emails: [new@example.com]")
    assert message == (f"delivery method ops-email: new@example.com is not verified (line "
                       f"{NEW_ADDRESS}); an email delivery method only sends to verified "
                       "addresses: verify it first, or remove it from emails")


def test_email_delivery_to_an_address_that_is_no_contact_method_is_refused(
        check: Checker) -> None:
    result = check.minimal_with("emails: [ops@example.com]",
                                "emails: [ops@example.com, boss@example.com]")
    message = result.only_error_at("boss@example.com")
    assert message == ("delivery method ops-email: boss@example.com is not an email contact "
                       "method; add it under contact_methods.emails and verify it")


def test_email_delivery_matches_addresses_whatever_their_case(check: Checker) -> None:
    check.minimal_with("emails: [ops@example.com]", "emails: [OPS@Example.com]").assert_valid()


def test_email_delivery_to_an_address_once_verified_passes(check: Checker) -> None:
    check(edited(MINIMAL, {"emails: [ops@example.com]": "emails: [new@example.com]",
                           "verified: false": "verified: true"})).assert_valid()


# -- file-name patterns use only the documented dynamic fields ---------------------------------
@pytest.mark.parametrize(("old", "new", "owner"), [
    ('file_name: "%{call_time}-%{src_number}.wav"', 'file_name: "%{call_time}-%{caller}.wav"',
     "delivery method archive: file_name"),
    ("directory: /var/archive/%{call_year}", "directory: /var/archive/%{caller}",
     "delivery method archive: directory"),
    ('subject: "%{service_name} from %{src_number}"', 'subject: "%{caller} called"',
     "delivery method ops-email: subject"),
    ('subject: "%{service_name} from %{src_number}"',
     'subject: "%{service_name}"\n    message: "from %{caller}"',
     "delivery method ops-email: message"),
], ids=["file_name", "directory", "email_subject", "email_message"])
def test_pattern_with_an_unknown_dynamic_field_is_refused(check: Checker, old: str, new: str,
                                                          owner: str) -> None:
    result = check.minimal_with(old, new)
    message = result.only_error_at("%{caller}")
    assert message == f"{owner}: unknown dynamic field %{{caller}}; {ALLOWED}"


def test_notification_message_with_an_unknown_dynamic_field_is_refused(check: Checker) -> None:
    result = check.minimal_with("        delivery_methods: [ops-email]\n", (
        "        delivery_methods: [ops-email]\n        next: tell\n      tell:\n"
        "        type: notification\n        message: 'call from %{caller}'\n"))
    result_message = result.errors_at("%{caller}")
    assert result_message == [
        f"call flow main, module tell: message: unknown dynamic field %{{caller}}; {ALLOWED}"]


def test_pattern_with_an_unclosed_field_is_refused(check: Checker) -> None:
    result = check.minimal_with('file_name: "%{call_time}-%{src_number}.wav"',
                                'file_name: "%{call_time}-%{src_number.wav"')
    message = result.only_error_at("%{src_number.wav")
    assert message == ("delivery method archive: file_name: '%{' without a closing '}'; close "
                       "the field (like %{src_number}), or remove the '%{'")


def test_pattern_using_every_documented_field_passes(check: Checker) -> None:
    check.minimal_with('file_name: "%{call_time}-%{src_number}.wav"',
                       f'file_name: "{ALL_FIELDS}.wav"').assert_valid()


# -- a fallback chain ends ---------------------------------------------------------------------
def test_a_fallback_chain_that_loops_is_refused_once_at_its_first_method(check: Checker) -> None:
    result = check(edited(MINIMAL, {
        "  - name: archive\n    type: local\n":
            "  - name: archive\n    type: local\n    fallback: ops-email  # loops\n",
        "    subject: \"%{service_name} from %{src_number}\"\n":
            "    subject: \"%{service_name} from %{src_number}\"\n    fallback: archive\n",
    }))
    message = result.only_error_at("fallback: archive")
    assert message == ("delivery method ops-email: the fallback chain ops-email -> archive -> "
                       "ops-email loops; end it with a method that has no fallback")


def test_a_fallback_chain_that_ends_passes(check: Checker) -> None:
    check(edited(MINIMAL, {
        "    subject: \"%{service_name} from %{src_number}\"\n":
            "    subject: \"%{service_name} from %{src_number}\"\n    fallback: archive\n",
    })).assert_valid()
