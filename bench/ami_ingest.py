"""AMI ingest: events/s on one core through parse + normalise + call state, against
panoramisk's bare parser in the same run.

The stream is the real Asterisk 22 capture of one recorded DID call
(`tests/pbx/asterisk/fixtures/asterisk22/`, 135 events, 54 KB; FullyBooted, once per
connection, left out), repeated for `--calls` calls with every id made unique (Uniqueid,
Linkedid, channel names, bridge, file), fed in 4 KB chunks as socket reads would deliver it.
Measured in turn, median of `--runs`:

- panoramisk 1.4 bare: `AMIProtocol.data_received` with a `Manager` as factory and one
  catch-all `'*'` handler that counts (its parsing and dispatch only; nothing tracked);
- ours, bare parser: `AmiParser.feed` only (for reference);
- ours, AmiParser path: `AmiParser.feed` -> `AmiEvents.translate` -> `CallTracker.apply`;
- ours, ingest path (what the bridge runs): `AmiFrameReader.feed` cuts frames, only frames
  `AmiEvents.wants` are decoded, then translate and apply; and the same decoding every frame,
  the worst case (a PBX whose every event mattered).
Both full paths check that every call's recording finished exactly once and no call is left.

The aim (issue 5, item 7): the full pipeline no slower than panoramisk's bare parser. A busy
Asterisk sends ~100 events per call; 200 calls/s is 20,000 events/s.

    .venv/bin/python bench/ami_ingest.py [--calls 200] [--runs 7] [--cpu 0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pbx_bridge.calls.events import RecordingFinished  # noqa: E402
from pbx_bridge.calls.state import CallTracker  # noqa: E402
from pbx_bridge.pbx.asterisk.ami_frames import AmiFrameReader  # noqa: E402
from pbx_bridge.pbx.asterisk.ami_protocol import AmiParser  # noqa: E402
from pbx_bridge.pbx.asterisk.events import AmiEvents  # noqa: E402

CAPTURE = ROOT / "tests/pbx/asterisk/fixtures/asterisk22/did-call-answered-recorded.ami"
CHUNK = 4096
_ID = re.compile(rb"1795393172\.(\d)")
_CHAN = re.compile(rb"-0000000([01])\b")
_BRIDGE = b"b5c8ad96-e498-4a6e-a459-d735b521bfd1"


def build_stream(calls: int) -> tuple[bytes, int]:
    """The capture's events (banner, login response and Goodbye dropped) once per call."""
    raw = CAPTURE.read_bytes()
    # FullyBooted comes once per connection, not per call (and panoramisk answers it by
    # re-sending parked actions): left out.
    blocks = [b.lstrip(b"\r\n") for b in raw.split(b"\r\n\r\n")]
    blocks = [b for b in blocks
              if b.startswith(b"Event:") and not b.startswith(b"Event: FullyBooted")]
    one = b"".join(b + b"\r\n\r\n" for b in blocks)
    parts = [b"Asterisk Call Manager/11.0.0\r\n"]
    for n in range(calls):
        base = str(1800000000 + n).encode()
        text = _ID.sub(lambda m, base=base: base + b"." + m.group(1), one)
        text = _CHAN.sub(lambda m, n=n: b"-%08x" % (2 * n + int(m.group(1))), text)
        parts.append(text.replace(_BRIDGE, b"bridge-%d" % n))
    return b"".join(parts), len(blocks) * calls


def chunks(data: bytes) -> list[bytes]:
    return [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)]


def run_panoramisk(pieces: list[bytes]) -> tuple[float, int]:
    from panoramisk.ami_protocol import AMIProtocol
    from panoramisk.manager import Manager

    loop = asyncio.new_event_loop()
    try:
        count = 0

        def counted(manager: object, message: object) -> None:
            nonlocal count
            count += 1

        manager = Manager(loop=loop)
        manager.register_event("*", counted)
        protocol = AMIProtocol()
        protocol.connection_made(_NullTransport())
        protocol.factory = manager
        protocol.encoding = "utf8"
        start = time.perf_counter()
        for piece in pieces:
            protocol.data_received(piece)
        return time.perf_counter() - start, count
    finally:
        loop.close()


