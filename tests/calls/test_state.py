"""The call state machine with plain data: order, repeats, transfers, recordings."""

from __future__ import annotations

import itertools
import random

from pbx_bridge.calls.events import (
    AttendedTransferred,
    BlindTransferred,
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
    RecordingPaused,
    RecordingResumed,
    RecordingStarted,
    RecordingStopped,
)
from pbx_bridge.calls.state import CallTracker

C = "100.0"  # call id = the origin leg's id
A, B, D = "100.0", "100.1", "100.2"  # carrier, desk 1002, desk 1003
FILE = "/rec/100.0.wav"


def basic_call() -> list[CallEvent]:
    return [
        LegStarted(C, A, 1.0, "PJSIP/carrier-1", "carrier", "15559876543", "Müller", "15551230001",
                   origin=True),
        RecordingStarted(C, A, 1.1, FILE),
        LegStarted(C, B, 1.2, "PJSIP/1002-2", "1002", "1002", "Bob", "s"),
        Dialled(C, A, 1.3, B),
        LegRinging(C, B, 1.4),
        LegAnswered(C, B, 3.0),
        DialEnded(C, A, 3.0, B, "ANSWER"),
        LegAnswered(C, A, 3.0),
        LegBridged(C, B, 3.1, "br1"),
        LegBridged(C, A, 3.1, "br1"),
        LegUnbridged(C, A, 9.0, "br1"),
        LegUnbridged(C, B, 9.0, "br1"),
        LegEnded(C, B, 9.1, "16"),
        LegEnded(C, A, 9.2, "16"),
    ]


def finished(outcomes: list[Outcome]) -> list[RecordingFinished]:
    return [o for o in outcomes if isinstance(o, RecordingFinished)]


def test_basic_call_outcomes() -> None:
    out = CallTracker().apply_all(basic_call())
    assert [type(o) for o in out] == [CallStarted, RecordingFinished, CallEnded]
    rec = finished(out)[0]
    assert rec.file == FILE and rec.signal == "hangup" and rec.leg == A and rec.at == 9.2
    assert rec.caller == Party("15559876543", "Müller", "carrier")
    assert rec.callee == Party("1002", "Bob", "1002")
    assert rec.dialled == "15551230001" and rec.started == 1.0 and not rec.on_demand


def test_every_event_twice_changes_nothing() -> None:
    doubled = [e for e in basic_call() for _ in range(2)]
    assert CallTracker().apply_all(doubled) == CallTracker().apply_all(basic_call())


def test_whole_call_replayed_after_it_ended_is_ignored() -> None:
    tracker = CallTracker()
    first = tracker.apply_all(basic_call())
    assert tracker.apply_all(basic_call()) == []
    assert len(finished(first)) == 1 and tracker.calls == {}


def test_any_order_finishes_the_recording_once_with_the_same_facts() -> None:
    # Whatever the order, the start-of-call facts end up the same, and a file finishes once.
    # Orders where the hangups precede everything else end the call early: late events are
    # then ignored, but the recording is never finished twice.
    events = basic_call()
    rng = random.Random(5)
    for _ in range(300):
        shuffled = events[:]
        rng.shuffle(shuffled)
        out = CallTracker().apply_all(shuffled)
        assert len(finished(out)) <= 1
        assert sum(isinstance(o, CallEnded) for o in out) <= 1
        assert sum(isinstance(o, CallStarted) for o in out) == 1


def test_hangups_last_any_order_of_the_rest() -> None:
    events = basic_call()
    body, tail = events[:-2], events[-2:]
    rng = random.Random(7)
    for _ in range(200):
        shuffled = body[:]
        rng.shuffle(shuffled)
        out = CallTracker().apply_all(shuffled + tail)
        (rec,) = finished(out)
        assert rec.caller.name == "Müller" and rec.callee.number == "1002"
        assert rec.dialled == "15551230001" and rec.started == 1.0


def test_answer_before_start_is_kept() -> None:
    tracker = CallTracker()
    tracker.apply(LegAnswered(C, B, 3.0))
    tracker.apply(LegStarted(C, A, 1.0, origin=True, number="1"))
    tracker.apply(LegStarted(C, B, 1.2, number="1002", name="Bob"))
    call = tracker.calls[C]
    assert call.legs[B].answered == 3.0 and call.callee is not None
    assert call.callee.name == "Bob" and call.started == 1.0


def test_ended_leg_stays_ended_after_late_events() -> None:
    tracker = CallTracker()
    tracker.apply_all([LegStarted(C, A, 1.0, origin=True), LegStarted(C, B, 1.1),
                       LegEnded(C, B, 2.0, "17"), LegAnswered(C, B, 2.5), LegStarted(C, B, 1.1)])
    leg = tracker.calls[C].legs[B]
    assert leg.ended == 2.0 and leg.cause == "17"


