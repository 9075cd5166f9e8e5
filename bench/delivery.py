"""Delivery: the bridge's path against the raw client libraries, on the same servers, same run.

Servers (all on 127.0.0.1, started by the test suite's own starters in tests/delivery/servers.py,
moto in a process of its own, all stopped at the end): vsftpd, OpenSSH sshd (internal-sftp),
moto's S3 server, and a local directory. The bridge runs as in the service: one long-running
worker (its backends, and so its S3 client, kept), files submitted to the store's queue.

1. Throughput: one file (`--mb`, default 64 MB) uploaded by the raw client used directly
   (shutil.copy, ftplib storbinary, paramiko sftp.put, boto3 upload_file) and through the
   bridge (the job queued in the store; the worker hashes the file, uploads under a temporary
   name + rename, or S3 multipart, checks the receipt against the file, records the attempt,
   removes the spool file). Runs rotate the order; the median of `--runs` is printed, with the
   ratio, the client process's CPU time, and (diagnostic only) the ratio with the SHA-256 the
   bridge records for every file replaced by a constant.
2. Peak memory: the bridge delivers a 20, 100 and 200 MB file to each backend, each in a fresh
   process after one small warm-up delivery; printed is the peak RSS once warmed up, its growth
   during the upload, and tracemalloc's peak. It must not grow with the file.
3. Small files: 1,000 recordings of 8-50 KB submitted as jobs and delivered by the worker to the
   local directory and to S3, against plain copies / a boto3 put_object loop of the same files.

    .venv/bin/python bench/delivery.py [--mb 64] [--runs 7] [--small 1000] [--skip-memory]

Needs root: vsftpd and sshd check a real system account (`pbxbench`, made once, as the tests
make theirs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ftplib
import functools
import json
import logging
import os
import pwd
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pbx_bridge.config.load import load_config  # noqa: E402
from pbx_bridge.config.model import Config  # noqa: E402
from pbx_bridge.delivery.backends import Backend, LocalFile, backend_for  # noqa: E402
from pbx_bridge.delivery.naming import CallFacts  # noqa: E402
from pbx_bridge.delivery.queue import submit  # noqa: E402
from pbx_bridge.delivery.worker import DeliveryWorker  # noqa: E402
from pbx_bridge.logs import configure_logging  # noqa: E402
from pbx_bridge.store import Job, Store, open_store  # noqa: E402

MB = 1_000_000
BUCKET = "bench"
_counter = iter(range(1, 10**9))


def unique() -> str:
    return f"{os.getpid()}-{next(_counter)}"


def write_random(path: Path, size: int, header: bytes = b"") -> Path:
    with path.open("wb") as fh:
        fh.write(header)
        left = size - len(header)
        while left > 0:
            block = min(left, 1 << 20)
            fh.write(os.urandom(block))
            left -= block
    return path


def config_text(store: Path, methods: list[str]) -> str:
    return "\n".join(["system:", "  name: Bench", "  timezone: UTC",
                      f"  store: sqlite://{store}", "delivery_methods:", *methods, ""])


def run_jobs(config: Config, store: Store, files: list[Path], method: str,
             backends: dict[str, Backend] | None = None) -> float:
    """Submit one job per file and run a worker until every job is settled; returns seconds.
    `backends`: kept from one run to the next, as in a long-running worker (an S3 client,
    for one, is made once)."""
    start = time.perf_counter()
    jobs = []
    for path in files:
        facts = CallFacts("Bench", unique(), "", "", datetime.now(UTC))
        jobs += submit(store, config, path, [method], facts)
    worker = DeliveryWorker(config, store, poll_seconds=0.05, backends=backends)
    asyncio.run(asyncio.wait_for(worker.run(asyncio.Event(), until_settled=True), 300))
    seconds = time.perf_counter() - start
    for job in jobs:
        now = store.job(job.id)
        assert now is not None
        if now.state != "delivered":
            raise RuntimeError(f"{method}: job {job.id} {now.state}: {now.last_error}")
    return seconds


class _Reporting(DeliveryWorker):
    """The worker, telling the bench when each attempt is concluded (recorded in the store,
    and the spool file removed if it was the last method), so the bench needs no polling."""

    concluded: Callable[[Job], None]

    def _conclude(self, job: Job, *args: Any) -> Job:
        done = super()._conclude(job, *args)
        self.concluded(done)
        return done


class Worker:
    """A long-running worker on a thread of its own, as in the service: files are submitted,
    the worker is woken, and the caller waits until their jobs are concluded."""

    def __init__(self, config: Config, store: Store, backends: dict[str, Backend]) -> None:
        self.config, self.store = config, store
        self.loop = asyncio.new_event_loop()
        self.done: dict[int, Job] = {}
        self.changed = threading.Condition()
        ready = threading.Event()

        def main() -> None:
            asyncio.set_event_loop(self.loop)
            self.stop = asyncio.Event()
            self.worker = _Reporting(config, store, poll_seconds=0.05, backends=backends)
            self.worker.concluded = self._concluded
            ready.set()
            self.loop.run_until_complete(self.worker.run(self.stop))

        self.thread = threading.Thread(target=main, daemon=True, name="bench-worker")
        self.thread.start()
        ready.wait()

    def _concluded(self, job: Job) -> None:
        with self.changed:
            self.done[job.id] = job
            self.changed.notify_all()

    def deliver(self, files: list[Path], method: str) -> float:
        """Seconds from submitting `files` to every job delivered and its file removed."""
        start = time.perf_counter()
        jobs = []
        for path in files:
            facts = CallFacts("Bench", unique(), "", "", datetime.now(UTC))
            jobs += submit(self.store, self.config, path, [method], facts)
        self.loop.call_soon_threadsafe(self.worker.wake)
        with self.changed:
            for job in jobs:
                if not self.changed.wait_for(lambda job=job: job.id in self.done, timeout=300):
                    raise RuntimeError(f"{method}: job {job.id} not done after 300 s")
                # A failed attempt means the bench is broken: stop, don't wait for retries.
                done = self.done.pop(job.id)
                if done.state != "delivered":
                    raise RuntimeError(f"{method}: job {job.id} {done.state}: "
                                       f"{done.last_error}")
        return time.perf_counter() - start

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(timeout=60)
        self.loop.close()


# -- the lab: servers and a config pointing at them ----------------------------------------------
@dataclass
class Lab:
    tmp: Path
    config_path: Path
    config: Config
    store: Store
    ftp_port: int
    ftp_root: Path
    sftp_port: int
    sftp_root: Path
    known_hosts: Path
    user: str
    password: str
    s3: Any  # a boto3 client (the raw one)
    worker: Worker

    def out(self, method: str) -> Path:
        """Where the bridge's uploads for `method` land, as a local path."""
        return {"disk": self.tmp / "out", "ftp": self.ftp_root / "bridge",
                "sftp": self.sftp_root / "bridge"}[method]


