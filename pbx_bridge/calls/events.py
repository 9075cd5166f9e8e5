"""PBX-neutral call events: what the PBX adapters emit and the call state consumes.

Every event names its call and its leg. A *call* is everything that follows from one first
channel (Asterisk: the `Linkedid` every leg carries; FreeSWITCH: the a-leg's call UUID); a
*leg* is one channel of it (Asterisk: `Uniqueid`). `at` is the PBX's own time of the event in
seconds since the epoch (0.0 when the PBX did not say).

Two families:
- inputs, emitted by `pbx/<kind>/events.py` from wire events (`LegStarted` ... `LegEnded`);
- outcomes, emitted by `calls/state.py` when the call as a whole changes (`CallStarted`,
  `CallEnded`, `RecordingFinished`).

No PBX field names here: an adapter for a third PBX emits these same classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class CallEvent:
    call: str
    leg: str
    at: float = 0.0


# -- inputs: legs ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LegStarted(CallEvent):
    """A channel appeared. `origin` is true for the call's first channel (the caller's side).

    `number`/`name` are the party on this leg (caller ID); `dialled` is what this leg asked for
    (the DID or extension), `endpoint` the device or trunk it belongs to (PJSIP endpoint name).
    All of it is untrusted network text: keep it as data, never put it into commands or paths.
    """

    channel: str = ""
    endpoint: str = ""
    number: str = ""
    name: str = ""
    dialled: str = ""
    origin: bool = False


@dataclass(frozen=True, slots=True)
class LegRinging(CallEvent):
    pass


@dataclass(frozen=True, slots=True)
class LegAnswered(CallEvent):
    pass


@dataclass(frozen=True, slots=True)
class Dialled(CallEvent):
    """`leg` started ringing `target` (another leg of the same call)."""

    target: str = ""


@dataclass(frozen=True, slots=True)
class DialEnded(CallEvent):
    """`leg`'s attempt on `target` ended; `status` is ANSWER, BUSY, NOANSWER, CANCEL, ..."""

    target: str = ""
    status: str = ""


@dataclass(frozen=True, slots=True)
class LegBridged(CallEvent):
    bridge: str = ""


@dataclass(frozen=True, slots=True)
class LegUnbridged(CallEvent):
    bridge: str = ""


@dataclass(frozen=True, slots=True)
class BlindTransferred(CallEvent):
    """`leg` (the transferer) sent `transferee` to `target` (a number); `ok` if it worked."""

    transferee: str = ""
    target: str = ""
    ok: bool = True


@dataclass(frozen=True, slots=True)
class AttendedTransferred(CallEvent):
    """`leg` (the transferer) joined `transferee` with `target_leg` (the party consulted)."""

    transferee: str = ""
    target_leg: str = ""
    ok: bool = True


@dataclass(frozen=True, slots=True)
class LegEnded(CallEvent):
    cause: str = ""


# -- inputs: recordings -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RecordingStarted(CallEvent):
    """A recording of `leg` into `file` began. `on_demand`: a person asked for it mid-call."""

    file: str = ""
    on_demand: bool = False


@dataclass(frozen=True, slots=True)
class RecordingPaused(CallEvent):
    pass


@dataclass(frozen=True, slots=True)
class RecordingResumed(CallEvent):
    pass


@dataclass(frozen=True, slots=True)
class RecordingStopped(CallEvent):
    """Every recording of `leg` was stopped on purpose (the file is then closed)."""


@dataclass(frozen=True, slots=True)
class RecordingClosed(CallEvent):
    """The PBX closed `file` (Asterisk: MixMonitor's post-command ran). `call`/`leg` may be ''."""

    file: str = ""


InputEvent = (LegStarted | LegRinging | LegAnswered | Dialled | DialEnded | LegBridged
              | LegUnbridged | BlindTransferred | AttendedTransferred | LegEnded
              | RecordingStarted | RecordingPaused | RecordingResumed | RecordingStopped
              | RecordingClosed)


# -- outcomes ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CallStarted(CallEvent):
    pass


@dataclass(frozen=True, slots=True)
class CallEnded(CallEvent):
    pass


FinishSignal = Literal["closed", "stopped", "hangup", "reconciled"]


@dataclass(frozen=True, slots=True)
class Party:
    """One side of a call as delivery sees it: number, name, device (endpoint)."""

    number: str = ""
    name: str = ""
    endpoint: str = ""


@dataclass(frozen=True, slots=True)
class RecordingFinished(CallEvent):
    """A recording's file is complete and can become delivery jobs.

    `signal` says what told us: the PBX closed the file, it was stopped, its leg hung up, or a
    reconciliation found it. `caller`/`callee`, `dialled` and `started` are the call's facts
    at that moment; `recorded_leg` is the leg the file was made on; `on_demand` as started.
    """

    file: str = ""
    signal: FinishSignal = "closed"
    caller: Party = field(default_factory=Party)
    callee: Party = field(default_factory=Party)
    dialled: str = ""
    started: float = 0.0
    on_demand: bool = False
    transfers: int = 0
    answered: bool = True  # False: no one but the caller answered (e.g. only a voicemail)


Outcome = CallStarted | CallEnded | RecordingFinished
