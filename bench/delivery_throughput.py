"""Delivery throughput: MB/s through the worker (store, hashing, temp name + rename, receipt
check) to a local directory and to S3 (moto server on 127.0.0.1), each next to a baseline
measured in the same run (a plain file copy; a raw boto3 upload_file). Stops by itself.

    .venv/bin/python bench/delivery_throughput.py [--mb 64] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

from pbx_bridge.config.load import load_config
from pbx_bridge.delivery.naming import CallFacts
from pbx_bridge.delivery.queue import submit
from pbx_bridge.delivery.worker import DeliveryWorker
from pbx_bridge.logs import configure_logging
from pbx_bridge.store import open_store


def timed(fn: Callable[[], None], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    configure_logging("error")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto logs every request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="bench", aws_secret_access_key="bench")
    s3.create_bucket(Bucket="bench")
    with tempfile.TemporaryDirectory(prefix="pbx-bench-") as tmp_text:
        tmp = Path(tmp_text)
        source = tmp / "call.wav"
        with source.open("wb") as fh:
            for _ in range(args.mb):
                fh.write(os.urandom(1 << 20))
        (tmp / "key").write_text("bench\n")
        config_path = tmp / "bench.yaml"
        config_path.write_text(f"""system:
  timezone: UTC
  store: sqlite://{tmp}/store.db
delivery_methods:
  - name: disk
    type: local
    directory: {tmp}/out
  - name: s3
    type: s3
    endpoint_url: {endpoint}
    bucket: bench
    access_key: file:{tmp}/key
    secret_key: file:{tmp}/key
""")
        loaded = load_config(config_path)
        assert loaded.ok, loaded.errors
        config = loaded.config
        store = open_store(config.system.store)
        counter = iter(range(10**6))

        def through_worker(method: str) -> Callable[[], None]:
            def run() -> None:
                # A fresh spool copy each run (the worker removes it once delivered);
                # hard-linked so making it costs nothing.
                spool = tmp / f"spool-{next(counter)}.wav"
                os.link(source, spool)
                facts = CallFacts("Bench", str(next(counter)), "", "", datetime.now(UTC))
                [job] = submit(store, config, spool, [method], facts)
                asyncio.run(DeliveryWorker(config, store).run(asyncio.Event(),
                                                              until_settled=True))
                assert store.job(job.id).state == "delivered"  # type: ignore[union-attr]
            return run

        def copy() -> None:
            shutil.copyfile(source, tmp / f"copy-{next(counter)}.wav")

        def raw_s3() -> None:
            s3.upload_file(str(source), "bench", f"raw-{next(counter)}.wav")

        rows = [
            ("baseline: shutil.copyfile", timed(copy, args.runs)),
            ("worker -> local directory", timed(through_worker("disk"), args.runs)),
            ("baseline: raw boto3 upload_file (moto)", timed(raw_s3, args.runs)),
            ("worker -> S3 (moto)", timed(through_worker("s3"), args.runs)),
        ]
        store.close()
    server.stop()
    print(f"{args.mb} MiB file, median of {args.runs} runs")
    for label, seconds in rows:
        print(f"  {label:<42} {args.mb * 1.048576 / seconds:8.1f} MB/s  ({seconds:.3f} s)")


if __name__ == "__main__":
    main()