BENCH_USER = "pbxbench"


def bench_account(servers: Any) -> Any:
    """A system account of the bench's own (vsftpd and sshd check real passwords), made once
    like the test suite's; not the test suite's own, whose password each test run resets."""
    try:
        pwd.getpwnam(BENCH_USER)
    except KeyError:
        subprocess.run(["useradd", "-m", "-d", f"/var/lib/{BENCH_USER}", "-s", "/bin/sh",
                        BENCH_USER], check=True)
    password = secrets.token_urlsafe(16)
    subprocess.run(["chpasswd"], input=f"{BENCH_USER}:{password}".encode(), check=True)
    entry = pwd.getpwnam(BENCH_USER)
    Path(entry.pw_dir).mkdir(parents=True, exist_ok=True)
    return servers.Account(BENCH_USER, password, entry.pw_uid, entry.pw_gid)


@contextlib.contextmanager
def lab() -> Iterator[Lab]:
    import boto3

    from tests.delivery import servers

    if os.geteuid() != 0:
        sys.exit("bench/delivery.py needs root: vsftpd and sshd check a real system account")
    with contextlib.ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="pbx-bench-"))
        stack.callback(shutil.rmtree, tmp, True)
        account = bench_account(servers)
        tls = servers.make_tls(tmp)  # vsftpd's config names a certificate (plain FTP is used)
        ftp = servers.vsftpd(account, tls, tmp)
        stack.callback(shutil.rmtree, ftp.root, True)
        stack.callback(shutil.rmtree, ftp.anon_incoming.parent, True)
        ftp.start()
        stack.callback(ftp.remove_folders)
        stack.callback(ftp.stop)
        sshd = servers.sshd(account, tmp)
        stack.callback(shutil.rmtree, sshd.root, True)
        stack.callback(sshd.remove_folders)
        stack.callback(servers.stop, sshd.proc)
        # moto in a process of its own (the tests run it in a thread): in this process it
        # would share the GIL with the client being measured.
        port = servers.free_port()
        log = tmp / "moto.log"
        moto = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H",
                                 "127.0.0.1", "-p", str(port)], stdout=log.open("ab"),
                                stderr=subprocess.STDOUT)
        stack.callback(servers.stop, moto)
        servers.wait_for_banner(port, moto, log)
        endpoint = f"http://127.0.0.1:{port}"
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench")
        s3.create_bucket(Bucket=BUCKET)

        secret = tmp / "secret-password"
        secret.write_text(account.password + "\n")
        secret.chmod(0o600)
        (tmp / "secret-s3").write_text("bench\n")
        (tmp / "secret-s3").chmod(0o600)
        name = '    file_name: "%{src_number}.wav"'
        methods = [
            "  - name: disk", "    type: local", f"    directory: {tmp}/out", name,
            "  - name: ftp", "    type: ftp", "    host: 127.0.0.1", f"    port: {ftp.port}",
            f"    directory: {ftp.root}/bridge", f"    username: {account.name}",
            f"    password: file:{secret}", name,
            "  - name: sftp", "    type: sftp", "    host: 127.0.0.1", f"    port: {sshd.port}",
            f"    directory: {sshd.root}/bridge", f"    username: {account.name}",
            f"    password: file:{secret}", f"    known_hosts: {sshd.known_hosts}", name,
            "  - name: s3", "    type: s3", f"    endpoint_url: {endpoint}",
            f"    bucket: {BUCKET}", "    prefix: bridge/", f"    access_key: file:{tmp}/secret-s3",
            f"    secret_key: file:{tmp}/secret-s3", name,
        ]
        config_path = tmp / "bench.yaml"
        config_path.write_text(config_text(tmp / "store.db", methods))
        # The memory runs' processes get a store of their own: the long-running worker here
        # must not take their jobs.
        (tmp / "child.yaml").write_text(config_text(tmp / "child-store.db", methods))
        loaded = load_config(config_path)
        if not loaded.ok:
            raise RuntimeError([str(p) for p in loaded.errors])
        store = open_store(loaded.config.system.store)
        stack.callback(store.close)
        backends = {m.name: backend_for(m, loaded.config) for m in loaded.config.delivery_methods}
        worker = Worker(loaded.config, store, backends)
        stack.callback(worker.close)
        yield Lab(tmp, config_path, loaded.config, store, ftp.port, ftp.root, sshd.port,
                  sshd.root, sshd.known_hosts, account.name, account.password, s3, worker)


