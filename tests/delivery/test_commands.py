"""`deliver`, `deliveries` and `deliver-test` as an operator runs them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pbx_bridge.cli import main
from tests.delivery import servers
from tests.delivery.conftest import Env, needs_root, secret_file

ARGS = ["--service", "Voicemail", "--src-number", "12025550123", "--src-name", "../../x",
        "--dst-number", "12025559876", "--call-time", "2025-05-07T06:57:38"]


def test_deliver_then_the_log(make_env: Callable[..., Env], recording: Callable[..., Path],
                              tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = make_env(f"""
        - name: disk
          type: local
          directory: {tmp_path}/out/%{{call_year}}
          file_name: "%{{service_name}}-%{{src_number}}-%{{dst_number}}-%{{call_time}}.mp3"
        """)
    source = recording(500)
    assert main(["deliver", str(env.path), str(source), "--method", "disk", *ARGS]) == 0
    out = capsys.readouterr().out
    target = tmp_path / "out/2025/Voicemail-12025550123-12025559876-2025-05-07 06-57-38.mp3"
    assert out.startswith("delivered:") and str(target) in out
    assert target.read_bytes() == source.read_bytes()  # the operator's file is kept
    assert main(["deliveries", str(env.path), "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["status"], row["attempts"], row["remote_name"]) == \
        ("delivered", 1, str(target))
    assert row["log"][0]["size"] == 500


def test_deliver_failing_exits_1_and_the_job_stays_queued(
        make_env: Callable[..., Env], recording: Callable[..., Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = make_env(f"""
        - name: disk
          type: local
          directory: {blocker}/sub
        """)
    source = recording(10)
    assert main(["deliver", str(env.path), str(source), "--method", "disk"]) == 1
    assert "stays queued" in capsys.readouterr().out
    assert main(["deliveries", str(env.path), "--status", "retrying"]) == 0
    listing = capsys.readouterr().out
    assert "#1 retrying" in listing and "last error" in listing
    assert main(["deliveries", str(env.path), "--abandon", "1"]) == 0
    assert "job 1: abandoned" in capsys.readouterr().out
    assert main(["deliveries", str(env.path), "--retry", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])[0]["status"] == "queued"


def test_deliver_refuses_unknown_method_and_missing_file(
        make_env: Callable[..., Env], recording: Callable[..., Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    env = make_env(f"""
        - name: disk
          type: local
          directory: {tmp_path}/out
        """)
    assert main(["deliver", str(env.path), str(recording(1)), "--method", "nope"]) == 1
    assert main(["deliver", str(env.path), str(tmp_path / "none.wav"), "--method", "disk"]) == 1


def test_deliver_test_local_ok_and_failing(make_env: Callable[..., Env], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = make_env(f"""
        - name: good
          type: local
          directory: {tmp_path}/out
        - name: bad
          type: local
          directory: {blocker}/x
        - name: drive
          type: google_drive
        """)
    assert main(["deliver-test", str(env.path), "good"]) == 0
    assert "good: ok: wrote, read back and removed" in capsys.readouterr().out
    assert list((tmp_path / "out").iterdir()) == []
    assert main(["deliver-test", str(env.path), "bad"]) == 1
    assert "bad: failed:" in capsys.readouterr().out
    assert main(["deliver-test", str(env.path), "drive"]) == 1
    assert "not yet supported" in capsys.readouterr().out


@needs_root
def test_deliver_test_sftp_reads_back(sftp_server: servers.Sshd, account: servers.Account,
                                      make_env: Callable[..., Env], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    env = make_env(f"""
        - name: sftp
          type: sftp
          host: 127.0.0.1
          port: {sftp_server.port}
          directory: {sftp_server.root}/t
          username: {account.name}
          password: {secret_file(tmp_path, "p", account.password)}
          known_hosts: {sftp_server.known_hosts}
        """)
    assert main(["deliver-test", str(env.path), "sftp"]) == 0
    assert "read them back, removed it" in capsys.readouterr().out
