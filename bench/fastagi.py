"""FastAGI routing sessions: pbx-bridge's `AgiServer` against panoramisk 1.4's stock server.

    .venv/bin/python bench/fastagi.py [--sessions 10000] [--rounds 3] [--concurrency 1,10,50]

Each server runs in its own child process (pinned to CPU 0 when there are two or more), so its
CPU time is its own: the child reports `time.process_time()` (user + sys) before and after each
measurement. The simulated Asterisk is this process (pinned to CPU 1): N concurrent clients,
each opening a TCP connection per call, sending the `agi_*` environment of a real Asterisk
capture (23 lines, `tests/pbx/asterisk/fixtures/panoramisk/`), answering every command line with
`200 result=1`, and timing the session from `connect()` to the server closing the socket. The
route on both servers is the same: two `SET VARIABLE`s, then return.

Printed per server and N: sessions/s (wall), sessions per server core-second (sessions / server
CPU seconds: what one fully busy core sustains, independent of how fast the client is), p50/p99
per-session latency; medians over `--rounds` interleaved rounds. Then the ratios against
panoramisk on the stock asyncio loop, and against panoramisk on the same loop.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CAPTURE = ROOT / "tests/pbx/asterisk/fixtures/panoramisk/test_fast_agi.FAST_AGI_PAYLOAD.txt"
DID = "15551230001"
LINGER_RST = struct.pack("ii", 1, 0)


def env_block() -> bytes:
    """The real capture, routed to `route` with the DID as its argument (23 lines + blank)."""
    lines = []
    for line in CAPTURE.read_text().splitlines():
        if line.startswith("agi_network_script:"):
            line = "agi_network_script: route"
        elif line.startswith("agi_request:"):
            line = "agi_request: agi://127.0.0.1:4573/route"
        elif line.startswith("agi_arg_1:"):
            line = f"agi_arg_1: {DID}"
        if line:
            lines.append(line)
    return ("\n".join(lines) + "\n\n").encode()


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


# -- server side (child process) -------------------------------------------------------------
async def serve_ours() -> int:
    import logging

    import structlog

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    from pbx_bridge.pbx.asterisk.fastagi import AgiServer, AgiSession

    async def route(session: AgiSession) -> None:
        await session.set_variable("ROUTE_ENDPOINT", f"ep-{session.args[0]}")
        await session.set_variable("ROUTE_RING_SECONDS", "20")

    server = AgiServer({"route": route}, "127.0.0.1", 0)
    await server.start()
    return server.port


async def serve_panoramisk() -> int:
    from panoramisk.fast_agi import Application

    async def route(request) -> None:  # type: ignore[no-untyped-def]
        did = request.headers["agi_arg_1"]
        await request.send_command(f'SET VARIABLE ROUTE_ENDPOINT "ep-{did}"')
        await request.send_command('SET VARIABLE ROUTE_RING_SECONDS "20"')

    app = Application(loop=asyncio.get_running_loop())
    app.add_route("route", route)  # 1.4 needs a coroutine function (a plain one: AttributeError)
    server = await asyncio.start_server(app.handler, "127.0.0.1", 0, backlog=1024)
    return int(server.sockets[0].getsockname()[1])


class Floor(asyncio.Protocol):
    """The floor: what any Python server on this loop pays per session (accept, 3 reads,
    2 writes, close) with no parsing, no routing, no task: not a usable server."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.step = 0

    def data_received(self, data: bytes) -> None:
        if self.step == 0 and not data.endswith(b"\n\n"):
            return
        self.step += 1
        if self.step == 1:
            self.transport.write(f'SET VARIABLE ROUTE_ENDPOINT "ep-{DID}"\n'.encode())
        elif self.step == 2:
            self.transport.write(b'SET VARIABLE ROUTE_RING_SECONDS "20"\n')
        else:
            self.transport.close()


async def serve_floor() -> int:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Floor, "127.0.0.1", 0, backlog=1024)
    return int(server.sockets[0].getsockname()[1])


SERVES = {"ours": serve_ours, "panoramisk": serve_panoramisk, "floor": serve_floor}
NAMES = {
    "ours": "pbx-bridge AgiServer",
    "panoramisk": "panoramisk 1.4",
    "floor": "floor (no server)",
}