# -- the raw clients, used directly --------------------------------------------------------------
def raw_local(lab: Lab, source: Path) -> None:
    target = lab.tmp / "raw-out"
    target.mkdir(exist_ok=True)
    shutil.copy(source, target / f"{unique()}.wav")


def raw_local_fsync(lab: Lab, source: Path) -> None:
    target = lab.tmp / "raw-out"
    target.mkdir(exist_ok=True)
    path = Path(shutil.copy(source, target / f"{unique()}.wav"))
    fd = os.open(path, os.O_WRONLY)
    os.fsync(fd)
    os.close(fd)


def raw_ftp(lab: Lab, source: Path) -> None:
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", lab.ftp_port, timeout=30)
    ftp.login(lab.user, lab.password)
    with source.open("rb") as fh:
        ftp.storbinary(f"STOR {lab.ftp_root}/raw-{unique()}.wav", fh)
    ftp.quit()


def raw_sftp(lab: Lab, source: Path) -> None:
    import paramiko

    client = paramiko.SSHClient()
    client.load_host_keys(str(lab.known_hosts))
    client.connect("127.0.0.1", port=lab.sftp_port, username=lab.user, password=lab.password,
                   look_for_keys=False, allow_agent=False)
    try:
        sftp = client.open_sftp()
        sftp.put(str(source), f"{lab.sftp_root}/raw-{unique()}.wav")
    finally:
        client.close()


