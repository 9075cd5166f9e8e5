"""A backend down, then up: the worker keeps retrying with back-off, delivers after recovery,
and every attempt is in the log."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pbx_bridge.delivery.naming import CallFacts
from pbx_bridge.delivery.queue import submit
from tests.delivery import servers
from tests.delivery.conftest import Env, needs_root, secret_file

pytestmark = needs_root


def test_ftp_down_then_up_is_delivered_after_recovery(
        account: servers.Account, tls: servers.Tls, work: Path, make_env: Callable[..., Env],
        recording: Callable[..., Path], tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    server = servers.vsftpd(account, tls, work)  # configured, not started: nothing listens
    request.addfinalizer(server.remove_folders)
    env = make_env(f"""
        - name: ftp
          type: ftp
          host: 127.0.0.1
          port: {server.port}
          directory: {server.root}
          username: {account.name}
          password: {secret_file(tmp_path, "ftp", account.password)}
          file_name: "%{{src_number}}-%{{call_time}}"
          retry: "0.1s..0.4s for 1h"
        """)
    source = recording(50_000)
    data = source.read_bytes()
    facts = CallFacts("Recording", "12025550123", "", "1", datetime(2025, 5, 7, tzinfo=UTC))
    job = submit(env.store, env.config, source, ["ftp"], facts)[0]

    stop_loop: list[Callable[[], None]] = []
    worker = env.worker()

    def run() -> None:
        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            stop_loop.append(lambda: loop.call_soon_threadsafe(stop.set))
            await worker.run(stop)
        asyncio.run(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        servers.wait_until(lambda: env.store.job(job.id).attempts >= 3,  # type: ignore[union-attr]
                           what="three failed attempts")
        assert env.store.job(job.id).state == "retrying"  # type: ignore[union-attr]
        server.start()
        servers.wait_until(lambda: env.store.job(job.id).state == "delivered",  # type: ignore[union-attr]
                           what="delivery after recovery")
    finally:
        servers.wait_until(lambda: bool(stop_loop), what="the worker loop")
        stop_loop[0]()
        thread.join(10)
        server.stop()
    attempts = env.store.attempts(job.id)
    assert [a.outcome for a in attempts[:-1]] == ["failed"] * (len(attempts) - 1)
    assert attempts[-1].outcome == "delivered"
    assert all("Connection refused" in a.error for a in attempts[:-1])
    # back-off: the pauses between failed attempts grow (0.1 s, 0.2 s, 0.4 s, with jitter)
    assert attempts[1].started - attempts[0].finished >= 0.08
    assert (server.root / "12025550123-2025-05-06 20-00-00.wav").read_bytes() == data