def child(impl: str, loop_kind: str, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    loop = new_loop(loop_kind)
    asyncio.set_event_loop(loop)
    port = loop.run_until_complete(SERVES[impl]())

    def control() -> None:  # "cpu" -> this process's CPU seconds; EOF -> stop
        for line in sys.stdin:
            if line.strip() == "cpu":
                print(f"CPU {time.process_time():.6f}", flush=True)
        loop.call_soon_threadsafe(loop.stop)

    print(f"PORT {port}", flush=True)
    threading.Thread(target=control, daemon=True).start()
    loop.run_forever()


class Server:
    def __init__(self, impl: str, loop_kind: str, cpu: int | None) -> None:
        self.name = NAMES[impl]
        self.impl, self.loop_kind = impl, loop_kind
        args = [sys.executable, __file__, "--serve", impl, loop_kind]
        if cpu is not None:
            args += ["--cpu", str(cpu)]
        self.proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        self.port = int(self._expect("PORT"))

    def _expect(self, tag: str) -> str:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(tag + " "):
                return line.split()[1]
        raise RuntimeError(f"{self.name} exited before {tag}")

    def cpu(self) -> float:
        assert self.proc.stdin is not None
        self.proc.stdin.write("cpu\n")
        self.proc.stdin.flush()
        return float(self._expect("CPU"))

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- client side (this process): simulated Asterisk ------------------------------------------
class FakeAsterisk(asyncio.Protocol):
    """One call: send the environment, answer each command line, done when the server closes."""

    def __init__(self, env: bytes, done: asyncio.Future[int]) -> None:
        self.env, self.done, self.commands = env, done, 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        # Close with a RST once the server has closed: otherwise every session leaves a
        # TIME_WAIT on the server side, and tens of thousands of them make connect() scan for
        # free ports and SYNs collide with old sockets (1 s retransmits): a loopback artifact.
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
        self.transport.write(self.env)

    def data_received(self, data: bytes) -> None:
        count = data.count(b"\n")
        self.commands += count
        assert self.transport is not None
        self.transport.write(b"200 result=1\n" * count)

    def eof_received(self) -> bool:
        if not self.done.done():
            self.done.set_result(self.commands)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(self.commands)


@dataclass
class Run:
    sessions: int
    wall: float
    cpu: float
    latencies: list[float]
    bad: int
    client_cpu: float

    @property
    def rate(self) -> float:
        return self.sessions / self.wall

    @property
    def per_core(self) -> float:
        return self.sessions / self.cpu if self.cpu > 0 else float("inf")

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def load(port: int, concurrency: int, sessions: int, env: bytes) -> tuple[list[float], int]:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    bad = 0
    left = sessions

    async def worker() -> None:
        nonlocal left, bad
        while left > 0:
            left -= 1
            done: asyncio.Future[int] = loop.create_future()
            started = time.perf_counter()
            await loop.create_connection(partial(FakeAsterisk, env, done), "127.0.0.1", port)
            commands = await done
            latencies.append(time.perf_counter() - started)
            bad += commands != 2

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, bad


def measure(
    loop: asyncio.AbstractEventLoop, server: Server, concurrency: int, sessions: int, env: bytes
) -> Run:
    warm = load(server.port, concurrency, max(200, sessions // 10), env)
    loop.run_until_complete(asyncio.wait_for(warm, 120))
    cpu0, wall0, client0 = server.cpu(), time.perf_counter(), time.process_time()
    run = load(server.port, concurrency, sessions, env)
    latencies, bad = loop.run_until_complete(asyncio.wait_for(run, 300))
    wall, client = time.perf_counter() - wall0, time.process_time() - client0
    return Run(sessions, wall, server.cpu() - cpu0, latencies, bad, client)


@dataclass
class Row:
    server: Server
    concurrency: int
    runs: list[Run] = field(default_factory=list)

    def med(self, attr: str) -> float:
        return statistics.median(getattr(run, attr) for run in self.runs)

    def med_pct(self, q: float) -> float:
        return statistics.median(run.pct(q) for run in self.runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=10000, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="1,10,50")
    parser.add_argument("--serve", nargs=2, metavar=("IMPL", "LOOP"), help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.serve:
        child(opts.serve[0], opts.serve[1], opts.cpu)
        return

    try:
        import uvloop  # noqa: F401

        loops = ["asyncio", "uvloop"]
    except ImportError:
        loops = ["asyncio"]
        print("uvloop not installed: stock asyncio loop only")
    pinned = (os.cpu_count() or 1) >= 2
    if pinned:
        os.sched_setaffinity(0, {1})
    client_loop = new_loop(loops[-1])
    asyncio.set_event_loop(client_loop)
    env = env_block()
    levels = [int(n) for n in opts.concurrency.split(",")]
    servers = [
        Server(impl, kind, 0 if pinned else None)
        for impl in ("ours", "panoramisk", "floor")
        for kind in reversed(loops)
        if impl != "floor" or kind == loops[-1]  # the floor on the fastest loop only
    ]
    rows = {(s, n): Row(s, n) for s in servers for n in levels}
    print(
        f"{len(env.splitlines()) - 1}-line environment, {opts.sessions} sessions per "
        f"measurement, {opts.rounds} rounds; servers on CPU 0, clients ({loops[-1]}) on CPU 1"
        if pinned
        else "(one CPU: server and clients share it)",
        flush=True,
    )
    try:
        for round_no in range(opts.rounds):
            for n in levels:
                for server in servers:  # interleaved, so drift hits every server alike
                    sessions = opts.sessions if n > 1 else opts.sessions // 3
                    rows[server, n].runs.append(measure(client_loop, server, n, sessions, env))
            print(f"round {round_no + 1}/{opts.rounds} done", flush=True)
    finally:
        for server in servers:
            server.stop()

    header = (
        f"{'server':<22} {'loop':<8} {'N':>3} {'sessions/s':>11} {'per core-s':>11} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'CPU %':>6} {'client %':>8} {'bad':>4}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for n in levels:
        for server in servers:
            row = rows[server, n]
            busy = 100 * statistics.median(r.cpu / r.wall for r in row.runs)
            client = 100 * statistics.median(r.client_cpu / r.wall for r in row.runs)
            print(
                f"{server.name:<22} {server.loop_kind:<8} {n:>3} {row.med('rate'):>11,.0f} "
                f"{row.med('per_core'):>11,.0f} {row.med_pct(0.50):>7.2f} "
                f"{row.med_pct(0.99):>7.2f} {busy:>6.0f} {client:>8.0f} "
                f"{sum(r.bad for r in row.runs):>4}"
            )
    print("\nratios, sessions per server core-second (sessions/s in brackets):")
    pano = {s.loop_kind: s for s in servers if s.impl == "panoramisk"}
    for ours in (s for s in servers if s.impl == "ours"):
        for base in dict.fromkeys([pano["asyncio"], pano[ours.loop_kind]]):
            parts = []
            for n in levels:
                a, b = rows[ours, n], rows[base, n]
                parts.append(
                    f"N={n}: {a.med('per_core') / b.med('per_core'):.2f}x "
                    f"({a.med('rate') / b.med('rate'):.2f}x)"
                )
            print(
                f"  AgiServer on {ours.loop_kind} / panoramisk on {base.loop_kind}: "
                + ", ".join(parts)
            )
    for floor in (s for s in servers if s.impl == "floor"):
        base = pano["asyncio"]
        ceiling = ", ".join(
            f"N={n}: {rows[floor, n].med('per_core') / rows[base, n].med('per_core'):.2f}x"
            for n in levels
        )
        print(f"  the floor on {floor.loop_kind} / panoramisk on asyncio (a ceiling): {ceiling}")
        ours = next(s for s in servers if s.impl == "ours" and s.loop_kind == floor.loop_kind)
        share = ", ".join(
            f"N={n}: {100 * rows[ours, n].med('per_core') / rows[floor, n].med('per_core'):.0f}%"
            for n in levels
        )
        print(f"  AgiServer's sessions per core-second as a share of the floor's: {share}")


if __name__ == "__main__":
    main()