def raw_s3(lab: Lab, source: Path) -> None:
    lab.s3.upload_file(str(source), BUCKET, f"raw/{unique()}.wav")


def cleanup(lab: Lab) -> None:
    """Remove what the uploads left (disk space, and moto keeps objects in memory)."""
    for folder in (lab.tmp / "raw-out", lab.out("disk"), lab.out("ftp"), lab.out("sftp")):
        if folder.exists():
            for path in folder.iterdir():
                path.unlink()
    for root in (lab.ftp_root, lab.sftp_root):
        for path in root.glob("raw-*"):
            path.unlink()
    for prefix in ("raw/", "bridge/"):
        while True:
            listed = lab.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
            if not listed:
                break
            lab.s3.delete_objects(Bucket=BUCKET, Delete={
                "Objects": [{"Key": o["Key"]} for o in listed]})


# -- 1. throughput ---------------------------------------------------------------------------------
BACKENDS = [
    ("local directory", "disk", [("shutil.copy (page cache only)", raw_local),
                                 ("shutil.copy + os.fsync (durable, as the bridge)",
                                  raw_local_fsync)]),
    ("FTP (vsftpd)", "ftp", [("ftplib storbinary", raw_ftp)]),
    ("SFTP (OpenSSH)", "sftp", [("paramiko sftp.put", raw_sftp)]),
    ("S3 (moto)", "s3", [("boto3 upload_file", raw_s3)]),
]


@contextlib.contextmanager
def sha256_skipped() -> Iterator[None]:
    """Diagnostic only: the bridge with the file's SHA-256 replaced by a constant, to show
    what the one thing the raw clients do not do costs."""
    real = LocalFile.__dict__["open"]
    LocalFile.open = staticmethod(  # type: ignore[method-assign]
        lambda path: LocalFile(path, path.stat().st_size, "0" * 64, None, "audio/x-wav"))
    try:
        yield
    finally:
        LocalFile.open = real  # type: ignore[method-assign]


def throughput(lab: Lab, mb: int, runs: int, only: set[str]) -> list[tuple[str, ...]]:
    source = write_random(lab.tmp / "big.wav", mb * MB, b"RIFF")
    rows = []
    for label, method, raws in BACKENDS:
        if only and method not in only:
            continue

        def bridge(method: str = method) -> None:
            spool = lab.tmp / "spool" / f"{unique()}.wav"
            spool.parent.mkdir(exist_ok=True)
            os.link(source, spool)  # the worker removes its spool file once delivered
            lab.worker.deliver([spool], method)

        def no_sha(bridge: Callable[[], None] = bridge) -> None:
            with sha256_skipped():
                bridge()

        variants: list[tuple[str, Callable[[], None]]] = [
            *((name, functools.partial(fn, lab, source)) for name, fn in raws),
            ("bridge", bridge), ("no-sha", no_sha)]
        times: dict[str, list[float]] = {name: [] for name, _ in variants}
        cpu: dict[str, list[float]] = {name: [] for name, _ in variants}
        for _, fn in variants:  # warm-up: imports, first connections, page cache
            fn()
        cleanup(lab)
        for i in range(runs):
            for name, fn in variants[i % len(variants):] + variants[:i % len(variants)]:
                start, start_cpu = time.perf_counter(), time.process_time()
                fn()
                times[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - start_cpu)  # this process, all threads
            cleanup(lab)
        speed = {name: mb / statistics.median(t) for name, t in times.items()}
        used = {name: statistics.median(t) for name, t in cpu.items()}
        for name, _ in raws:
            rows.append((label, name, f"{speed[name]:.0f}", f"{speed['bridge']:.0f}",
                         f"**{speed['bridge'] / speed[name]:.2f}x**",
                         f"{speed['no-sha'] / speed[name]:.2f}x",
                         f"{used[name] * 1000:.0f} / {used['bridge'] * 1000:.0f} ms"))
        detail = "; ".join(f"{k} " + "/".join(f"{t:.3f}" for t in v) for k, v in times.items())
        print(f"  {label}: " + ", ".join(f"{k} {v:.0f} MB/s" for k, v in speed.items())
              + f"\n    seconds: {detail}", flush=True)
    source.unlink()
    return rows


