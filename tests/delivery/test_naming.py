"""Names from dynamic fields: the contract's example, time zones, and hostile caller values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx_bridge.delivery import naming
from pbx_bridge.delivery.naming import CallFacts

WHEN = datetime(2025, 5, 7, 10, 57, 38, tzinfo=UTC)
TZ = "America/New_York"


def facts(name: str = "Alice", number: str = "12025550123") -> CallFacts:
    return CallFacts("Voicemail", number, name, "12025559876", WHEN)


def test_the_contract_example() -> None:
    pattern = "%{service_name}-%{src_number}-%{dst_number}-%{call_time}.mp3"
    assert naming.file_name(pattern, facts(), TZ) == \
        "Voicemail-12025550123-12025559876-2025-05-07 06-57-38.mp3"


def test_times_are_in_the_system_time_zone() -> None:
    late = CallFacts(call_time=datetime(2025, 1, 1, 2, 30, tzinfo=UTC))
    assert naming.folder("/r/%{call_year}/%{call_month}/%{call_day}/%{call_hour}", late, TZ) \
        == "/r/2024/12/31/21"
    assert naming.folder("%{call_year}", late, "Asia/Tokyo") == "2025"


def test_the_source_extension_is_added_when_the_pattern_has_none() -> None:
    assert naming.file_name("%{src_number}", facts(), TZ, source_suffix=".wav") == \
        "12025550123.wav"
    assert naming.file_name("%{src_number}.mp3", facts(), TZ, source_suffix=".wav") == \
        "12025550123.mp3"


@pytest.mark.parametrize("hostile", [
    "../../etc/passwd", "..\\..\\windows\\system32", "/etc/passwd", "..", ".", "...",
    "a/../../b", ".hidden", "x\x00y", "evil\r\nBcc: victim@example.com",
])
def test_a_caller_name_never_makes_a_folder_or_climbs_out(hostile: str) -> None:
    name = naming.file_name("%{src_name}-%{call_time}.wav", facts(hostile), TZ)
    assert "/" not in name and "\\" not in name and ".." not in name
    assert not name.startswith(".")
    assert "\r" not in name and "\n" not in name and "\x00" not in name
    path = naming.join(naming.folder("/srv/rec/%{src_name}", facts(hostile), TZ), name)
    assert path.startswith("/srv/rec/")
    assert ".." not in path.split("/")
    assert path.count("/") <= 4


def test_crlf_never_breaks_an_email_header() -> None:
    subject = naming.subject("%{service_name} from %{src_name}",
                             facts("Mallory\r\nBcc: victim@example.com\u2028X: y"), TZ)
    assert subject == "Voicemail from Mallory Bcc: victim@example.com X: y"


def test_unicode_is_nfc_and_bidi_tricks_are_dropped() -> None:
    decomposed = "Jose\u0301 Mu\u0308ller"
    assert naming.file_name("%{src_name}", facts(decomposed), TZ) == "José Müller"
    # U+202E (right-to-left override) would show "evil\u202Evaw.exe" as "evilexe.wav"
    assert naming.file_name("%{src_name}.wav", facts("evil\u202evaw.exe"), TZ) == \
        "evilvaw.exe.wav"


def test_a_10_kb_name_is_capped_in_bytes_keeping_the_extension() -> None:
    name = naming.file_name("%{src_name}-%{call_time}.wav", facts("é" * 10_000), TZ)
    assert len(name.encode()) <= naming.MAX_NAME_BYTES - naming.TEMP_NAME_ROOM
    assert name.endswith(".wav")
    long_pattern = "x" * 1000 + "-%{src_name}.wav"
    capped = naming.file_name(long_pattern, facts("漢" * 5000), TZ)
    assert capped.endswith(".wav") and len(capped.encode()) <= 215
    capped.encode().decode()  # whole characters only


def test_an_empty_result_still_has_a_name() -> None:
    assert naming.file_name("%{src_name}", facts(".."), TZ, source_suffix=".wav") == \
        "unnamed.wav"


def test_facts_round_trip_through_json() -> None:
    assert CallFacts.from_json(facts().to_json()) == facts()


@given(st.text(max_size=300))
def test_any_caller_text_stays_inside_one_segment(text: str) -> None:
    name = naming.file_name("%{src_name}-%{src_number}.wav", facts(text, text), TZ)
    assert "/" not in name and "\\" not in name and name not in ("", ".", "..")
    assert not any(ch in name for ch in "\r\n\x00")
    assert len(name.encode()) <= naming.MAX_NAME_BYTES
    subject = naming.subject("%{src_name}", facts(text), TZ)
    assert "\r" not in subject and "\n" not in subject


def test_the_issue_s_hostile_caller_name_gives_a_safe_file_name_and_subject() -> None:
    hostile = facts("../../etc/passwd\r\nBcc: x@y")
    name = naming.file_name("%{src_name}-%{call_time}.wav", hostile, TZ)
    assert "/" not in name and ".." not in name and "\r" not in name and "\n" not in name
    assert name == "_._etc_passwd Bcc_ x@y-2025-05-07 06-57-38.wav"
    subject = naming.subject("%{service_name} from %{src_name}", hostile, TZ)
    assert subject == "Voicemail from ../../etc/passwd Bcc: x@y"  # one header line, no Bcc
