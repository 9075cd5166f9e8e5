"""FTP against vsftpd: passive, active, anonymous, explicit TLS with session reuse."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pbx_bridge.delivery.naming import CallFacts
from pbx_bridge.delivery.queue import submit
from tests.delivery import servers
from tests.delivery.conftest import Env, needs_root, secret_file

pytestmark = needs_root
FACTS = CallFacts("Voicemail", "12025550123", "Alice", "12025559876",
                  datetime(2025, 5, 7, 10, 57, 38, tzinfo=UTC))
NAME = "Voicemail-12025550123-12025559876-2025-05-07 06-57-38.wav"


@pytest.mark.parametrize(("use_tls", "passive"), [(False, True), (False, False), (True, True)],
                         ids=["plain-passive", "plain-active", "tls-passive"])
def test_recording_lands_under_its_pattern_name(
        use_tls: bool, passive: bool, ftp_server: servers.Vsftpd, account: servers.Account,
        make_env: Callable[..., Env], recording: Callable[..., Path],
        trust_test_ca: servers.Tls, tmp_path: Path) -> None:
    folder = ftp_server.root / f"{'tls' if use_tls else 'plain'}-{passive}"
    env = make_env(f"""
        - name: ftp
          type: ftp
          host: 127.0.0.1
          port: {ftp_server.port}
          directory: {folder}/%{{call_year}}/%{{call_month}}
          username: {account.name}
          password: {secret_file(tmp_path, "ftp", account.password)}
          passive_mode: {str(passive).lower()}
          tls: {str(use_tls).lower()}
          file_name: "%{{service_name}}-%{{src_number}}-%{{dst_number}}-%{{call_time}}"
        """)
    source = recording(300_000)
    data = source.read_bytes()
    job = submit(env.store, env.config, source, ["ftp"], FACTS)[0]
    env.run_until_idle()
    done = env.store.job(job.id)
    assert done is not None and done.state == "delivered", done
    target = folder / "2025" / "05" / NAME
    assert target.read_bytes() == data
    assert [p.name for p in target.parent.iterdir()] == [NAME]  # no temporary left behind
    assert not source.exists()  # every method has it: the spool copy goes


def test_anonymous_upload(ftp_server: servers.Vsftpd, make_env: Callable[..., Env],
                          recording: Callable[..., Path]) -> None:
    env = make_env(f"""
        - name: anon
          type: ftp
          host: 127.0.0.1
          port: {ftp_server.port}
          directory: /incoming
          anonymous: true
          file_name: "%{{call_time}}-%{{src_number}}"
        """)
    source = recording(1000)
    data = source.read_bytes()
    submit(env.store, env.config, source, ["anon"], FACTS)
    env.run_until_idle()
    assert (ftp_server.anon_incoming / "2025-05-07 06-57-38-12025550123.wav").read_bytes() == data