# -- 2. peak memory, each upload in a fresh process ------------------------------------------------
def _hwm_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def child(config_path: str, method: str, file: str) -> None:
    """Run in a fresh process: deliver `file` once through the bridge, print the memory used
    (peak RSS, from /proc/self/status VmHWM, once warmed up and after; tracemalloc's peak)."""
    import tracemalloc

    configure_logging("error")
    config = load_config(Path(config_path)).config
    store = open_store(config.system.store)
    # Warm up: load every client library, and deliver one small file the same way.
    backends = {m.name: backend_for(m, config) for m in config.delivery_methods}
    warm = write_random(Path(file).with_name(f"warm-{unique()}.wav"), 100_000, b"RIFF")
    run_jobs(config, store, [warm], method, backends)
    ready = _hwm_kib()
    tracemalloc.start()
    spool = Path(file)
    start = time.perf_counter()
    seconds = run_jobs(config, store, [spool], method, backends)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({"ready_kib": ready, "peak_kib": _hwm_kib(), "traced_peak": traced_peak,
                      "seconds": seconds or time.perf_counter() - start}))
    store.close()


def memory(lab: Lab, sizes: list[int], only: set[str]) -> list[tuple[str, ...]]:
    sources = {mb: write_random(lab.tmp / f"mem-{mb}.wav", mb * MB, b"RIFF") for mb in sizes}
    rows = []
    for label, method, _ in BACKENDS:
        if only and method not in only:
            continue
        cells = [label]
        for mb in sizes:
            spool = lab.tmp / "spool" / f"mem-{unique()}.wav"
            spool.parent.mkdir(exist_ok=True)
            os.link(sources[mb], spool)
            done = subprocess.run([sys.executable, __file__, "--child", str(lab.tmp / "child.yaml"),
                                   method, str(spool)], capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"{method}, {mb} MB: {done.stderr[-3000:]}")
            out = done.stdout
            data = json.loads(out.strip().splitlines()[-1])
            grown = (data["peak_kib"] - data["ready_kib"]) / 1024
            cells.append(f"{data['ready_kib'] / 1024:.0f} + {grown:.1f} MiB "
                         f"(traced {data['traced_peak'] / (1 << 20):.1f} MiB)")
            cleanup(lab)
        rows.append(tuple(cells))
        print(f"  {' | '.join(cells)}", flush=True)
    for path in sources.values():
        path.unlink()
    return rows