def test_hangup_of_unknown_call_is_nothing() -> None:
    tracker = CallTracker()
    assert tracker.apply(LegEnded("x", "x", 1.0)) == []
    assert tracker.calls == {}


def test_recording_follows_call_through_blind_transfer() -> None:
    """Carrier A calls 1002 (B), recorded on A; B blind-transfers A to 1003 (D)."""
    tracker = CallTracker()
    events = [
        *basic_call()[:10],
        BlindTransferred(C, B, 5.0, A, "1003"),
        LegUnbridged(C, B, 5.0, "br1"),
        LegEnded(C, B, 5.1, "16"),  # the transferer leaves: A's recording goes on
        LegStarted(C, D, 5.2, "PJSIP/1003-3", "1003", "1003", "Carol"),
        LegAnswered(C, D, 6.0),
        LegBridged(C, D, 6.1, "br2"),
    ]
    assert finished(tracker.apply_all(events)) == []
    assert FILE in tracker.calls[C].recordings
    out = tracker.apply_all([LegEnded(C, D, 12.0), LegEnded(C, A, 12.1)])
    (rec,) = finished(out)
    assert rec.file == FILE and rec.at == 12.1 and rec.transfers == 1
    assert rec.callee.number == "1002"  # the party the call was for; transfers counted


def test_recording_on_transferer_leg_ends_with_it_and_new_segment_follows() -> None:
    """Outbound call recorded on the desk's leg B; B attended-transfers: B's file closes, the
    dialplan's new recording on the remaining leg is a second file of the same call."""
    tracker = CallTracker()
    out = tracker.apply_all([
        LegStarted(C, A, 1.0, origin=True, number="1002"), LegStarted(C, B, 1.1),
        RecordingStarted(C, A, 1.2, "/rec/part1.wav"),
        AttendedTransferred(C, A, 4.0, B, D), LegEnded(C, A, 4.1),
        LegStarted(C, D, 4.2, number="1003"), RecordingStarted(C, D, 4.3, "/rec/part2.wav"),
    ])
    assert [r.file for r in finished(out)] == ["/rec/part1.wav"]
    out = tracker.apply_all([LegEnded(C, B, 9.0), LegEnded(C, D, 9.0)])
    assert [r.file for r in finished(out)] == ["/rec/part2.wav"]
    assert finished(out)[0].transfers == 1


def test_stop_then_hangup_then_closed_finishes_once() -> None:
    tracker = CallTracker()
    tracker.apply_all(basic_call()[:10])
    out = tracker.apply(RecordingStopped(C, A, 5.0))
    assert [(r.file, r.signal) for r in finished(out)] == [(FILE, "stopped")]
    assert finished(tracker.apply_all(basic_call()[10:])) == []
    assert tracker.apply(RecordingClosed(C, A, 9.3, FILE)) == []


def test_closed_before_hangup_wins() -> None:
    tracker = CallTracker()
    tracker.apply_all(basic_call()[:10])
    (rec,) = finished(tracker.apply(RecordingClosed("", "", 8.0, FILE)))
    assert rec.signal == "closed" and rec.call == C and rec.caller.number == "15559876543"
    assert finished(tracker.apply_all(basic_call()[10:])) == []


def test_closed_for_unknown_file_is_handed_on_once() -> None:
    tracker = CallTracker()
    (rec,) = tracker.apply(RecordingClosed("", "", 1.0, "/rec/missed.wav"))
    assert rec.file == "/rec/missed.wav" and rec.caller == Party()
    assert tracker.apply(RecordingClosed("", "", 1.0, "/rec/missed.wav")) == []


def test_restarted_recording_of_same_file_is_one_recording() -> None:
    """A blind transfer re-runs the dialplan on the transferee: a second MixMonitorStart
    with the same file must not become a second delivery."""
    tracker = CallTracker()
    events = [*basic_call()[:10], RecordingStarted(C, A, 5.5, FILE), *basic_call()[10:]]
    assert len(finished(tracker.apply_all(events))) == 1


def test_pause_resume_and_on_demand() -> None:
    tracker = CallTracker()
    tracker.apply_all([*basic_call()[:10], RecordingStarted(C, B, 4.0, "/rec/od.wav", True)])
    tracker.apply(RecordingPaused(C, B, 4.5))
    assert tracker.calls[C].recordings["/rec/od.wav"].paused
    tracker.apply(RecordingResumed(C, B, 4.6))
    assert not tracker.calls[C].recordings["/rec/od.wav"].paused
    out = tracker.apply_all(basic_call()[10:])
    assert sorted((r.file, r.on_demand) for r in finished(out)) == [
        (FILE, False), ("/rec/od.wav", True)]


