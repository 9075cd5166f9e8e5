"""The sans-IO AMI parser against real captures, odd chunking, UTF-8 splits and garbage."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx_bridge.pbx.asterisk.ami_protocol import AmiMessage, AmiParser, encode_action

FIXTURES = Path(__file__).parent / "fixtures"
CAPTURE = (FIXTURES / "asterisk22" / "did-call-answered-recorded.ami").read_bytes()


def parse_all(data: bytes, chunk: int | None = None, **kwargs: int) -> list[AmiMessage]:
    parser = AmiParser(**kwargs)
    if chunk is None:
        return parser.feed(data)
    out: list[AmiMessage] = []
    for start in range(0, len(data), chunk):
        out += parser.feed(data[start : start + chunk])
    return out


def server_blocks(transcript: bytes) -> bytes:
    """panoramisk transcripts mix client actions in; keep the server's side, as CRLF."""
    blocks = transcript.decode().replace("\r\n", "\n").split("\n\n")
    keep = [b for b in blocks if b.strip() and not b.lower().startswith("action:")]
    return "".join(b.strip("\n").replace("\n", "\r\n") + "\r\n\r\n" for b in keep).encode()


def test_real_asterisk22_capture() -> None:
    parser = AmiParser()
    messages = parser.feed(CAPTURE)
    assert parser.banner == "Asterisk Call Manager/11.0.0"
    events = [m for m in messages if m.event]
    responses = [m.response for m in messages if m.event is None]
    assert len(events) == 135
    assert responses == ["Success", "Goodbye"]
    assert parser.skipped_frames == 0
    assert events[0].event == "FullyBooted"
    names = {m.event for m in events}
    assert {"Newchannel", "DialBegin", "DialEnd", "BridgeEnter", "Hangup"} <= names
    dial_end = next(m for m in events if m.event == "DialEnd")
    assert dial_end["DialStatus"] == "ANSWER"
    assert dial_end["DestChannel"].startswith("PJSIP/1002-")
    # keys keep wire order
    newchannel = next(m for m in events if m.event == "Newchannel")
    assert list(newchannel)[:3] == ["Event", "Privilege", "Timestamp"]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 100, 4096])
def test_chunking_does_not_change_the_result(chunk: int) -> None:
    whole = parse_all(CAPTURE)
    assert [m.pairs for m in parse_all(CAPTURE, chunk)] == [m.pairs for m in whole]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(CAPTURE) - 1), max_size=30))
def test_any_split_points(cuts: list[int]) -> None:
    parser = AmiParser()
    out: list[AmiMessage] = []
    last = 0
    for cut in sorted(set(cuts)):
        out += parser.feed(CAPTURE[last:cut])
        last = cut
    out += parser.feed(CAPTURE[last:])
    assert len(out) == 137


def test_utf8_character_split_across_reads() -> None:
    frame = "Event: Newchannel\r\nCallerIDName: Müller\r\n\r\n".encode()
    cut = frame.index("ü".encode()) + 1  # between the two bytes of ü
    parser = AmiParser()
    assert parser.feed(frame[:cut]) == []
    (message,) = parser.feed(frame[cut:])
    assert message["CallerIDName"] == "Müller"


def test_invalid_utf8_is_replaced_not_raised() -> None:
    (message,) = AmiParser().feed(b"Event: X\r\nCallerIDName: M\xc3\r\n\r\n")
    assert message["CallerIDName"] == "M\ufffd"


def test_frame_without_colon_is_skipped_and_stream_continues() -> None:
    parser = AmiParser()
    data = b"Event: A\r\nthis is garbage\r\n\r\nEvent: B\r\nX: 1\r\n\r\n"
    messages = parser.feed(data)
    assert [m.event for m in messages] == ["B"]
    assert parser.skipped_frames == 1


def test_binary_garbage_never_raises() -> None:
    parser = AmiParser()
    junk = bytes(range(256)) * 20
    parser.feed(junk + b"\r\n\r\n")
    (message,) = parser.feed(b"Event: After\r\n\r\n")
    assert message.event == "After"


def test_overlong_frame_is_skipped() -> None:
    parser = AmiParser(max_frame_bytes=1024)
    big = b"Event: Big\r\n" + b"".join(b"K%d: %s\r\n" % (i, b"v" * 50) for i in range(100))
    messages = parser.feed(big + b"\r\nEvent: Small\r\n\r\n")
    assert [m.event for m in messages] == ["Small"]
    assert parser.skipped_frames == 1


def test_endless_line_is_bounded() -> None:
    parser = AmiParser(max_frame_bytes=1024)
    for _ in range(100):  # 100 KB without a newline: memory stays bounded
        assert parser.feed(b"x" * 1024) == []
        assert len(parser._buffer) <= 1024
    assert parser.feed(b"\r\n\r\nEvent: Next\r\n\r\n")[0].event == "Next"
    assert parser.skipped_frames == 1


def test_lf_only_and_stray_blank_lines() -> None:
    messages = AmiParser().feed(b"\n\nResponse: Success\nActionID: 1\n\n\n\nEvent: E\n\n")
    assert [(m.response, m.event) for m in messages] == [("Success", None), (None, "E")]
    assert messages[0].action_id == "1"


def test_repeated_keys_are_kept() -> None:
    data = (
        b"Event: Hangup\r\nChanVariable: A=1\r\nChanVariable: B=x=y\r\nChanVariable: C=\r\n\r\n"
        b"Response: Success\r\nMessage: Command output follows\r\n"
        b"Output: line one\r\nOutput: line: two\r\n\r\n"
    )
    hangup, command = AmiParser().feed(data)
    assert hangup["ChanVariable"] == "A=1"
    assert hangup.variables() == {"A": "1", "B": "x=y", "C": ""}
    assert command.getall("output") == ["line one", "line: two"]


def test_old_style_command_follows() -> None:
    data = server_blocks((FIXTURES / "panoramisk" / "command_core_show_version.yaml").read_bytes())
    (message,) = AmiParser().feed(data)
    assert message.response == "Follows"
    assert message.getall("Output")[0].startswith("Asterisk 11.11.0")


def test_panoramisk_login_failed_with_banner() -> None:
    parser = AmiParser()
    raw = (FIXTURES / "panoramisk" / "login_failed.yaml").read_bytes()
    banner, _, rest = raw.partition(b"\n")
    messages = parser.feed(banner + b"\r\n" + server_blocks(rest))
    assert parser.banner == "Asterisk Call Manager/1.3"
    assert messages[0]["Message"] == "Authentication failed"


@pytest.mark.parametrize("name", ["originate_with_events.yaml", "queue_status.yaml"])
def test_panoramisk_captures_parse_cleanly(name: str) -> None:
    parser = AmiParser()
    messages = parser.feed(server_blocks((FIXTURES / "panoramisk" / name).read_bytes()))
    assert messages and parser.skipped_frames == 0


def test_case_insensitive_lookup() -> None:
    (message,) = AmiParser().feed(b"Response: Success\r\nActionId: 7\r\n\r\n")
    assert message.action_id == "7"
    assert message.get_ci("actionid") == "7"


def test_encode_action_rejects_injection() -> None:
    assert encode_action("Ping", {"ActionID": "1"}) == b"Action: Ping\r\nActionID: 1\r\n\r\n"
    with pytest.raises(ValueError):
        encode_action("Setvar", {"Value": "x\r\nAction: Hangup"})
