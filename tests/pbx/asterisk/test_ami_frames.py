"""The ingest framer: same messages as AmiParser, any chunking, bounded, never raising."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx_bridge.calls.events import LegStarted
from pbx_bridge.pbx.asterisk.ami_frames import AmiFrameReader
from pbx_bridge.pbx.asterisk.ami_protocol import AmiMessage, AmiParser
from pbx_bridge.pbx.asterisk.events import AmiEvents
from tests.pbx.asterisk.test_ami_protocol import server_blocks

FIXTURES = Path(__file__).parent / "fixtures"
CAPTURE = (FIXTURES / "asterisk22" / "did-call-answered-recorded.ami").read_bytes()


def frames_of(data: bytes, cuts: list[int] | None = None, **kw: int) -> list[AmiMessage]:
    reader = AmiFrameReader(**kw)
    bounds = [0, *sorted(set(cuts or [])), len(data)]
    out: list[AmiMessage] = []
    for start, end in itertools.pairwise(bounds):
        for frame in reader.feed(data[start:end]):
            message = reader.parse_frame(frame)
            if message is not None:
                out.append(message)
    return out


def test_capture_gives_the_same_messages_as_amiparser() -> None:
    reader = AmiFrameReader()
    frames = reader.feed(CAPTURE)
    assert reader.banner == "Asterisk Call Manager/11.0.0"
    ours = [reader.parse_frame(f) for f in frames]
    assert [m.pairs for m in ours if m] == [m.pairs for m in AmiParser().feed(CAPTURE)]
    assert sum(1 for f in frames if reader.event_name(f)) == 135


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(CAPTURE)), max_size=40))
def test_any_chunking_gives_the_same_messages(cuts: list[int]) -> None:
    whole = [m.pairs for m in frames_of(CAPTURE)]
    assert [m.pairs for m in frames_of(CAPTURE, cuts)] == whole


def test_every_byte_split_keeps_utf8() -> None:
    data = b"Asterisk Call Manager/6.0.0\r\n" + "Event: Newchannel\r\nUniqueid: 1.1\r\n" \
        "CallerIDName: Müller\r\n\r\n".encode()
    for cut in range(1, len(data)):
        (message,) = frames_of(data, [cut])
        assert message["CallerIDName"] == "Müller"


@pytest.mark.parametrize("name", ["originate_with_events.yaml", "queue_status.yaml",
                                  "command_core_show_version.yaml", "login_failed.yaml",
                                  "agent_not_in_pause.yaml"])
def test_panoramisk_captures_same_as_amiparser(name: str) -> None:
    data = server_blocks((FIXTURES / "panoramisk" / name).read_bytes())
    assert [m.pairs for m in frames_of(data)] == [m.pairs for m in AmiParser().feed(data)]


def test_lf_only_stream() -> None:
    data = b"Asterisk Call Manager/1.1\nEvent: Hangup\nUniqueid: 1.2\n\nResponse: Pong\n\n"
    reader = AmiFrameReader()
    frames = reader.feed(data)
    assert reader.eol == b"\n" and reader.event_name(frames[0]) == b"Hangup"
    assert [reader.parse_frame(f) for f in frames] == [
        AmiMessage([("Event", "Hangup"), ("Uniqueid", "1.2")]),
        AmiMessage([("Response", "Pong")])]


def test_over_long_frame_is_dropped_and_reading_resumes() -> None:
    reader = AmiFrameReader(max_frame_bytes=100)
    good = b"Event: Hangup\r\nUniqueid: 1.1\r\n\r\n"
    out = reader.feed(b"Asterisk Call Manager/6.0.0\r\n" + good)
    out += reader.feed(b"Event: Huge\r\nData: " + b"x" * 150)
    out += reader.feed(b"y" * 500)  # still the same frame: dropped, memory bounded
    assert len(reader._buffer) < 4
    out += reader.feed(b"\r\n\r" + b"\n" + good)
    assert [reader.event_name(f) for f in out] == [b"Hangup", b"Hangup"]
    assert reader.skipped_frames == 1


def test_over_long_frame_in_one_read() -> None:
    reader = AmiFrameReader(max_frame_bytes=50)
    out = reader.feed(b"Event: A\r\nX: " + b"x" * 80 + b"\r\n\r\nEvent: B\r\nY: 1\r\n\r\n")
    assert [reader.event_name(f) for f in out] == [b"B"]


def test_garbage_frame_is_skipped_by_parse() -> None:
    reader = AmiFrameReader()
    frames = reader.feed(b"Event: A\r\nno colon here\r\n\r\nEvent: B\r\nK: v\r\n\r\n")
    assert reader.parse_frame(frames[0]) is None and reader.skipped_frames == 1
    assert reader.parse_frame(frames[1]) == AmiMessage([("Event", "B"), ("K", "v")])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_raise(data: bytes) -> None:
    reader = AmiFrameReader(max_frame_bytes=200)
    for frame in reader.feed(data) + reader.feed(data):
        reader.event_name(frame)
        reader.parse_frame(frame)


def test_wants_skips_only_frames_that_map_to_nothing() -> None:
    """Decoding only wanted frames gives exactly the events of decoding them all."""
    reader, ami, all_of_them = AmiFrameReader(), AmiEvents(), AmiEvents()
    frames = reader.feed(CAPTURE)
    every = [e for f in frames if (m := reader.parse_frame(f)) for e in all_of_them.translate(m)]
    wanted = [e for f in frames if ami.wants(reader.event_name(f), f)
              for e in ami.translate(reader.parse_frame(f) or AmiMessage())]
    assert wanted == every and isinstance(wanted[0], LegStarted)
    decoded = sum(1 for f in frames if ami.wants(reader.event_name(f), f))
    assert decoded < len(frames) / 3
