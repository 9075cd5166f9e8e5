"""SFTP against OpenSSH sshd: pinned host key, temporary name then posix-rename."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pbx_bridge.delivery.naming import CallFacts
from pbx_bridge.delivery.queue import submit
from tests.delivery import servers
from tests.delivery.conftest import Env, needs_root, secret_file

pytestmark = needs_root
FACTS = CallFacts("Recording", "12025550123", "Alice", "12025559876",
                  datetime(2025, 5, 7, 10, 57, 38, tzinfo=UTC))


def sftp_method(server: servers.Sshd, account: servers.Account, tmp: Path, *,
                known_hosts: Path | None = None, extra: str = "") -> str:
    return f"""
        - name: sftp
          type: sftp
          host: 127.0.0.1
          port: {server.port}
          directory: {server.root}/%{{call_year}}/%{{call_month}}
          username: {account.name}
          password: {secret_file(tmp, "sftp", account.password)}
          known_hosts: {known_hosts or server.known_hosts}
          file_name: "%{{service_name}}-%{{src_number}}-%{{dst_number}}-%{{call_time}}.wav"
        {extra}"""


def test_recording_lands_under_its_pattern_name(
        sftp_server: servers.Sshd, account: servers.Account, make_env: Callable[..., Env],
        recording: Callable[..., Path], tmp_path: Path) -> None:
    env = make_env(sftp_method(sftp_server, account, tmp_path))
    source = recording(2_000_000)
    data = source.read_bytes()
    job = submit(env.store, env.config, source, ["sftp"], FACTS)[0]
    env.run_until_idle()
    done = env.store.job(job.id)
    assert done is not None and done.state == "delivered", done
    target = sftp_server.root / "2025" / "05" / \
        "Recording-12025550123-12025559876-2025-05-07 06-57-38.wav"
    assert target.read_bytes() == data
    assert len(list(target.parent.iterdir())) == 1
    attempt = env.store.attempts(job.id)[-1]
    assert attempt.size == len(data) and attempt.content_hash.startswith("sha256:")


def test_unknown_host_key_is_refused_not_trusted(
        sftp_server: servers.Sshd, account: servers.Account, make_env: Callable[..., Env],
        recording: Callable[..., Path], tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    env = make_env(sftp_method(sftp_server, account, tmp_path, known_hosts=empty))
    source = recording(1000)
    job = submit(env.store, env.config, source, ["sftp"], FACTS)[0]
    [done] = __import__("asyncio").run(env.worker().deliver_now(job.id))
    assert done.state == "retrying"
    assert "known_hosts" in done.last_error
    assert account.password not in done.last_error
    assert source.exists()
