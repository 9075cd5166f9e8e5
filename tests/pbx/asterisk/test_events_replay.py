"""Item 6: real AMI traffic replayed through parser -> AMI events -> call state.

The Asterisk 22 capture is one real DID call (carrier -> AGI -> MixMonitor -> desk 1002 answers
-> carrier hangs up); the panoramisk captures are Asterisk 11 era (no Linkedid, old event
names): they must map to what can be known from them and never break anything.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pbx_bridge.calls.events import (
    CallEnded,
    CallEvent,
    CallStarted,
    DialEnded,
    Dialled,
    LegAnswered,
    LegBridged,
    LegEnded,
    LegRinging,
    LegStarted,
    LegUnbridged,
    Outcome,
    Party,
    RecordingClosed,
    RecordingFinished,
    RecordingStarted,
    RecordingStopped,
)
from pbx_bridge.calls.state import CallTracker
from pbx_bridge.pbx.asterisk.ami_protocol import AmiMessage, AmiParser
from pbx_bridge.pbx.asterisk.events import AmiEvents, endpoint_of
from tests.pbx.asterisk.test_ami_protocol import server_blocks

FIXTURES = Path(__file__).parent / "fixtures"
CAPTURE = (FIXTURES / "asterisk22" / "did-call-answered-recorded.ami").read_bytes()
CALL, CARRIER, DESK = "1795393172.0", "1795393172.0", "1795393172.1"
BRIDGE = "b5c8ad96-e498-4a6e-a459-d735b521bfd1"
FILE = "/opt/h/rec/1795393172.0.wav"


def replay(data: bytes, chunk: int | None = None) -> tuple[list[CallEvent], list[Outcome]]:
    parser, ami, tracker = AmiParser(), AmiEvents(), CallTracker()
    events: list[CallEvent] = []
    outcomes: list[Outcome] = []
    step = chunk or len(data)
    for start in range(0, len(data), step):
        for message in parser.feed(data[start:start + step]):
            for event in ami.translate(message):
                events.append(event)
                outcomes += tracker.apply(event)
    return events, outcomes


def shape(event: CallEvent) -> tuple:
    """The event without its timestamp, for comparing sequences."""
    fields = [getattr(event, name) for name in event.__slots__ if name != "at"]
    return (type(event).__name__, event.call, event.leg, *fields)


def test_asterisk22_call_gives_the_expected_neutral_events() -> None:
    events, _ = replay(CAPTURE)
    assert [(type(e), e.leg) for e in events] == [
        (LegStarted, CARRIER),
        (RecordingStarted, CARRIER),
        (LegStarted, DESK),
        (Dialled, CARRIER),
        (LegRinging, DESK),
        (LegAnswered, DESK),
        (DialEnded, CARRIER),
        (LegAnswered, CARRIER),
        (LegBridged, DESK),
        (LegBridged, CARRIER),
        (LegUnbridged, CARRIER),
        (LegUnbridged, DESK),
        (LegEnded, DESK),
        (LegEnded, CARRIER),
    ]
    assert {e.call for e in events} == {CALL}  # every leg carries the first one's Linkedid
    first, rec, desk, dial = events[:4]
    assert isinstance(first, LegStarted) and first.origin and first.endpoint == "carrier"
    assert (first.number, first.name, first.dialled) == ("15559876543", "", "15551230001")
    assert first.at == pytest.approx(1795393172.301763)
    assert isinstance(rec, RecordingStarted) and rec.file == FILE and not rec.on_demand
    assert isinstance(desk, LegStarted) and not desk.origin
    assert (desk.endpoint, desk.number, desk.name) == ("1002", "1002", "Bob")
    assert isinstance(dial, Dialled) and dial.target == DESK
    assert isinstance(events[6], DialEnded) and events[6].status == "ANSWER"
    assert isinstance(events[8], LegBridged) and events[8].bridge == BRIDGE
    assert isinstance(events[-1], LegEnded) and events[-1].cause == "16"


def test_asterisk22_call_outcomes_hand_on_the_recording_once() -> None:
    _, outcomes = replay(CAPTURE)
    assert [type(o) for o in outcomes] == [CallStarted, RecordingFinished, CallEnded]
    rec = outcomes[1]
    assert isinstance(rec, RecordingFinished)
    assert (rec.call, rec.leg, rec.file, rec.signal) == (CALL, CARRIER, FILE, "hangup")
    assert rec.caller == Party("15559876543", "", "carrier")
    assert rec.callee == Party("1002", "Bob", "1002")
    assert rec.dialled == "15551230001"
    assert rec.started == pytest.approx(1795393172.301763)
    assert rec.at == pytest.approx(1795393181.819506)  # the recorded leg's Hangup


@pytest.mark.parametrize("chunk", [1, 7, 100, 4096])
def test_chunking_does_not_change_the_events(chunk: int) -> None:
    whole = [shape(e) for e in replay(CAPTURE)[0]]
    assert [shape(e) for e in replay(CAPTURE, chunk)[0]] == whole


def test_capture_replayed_twice_hands_on_nothing_new() -> None:
    parser, ami, tracker = AmiParser(), AmiEvents(), CallTracker()
    runs = []
    for _ in range(2):
        out: list[Outcome] = []
        for message in parser.feed(CAPTURE):
            for event in ami.translate(message):
                out += tracker.apply(event)
        runs.append(out)
    assert len(runs[0]) == 3 and runs[1] == []


def test_non_ascii_caller_name_split_across_reads() -> None:
    data = CAPTURE.replace(b"CallerIDName: <unknown>", "CallerIDName: Müller".encode(), 1)
    cut = data.index("Müller".encode()) + 2  # inside the two bytes of 'ü'
    parser, ami = AmiParser(), AmiEvents()
    messages = parser.feed(data[:cut]) + parser.feed(data[cut:])
    first = next(e for m in messages for e in ami.translate(m))
    assert isinstance(first, LegStarted) and first.name == "Müller"


def test_asterisk11_originate_capture() -> None:
    """Local/259 originate + two SIP legs: no Linkedid on Asterisk 11, so each leg is its own
    call; all four start and end, none stays open, nothing is recorded."""
    data = server_blocks((FIXTURES / "panoramisk" / "originate_with_events.yaml").read_bytes())
    events, outcomes = replay(data)
    started = [e for e in events if isinstance(e, LegStarted)]
    assert [(e.channel, e.number, e.name) for e in started] == [
        ("Local/259@default-00000000;1", "", ""),
        ("Local/259@default-00000000;2", "", ""),
        ("SIP/ddddd-00000000", "259", "S F"),
        ("SIP/uuuuu-00000001", "254", "L G"),
    ]
    assert sum(isinstance(e, LegEnded) for e in events) == 4
    assert sum(isinstance(o, CallStarted) for o in outcomes) == 4
    assert sum(isinstance(o, CallEnded) for o in outcomes) == 4
    assert not any(isinstance(o, RecordingFinished) for o in outcomes)


@pytest.mark.parametrize("name", ["agent_loggued_in.yaml", "agent_not_in_pause.yaml",
                                  "queue_status.yaml", "login_failed.yaml",
                                  "command_core_show_version.yaml"])
def test_other_captures_map_without_error(name: str) -> None:
    data = server_blocks((FIXTURES / "panoramisk" / name).read_bytes())
    events, outcomes = replay(data)
    assert all(e.call and e.leg for e in events)
    assert not any(isinstance(o, RecordingFinished) for o in outcomes)


def msg(**fields: str) -> AmiMessage:
    return AmiMessage(list(fields.items()))


def test_mixmonitor_stop_mute_and_closed_userevent() -> None:
    ami = AmiEvents()
    ids = {"Uniqueid": "9.1", "Linkedid": "9.0"}
    assert ami.translate(msg(Event="VarSet", Variable="MIXMONITOR_FILENAME",
                             Value="/r/ondemand-9.1-5.wav", **ids)) == ()
    (start,) = ami.translate(msg(Event="MixMonitorStart", **ids))
    assert isinstance(start, RecordingStarted) and start.on_demand and start.call == "9.0"
    assert ami.translate(msg(Event="MixMonitorStart", **ids)) == ()  # the name was used up
    (stop,) = ami.translate(msg(Event="MixMonitorStop", **ids))
    assert isinstance(stop, RecordingStopped)
    (mute,) = ami.translate(msg(Event="MixMonitorMute", Direction="both", State="1", **ids))
    assert type(mute).__name__ == "RecordingPaused"
    (closed,) = ami.translate(msg(Event="UserEvent", UserEvent="PbxBridgeRecordingClosed",
                                  File="/r/x.wav"))
    assert isinstance(closed, RecordingClosed) and closed.file == "/r/x.wav"


def test_malformed_events_map_to_nothing() -> None:
    ami = AmiEvents()
    assert ami.translate(msg(Event="Newchannel")) == ()
    assert ami.translate(msg(Event="Hangup", Channel="x")) == ()
    assert ami.translate(msg(Event="DialBegin", Uniqueid="1")) == ()
    assert ami.translate(msg(Event="BlindTransfer")) == ()
    bad_time = ami.translate(msg(Event="Newchannel", Uniqueid="1", Timestamp="soon"))
    assert bad_time[0].at == 0.0


def test_endpoint_of() -> None:
    assert endpoint_of("PJSIP/1002-00000001") == "1002"
    assert endpoint_of("PJSIP/acme-trunk-0000000a") == "acme-trunk"
    assert endpoint_of("Local/1002@xfer-00000000;1") == ""
    assert endpoint_of("garbage") == ""