# -- 3. many small files ------------------------------------------------------------------------
def small_files(lab: Lab, count: int, with_s3: bool) -> list[tuple[str, ...]]:
    rng = random.Random(7)
    folder = lab.tmp / "small"
    folder.mkdir()
    files = [write_random(folder / f"rec-{i:04d}.wav", rng.randint(8_000, 50_000), b"RIFF")
             for i in range(count)]
    total_mb = sum(f.stat().st_size for f in files) / MB
    rows = []

    def timed(fn: Callable[[], None]) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    def copies(durable: bool) -> Callable[[], None]:
        def run() -> None:
            target = lab.tmp / f"copies-{unique()}"
            target.mkdir()
            for f in files:
                shutil.copy(f, target / f.name)
                if durable:
                    fd = os.open(target / f.name, os.O_RDONLY)
                    os.fsync(fd)
                    os.close(fd)
            shutil.rmtree(target)
        return run

    def bridge(method: str) -> Callable[[], None]:
        def run() -> None:
            spool = lab.tmp / f"spool-{unique()}"
            spool.mkdir()
            links = []
            for f in files:
                os.link(f, spool / f.name)
                links.append(spool / f.name)
            lab.worker.deliver(links, method)
            spool.rmdir()  # the worker removed every delivered file
            cleanup(lab)
        return run

    def boto_loop() -> None:
        for f in files:
            with f.open("rb") as body:
                lab.s3.put_object(Bucket=BUCKET, Key=f"raw/{unique()}.wav", Body=body)
        cleanup(lab)

    plain = timed(copies(False))
    durable = timed(copies(True))
    disk = timed(bridge("disk"))
    rows.append(("local directory", f"shutil.copy {count / plain:.0f}/s; "
                 f"copy + fsync {count / durable:.0f}/s", f"{count / disk:.0f}/s",
                 f"{plain / disk:.2f}x; {durable / disk:.2f}x"))
    print(f"  {' | '.join(rows[-1])}", flush=True)
    if with_s3:
        raw = timed(boto_loop)
        s3 = timed(bridge("s3"))
        rows.append(("S3 (moto)", f"boto3 put_object loop {count / raw:.0f}/s",
                     f"{count / s3:.0f}/s", f"{raw / s3:.2f}x"))
        print(f"  {' | '.join(rows[-1])}", flush=True)
    shutil.rmtree(folder)
    print(f"  ({count} files, {total_mb:.1f} MB in all)")
    return rows


def table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(*sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=64, help="throughput file size (MB)")
    parser.add_argument("--runs", type=int, default=7, help="runs per figure (median)")
    parser.add_argument("--small", type=int, default=1000, help="number of small files")
    parser.add_argument("--memory-mb", default="20,100,200", help="file sizes for peak memory")
    parser.add_argument("--only", default="", help="backends: disk,ftp,sftp,s3 (default all)")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-small", action="store_true")
    parser.add_argument("--no-small-s3", action="store_true")
    args = parser.parse_args()
    only = {m for m in args.only.split(",") if m}
    configure_logging("error")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto logs every request
    began = time.perf_counter()
    with lab() as the_lab:
        speed: list[tuple[str, ...]] = []
        if not args.skip_speed:
            print(f"Throughput, {args.mb} MB file, median of {args.runs} runs:", flush=True)
            speed = throughput(the_lab, args.mb, args.runs, only)
        mem: list[tuple[str, ...]] = []
        sizes = [int(s) for s in args.memory_mb.split(",") if s]
        if not args.skip_memory:
            print("Peak memory through the bridge, a fresh process per upload:", flush=True)
            mem = memory(the_lab, sizes, only)
        small: list[tuple[str, ...]] = []
        if not args.skip_small:
            print(f"{args.small} small files (8-50 KB):", flush=True)
            small = small_files(the_lab, args.small, not args.no_small_s3)
    if speed:
        print()
        print(f"Throughput, {args.mb} MB file, median of {args.runs} runs (MB = 10^6 bytes; "
              "ratio = bridge / raw)")
        print(table(("backend", "raw client", "raw MB/s", "bridge MB/s", "ratio",
                     "ratio with SHA-256 skipped (diagnostic)", "client CPU raw / bridge"),
                    speed))
    if mem:
        print()
        print("Peak memory of a fresh process delivering one file through the bridge: RSS once "
              "the libraries are loaded + growth of peak RSS during the upload (tracemalloc peak)")
        print(table(("backend", *(f"{mb} MB file" for mb in sizes)), mem))
    if small:
        print()
        print(f"{args.small} small files (8-50 KB) submitted and delivered by the worker")
        print(table(("backend", "baseline in the same run", "bridge", "ratio"), small))
    print(f"\n(whole bench {time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