def run_parser(pieces: list[bytes]) -> tuple[float, int]:
    parser = AmiParser()
    count = 0
    start = time.perf_counter()
    for piece in pieces:
        for message in parser.feed(piece):
            if "Event" in message:
                count += 1
    return time.perf_counter() - start, count


def run_ingest(pieces: list[bytes], calls: int, decode_all: bool = False) -> tuple[float, int]:
    """The bridge's ingest path: frames cut, only wanted frames decoded (`decode_all`: the
    worst case, as if every event mattered)."""
    reader, ami, tracker = AmiFrameReader(), AmiEvents(), CallTracker()
    translate, apply = ami.translate, tracker.apply
    wants = (lambda name, frame: True) if decode_all else ami.wants
    event_name, parse = reader.event_name, reader.parse_frame
    count = finished = 0
    start = time.perf_counter()
    for piece in pieces:
        for frame in reader.feed(piece):
            name = event_name(frame)
            if not name:
                continue
            count += 1
            if not wants(name, frame):
                continue
            message = parse(frame)
            if message is None:
                continue
            for event in translate(message):
                for outcome in apply(event):
                    if type(outcome) is RecordingFinished:
                        finished += 1
    elapsed = time.perf_counter() - start
    _check(finished, calls, tracker)
    return elapsed, count


def _check(finished: int, calls: int, tracker: CallTracker) -> None:
    if finished != calls or tracker.calls:
        raise SystemExit(f"wrong result: {finished} recordings finished for {calls} calls, "
                         f"{len(tracker.calls)} calls left open")


def run_full(pieces: list[bytes], calls: int) -> tuple[float, int]:
    """Every message decoded by `AmiParser`, then normalised and tracked."""
    parser, ami, tracker = AmiParser(), AmiEvents(), CallTracker()
    translate, apply = ami.translate, tracker.apply
    count = finished = 0
    start = time.perf_counter()
    for piece in pieces:
        for message in parser.feed(piece):
            if "Event" in message:
                count += 1
                for event in translate(message):
                    for outcome in apply(event):
                        if type(outcome) is RecordingFinished:
                            finished += 1
    elapsed = time.perf_counter() - start
    _check(finished, calls, tracker)
    return elapsed, count


class _NullTransport(asyncio.Transport):
    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--cpu", type=int, default=0, help="pin to this CPU (-1: do not pin)")
    args = parser.parse_args()
    if args.cpu >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    data, expected = build_stream(args.calls)
    pieces = chunks(data)
    print(f"stream: {args.calls} calls x {expected // args.calls} events = {expected} events, "
          f"{len(data) / 1e6:.1f} MB, {len(pieces)} reads of {CHUNK} B; "
          f"Python {sys.version.split()[0]}, CPU {args.cpu}, median of {args.runs} runs")
    contenders: dict[str, Callable[[], tuple[float, int]]] = {
        "panoramisk 1.4, bare parser + '*' handler": lambda: run_panoramisk(pieces),
        "ours, bare parser (AmiParser)": lambda: run_parser(pieces),
        "ours, AmiParser + normalise + call state": lambda: run_full(pieces, args.calls),
        "ours, ingest: frames + normalise + call state": lambda: run_ingest(pieces, args.calls),
        "ours, ingest, every frame decoded (worst case)":
            lambda: run_ingest(pieces, args.calls, decode_all=True),
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.runs):
        for name, run in contenders.items():
            elapsed, count = run()
            if count != expected:
                raise SystemExit(f"{name}: counted {count} events, expected {expected}")
            times[name].append(elapsed)
    rates = {name: expected / statistics.median(t) for name, t in times.items()}
    width = max(map(len, rates))
    for name, rate in rates.items():
        spread = f"{expected / max(times[name]):,.0f}-{expected / min(times[name]):,.0f}"
        print(f"  {name:<{width}}  {rate:>10,.0f} events/s  ({spread})  "
              f"{1e6 / rate:5.2f} us/event")
    base, ours = rates[next(iter(rates))], rates["ours, ingest: frames + normalise + call state"]
    print(f"ratio full pipeline / panoramisk bare parser: {ours / base:.2f}x "
          f"(aim >= 1.0); headroom at 20,000 events/s: {ours / 20000:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