def test_reconcile_ends_vanished_legs_and_adds_new_ones() -> None:
    tracker = CallTracker()
    tracker.apply_all(basic_call()[:10])
    tracker.apply_all([LegStarted("200.0", "200.0", 2.0, origin=True),
                       RecordingStarted("200.0", "200.0", 2.1, "/rec/200.wav")])
    # After the outage: call 100 is still up, call 200 is gone, call 300 appeared.
    live = [LegStarted(C, A, 0.0, origin=True), LegStarted(C, B, 0.0),
            LegStarted("300.0", "300.0", 7.0, number="5", origin=True)]
    out = tracker.reconcile(live, answered={"300.0"}, at=20.0)
    (rec,) = finished(out)
    assert rec.file == "/rec/200.wav" and rec.signal == "reconciled"
    assert CallEnded("200.0", "", 20.0) in out and CallStarted("300.0", "300.0", 7.0) in out
    assert set(tracker.calls) == {C, "300.0"}
    assert tracker.calls["300.0"].legs["300.0"].answered == 20.0
    assert FILE in tracker.calls[C].recordings  # still recording, untouched


def test_tombstones_are_bounded() -> None:
    tracker = CallTracker(tombstones=10)
    for n in range(50):
        call = f"{n}.0"
        tracker.apply_all([LegStarted(call, call, 1.0, origin=True), LegEnded(call, call, 2.0)])
    assert tracker.calls == {}
    assert len(tracker._ended._items) == 10


def test_many_interleaved_calls() -> None:
    def one(n: int) -> list[CallEvent]:
        c, a, b = f"{n}.0", f"{n}.0", f"{n}.1"
        return [LegStarted(c, a, 1.0, origin=True, number=str(n)),
                RecordingStarted(c, a, 1.0, f"/rec/{n}.wav"), LegStarted(c, b, 1.0),
                LegAnswered(c, b, 2.0), LegEnded(c, b, 3.0), LegEnded(c, a, 3.0)]

    streams = [one(n) for n in range(100)]
    interleaved = [e for group in itertools.zip_longest(*streams) for e in group if e]
    out = CallTracker().apply_all(interleaved)
    assert sorted(r.caller.number for r in finished(out)) == sorted(str(n) for n in range(100))


def test_reconcile_spares_legs_that_started_while_asking() -> None:
    tracker = CallTracker()
    tracker.apply_all(basic_call()[:10])
    before = tracker.live_legs()
    assert before == {A, B}
    tracker.apply(LegStarted(C, D, 5.0, number="1003"))  # arrived after the snapshot was taken
    live = [LegStarted(C, A, 0.0, origin=True), LegStarted(C, B, 0.0)]
    assert tracker.reconcile(live, at=6.0, known_before=before) == []
    assert tracker.calls[C].legs[D].ended is None
    tracker.reconcile(live, at=7.0)  # without the snapshot D would count as gone
    assert tracker.calls[C].legs[D].ended == 7.0


def test_a_stop_mid_call_finishes_the_on_demand_recording_not_the_policy_one() -> None:
    tracker = CallTracker()
    tracker.apply(LegStarted("c", "c", 1.0, origin=True))
    tracker.apply(RecordingStarted("c", "c", 1.0, "/r/rec-c.wav"))
    tracker.apply(RecordingStarted("c", "c", 2.0, "/r/ondemand-c-2-1.wav", on_demand=True))
    [first] = tracker.apply(RecordingStopped("c", "c", 3.0))
    assert isinstance(first, RecordingFinished) and first.file == "/r/ondemand-c-2-1.wav"
    [second] = tracker.apply(RecordingStopped("c", "c", 9.0))  # the hangup handler's stop
    assert isinstance(second, RecordingFinished) and second.file == "/r/rec-c.wav"


def test_a_call_that_ended_unseen_during_an_outage_never_counts_as_unanswered() -> None:
    """The link dropped after the recording started but before the answer reached us: the
    answer is among the missed events, so the recording must not be thrown away."""
    tracker = CallTracker()
    tracker.apply_all(basic_call()[:5])  # started, recording, dialled, ringing: no answer yet
    (rec,) = finished(tracker.reconcile([], at=20.0))
    assert rec.signal == "reconciled" and rec.answered


def test_a_call_seen_whole_without_an_answer_is_unanswered() -> None:
    tracker = CallTracker()
    out = tracker.apply_all([*basic_call()[:5], LegEnded(C, B, 9.0, "19"),
                             LegEnded(C, A, 9.1, "16")])
    (rec,) = finished(out)
    assert rec.signal == "hangup" and not rec.answered
