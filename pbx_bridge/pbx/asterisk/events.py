"""AMI events -> neutral call events. The only module that knows AMI event and field names.

Asterisk 12+ vocabulary (DialBegin/DialEnd, BridgeEnter/BridgeLeave, BlindTransfer,
AttendedTransfer, MixMonitorStart/Stop/Mute), measured on Asterisk 22 (notes/asterisk-lab.md):
- every leg carries the first channel's `Linkedid`: that is the call id; `Uniqueid` the leg id,
  and the leg whose Uniqueid equals its Linkedid is the call's origin. Asterisk 11 sent no
  Linkedid on most events; a leg then counts as its own call (its Uniqueid);
- `MixMonitorStart` carries no file name: it is in the `VarSet MIXMONITOR_FILENAME` sent on the
  same channel just before, so that value is kept per leg until the start arrives;
- there is no `MixMonitorStop` at hangup: the call state treats the recorded leg's `Hangup` as
  the end of its file (the file's mtime was 6 ms before that Hangup);
- `UserEvent: PbxBridgeRecordingClosed` with `File:` is the post-command's "file closed"
  report when the dialplan routes it through AMI.

`AmiEvents.translate(message)` returns a (possibly empty) tuple of events; most AMI traffic
(VarSet, Newexten, AGIExec, RTCP...) maps to nothing and costs one dict lookup. Values are
kept as data; nothing here builds a command or a path from them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pbx_bridge.calls.events import (
    AttendedTransferred,
    BlindTransferred,
    CallEvent,
    DialEnded,
    Dialled,
    LegAnswered,
    LegBridged,
    LegEnded,
    LegRinging,
    LegStarted,
    LegUnbridged,
    RecordingClosed,
    RecordingPaused,
    RecordingResumed,
    RecordingStarted,
    RecordingStopped,
)

Message = Mapping[str, str]
NONE: tuple[CallEvent, ...] = ()
CLOSED_USEREVENT = "PbxBridgeRecordingClosed"
# Asterisk writes these for an absent caller ID; they are no name and no number.
_NO_ID = frozenset({"", "<unknown>", "<Unknown>"})
MAX_PENDING = 10_000  # MIXMONITOR_FILENAME values waiting for their MixMonitorStart


def default_on_demand(file: str) -> bool:
    """Recordings started by a person mid-call are named `ondemand-...` (our AGI) or
    `auto-...` (Asterisk's automixmon); everything else came from the dialplan's policy."""
    base = file.rsplit("/", 1)[-1]
    return base.startswith(("ondemand-", "auto-"))


def endpoint_of(channel: str) -> str:
    """`PJSIP/1002-00000001` -> `1002`; Local and unknown shapes -> ``."""
    tech, sep, rest = channel.partition("/")
    if not sep or tech == "Local":
        return ""
    name, dash, _ = rest.rpartition("-")
    return name if dash else rest


def _ident(value: str | None) -> str:
    return "" if value is None or value in _NO_ID else value


def _at(m: Message) -> float:
    stamp = m.get("Timestamp")
    if stamp:
        try:
            return float(stamp)
        except ValueError:
            return 0.0
    return 0.0


def _ids(m: Message) -> tuple[str, str] | None:
    leg = m.get("Uniqueid") or m.get("UniqueID")
    if not leg:
        return None
    return (m.get("Linkedid") or leg), leg


class AmiEvents:
    """Stateful only for what AMI splits over several events (the MixMonitor file name)."""

    def __init__(self, on_demand: Callable[[str], bool] = default_on_demand) -> None:
        self._on_demand = on_demand
        self._pending_file: dict[str, str] = {}
        self._handlers: dict[str, Callable[[Message], tuple[CallEvent, ...]]] = {
            "Newchannel": self._newchannel,
            "Newstate": self._newstate,
            "DialBegin": self._dial_begin,
            "DialEnd": self._dial_end,
            "BridgeEnter": self._bridge_enter,
            "BridgeLeave": self._bridge_leave,
            "BlindTransfer": self._blind,
            "AttendedTransfer": self._attended,
            "Hangup": self._hangup,
            "VarSet": self._varset,
            "MixMonitorStart": self._mix_start,
            "MixMonitorStop": self._mix_stop,
            "MixMonitorMute": self._mix_mute,
            "UserEvent": self._user_event,
            "CoreShowChannel": self._newchannel,  # reconciliation: same shape as Newchannel
        }

        self._wanted = frozenset(name.encode() for name in self._handlers)

    def on_demand(self, file: str) -> bool:
        return self._on_demand(file)

    def wants(self, name: bytes, frame: bytes) -> bool:
        """Whether a raw frame (`ami_frames`) can map to anything, without decoding it: the
        ingest path parses only these. False for nearly all VarSet and every Newexten."""
        if name not in self._wanted:
            return False
        if name == b"VarSet":
            return b"MIXMONITOR_FILENAME" in frame
        if name == b"UserEvent":
            return CLOSED_USEREVENT.encode() in frame
        return True

    def translate(self, m: Message) -> tuple[CallEvent, ...]:
        handler = self._handlers.get(m.get("Event") or "")
        if handler is None:
            return NONE
        try:
            return handler(m)
        except (KeyError, ValueError, TypeError):  # a malformed event is skipped, never fatal
            return NONE

    # -- legs -------------------------------------------------------------------------------
    def _newchannel(self, m: Message) -> tuple[CallEvent, ...]:
        ids = _ids(m)
        if ids is None:
            return NONE
        call, leg = ids
        channel = m.get("Channel", "")
        return (LegStarted(call, leg, _at(m), channel, endpoint_of(channel),
                           _ident(m.get("CallerIDNum")), _ident(m.get("CallerIDName")),
                           m.get("Exten", ""), origin=call == leg),)

    def _newstate(self, m: Message) -> tuple[CallEvent, ...]:
        ids = _ids(m)
        if ids is None:
            return NONE
        state = m.get("ChannelStateDesc")
        if state == "Up":
            return (LegAnswered(ids[0], ids[1], _at(m)),)
        if state == "Ringing":
            return (LegRinging(ids[0], ids[1], _at(m)),)
        return NONE

    def _dial_begin(self, m: Message) -> tuple[CallEvent, ...]:
        ids, target = _ids(m), m.get("DestUniqueid")
        if ids is None or not target:
            return NONE
        return (Dialled(ids[0], ids[1], _at(m), target),)

    def _dial_end(self, m: Message) -> tuple[CallEvent, ...]:
        ids, target = _ids(m), m.get("DestUniqueid")
        if ids is None or not target:
            return NONE
        return (DialEnded(ids[0], ids[1], _at(m), target, m.get("DialStatus", "")),)

    def _bridge_enter(self, m: Message) -> tuple[CallEvent, ...]:
        ids = _ids(m)
        if ids is None:
            return NONE
        return (LegBridged(ids[0], ids[1], _at(m), m.get("BridgeUniqueid", "")),)

    def _bridge_leave(self, m: Message) -> tuple[CallEvent, ...]:
        ids = _ids(m)
        if ids is None:
            return NONE
        return (LegUnbridged(ids[0], ids[1], _at(m), m.get("BridgeUniqueid", "")),)

    def _blind(self, m: Message) -> tuple[CallEvent, ...]:
        leg = m.get("TransfererUniqueid")
        if not leg:
            return NONE
        call = m.get("TransfererLinkedid") or leg
        return (BlindTransferred(call, leg, _at(m), m.get("TransfereeUniqueid", ""),
                                 m.get("Extension", ""), m.get("Result") == "Success"),)

    def _attended(self, m: Message) -> tuple[CallEvent, ...]:
        leg = m.get("OrigTransfererUniqueid")
        if not leg:
            return NONE
        call = m.get("OrigTransfererLinkedid") or leg
        return (AttendedTransferred(call, leg, _at(m), m.get("TransfereeUniqueid", ""),
                                    m.get("TransferTargetUniqueid", ""),
                                    m.get("Result") == "Success"),)

    def _hangup(self, m: Message) -> tuple[CallEvent, ...]:
        ids = _ids(m)
        if ids is None:
            return NONE
        self._pending_file.pop(ids[1], None)
        return (LegEnded(ids[0], ids[1], _at(m), m.get("Cause", "")),)

    # -- recordings -----------------------------------------------------------------------
    def _varset(self, m: Message) -> tuple[CallEvent, ...]:
        if m.get("Variable") != "MIXMONITOR_FILENAME":
            return NONE
        leg = m.get("Uniqueid")
        value = m.get("Value")
        if leg and value:
            if len(self._pending_file) >= MAX_PENDING:  # starts that never came: drop oldest
                self._pending_file.pop(next(iter(self._pending_file)))
            self._pending_file[leg] = value
        return NONE

    def _mix_start(self, m: Message) -> tuple[CallEvent, ...]:
        ids = _ids(m)
        if ids is None:
            return NONE
        file = self._pending_file.pop(ids[1], "")
        if not file:
            return NONE  # no name, nothing to deliver: the spool scan will find the file
        return (RecordingStarted(ids[0], ids[1], _at(m), file, self._on_demand(file)),)

    def _mix_stop(self, m: Message) -> tuple[CallEvent, ...]:
        ids = _ids(m)
        return NONE if ids is None else (RecordingStopped(ids[0], ids[1], _at(m)),)

    def _mix_mute(self, m: Message) -> tuple[CallEvent, ...]:
        ids = _ids(m)
        if ids is None or m.get("Direction", "both") != "both":
            return NONE
        kind = RecordingPaused if m.get("State") in ("1", "true", "yes") else RecordingResumed
        return (kind(ids[0], ids[1], _at(m)),)

    def _user_event(self, m: Message) -> tuple[CallEvent, ...]:
        if m.get("UserEvent") != CLOSED_USEREVENT or not m.get("File"):
            return NONE
        ids = _ids(m) or ("", "")
        return (RecordingClosed(ids[0], ids[1], _at(m), m["File"]),)


def up_legs(channels: list[Any]) -> set[str]:
    """Leg ids of `CoreShowChannel` entries that are answered (for `CallTracker.reconcile`)."""
    return {m.get("Uniqueid", "") for m in channels if m.get("ChannelStateDesc") == "Up"}
