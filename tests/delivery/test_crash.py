"""A delivery process killed with SIGKILL mid-upload, then restarted: the file arrives exactly
once under its final name, and nobody sees a partial file under that name meanwhile."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.delivery import servers
from tests.delivery.conftest import Env, needs_root, secret_file

pytestmark = needs_root
BIN = Path(sys.executable).parent / "pbx-bridge"
FINAL = "Recording-12025550123-12025559876-2025-05-07 06-57-38.wav"


def deliver(env: Env) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN), "deliver", str(env.path), str(env.tmp / "spool" / "big.wav"),
         "--method", "sftp", "--src-number", "12025550123", "--dst-number", "12025559876",
         "--call-time", "2025-05-07T10:57:38Z"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_kill_9_mid_upload_then_restart_delivers_exactly_once(
        sftp_server: servers.Sshd, account: servers.Account, make_env: Callable[..., Env],
        recording: Callable[..., Path], tmp_path: Path) -> None:
    gate = servers.Gate(sftp_server.port, hold_after=3 << 20)  # stall after ~3 MB
    folder = sftp_server.root / "crash"
    try:
        env = make_env(f"""
            - name: sftp
              type: sftp
              host: 127.0.0.1
              port: {gate.port}
              directory: {folder}
              username: {account.name}
              password: {secret_file(tmp_path, "sftp", account.password)}
              known_hosts: {tmp_path / "known_hosts"}
              file_name: "%{{service_name}}-%{{src_number}}-%{{dst_number}}-%{{call_time}}.wav"
            """)
        # The gate listens on its own port: pin the server's key under that port.
        key = sftp_server.known_hosts.read_text().split(" ", 1)[1]
        (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{gate.port} {key}")
        source = recording(12 << 20, "big.wav")
        data = source.read_bytes()

        first = deliver(env)
        assert gate.held.wait(60), "the upload never reached the gate"
        servers.wait_until(lambda: any(folder.glob(".*.part")), what="the temporary file")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        assert first.returncode == -signal.SIGKILL
        # Meanwhile: only the hidden temporary exists, never a partial file under the name.
        assert not (folder / FINAL).exists()
        partial = list(folder.glob(".*.part"))
        assert len(partial) == 1 and partial[0].stat().st_size < len(data)

        gate.hold_after = None  # the link recovers
        second = deliver(env)
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, (out, err)
        assert f"as {folder / FINAL}" in out
    finally:
        gate.close()
    assert sorted(p.name for p in folder.iterdir()) == [FINAL]  # once, no leftovers
    assert (folder / FINAL).read_bytes() == data
    log = json.loads(subprocess.run([str(BIN), "deliveries", str(env.path), "--json"],
                                    capture_output=True, text=True, check=True).stdout)
    [job] = log
    assert job["status"] == "delivered"
    assert [a["outcome"] for a in job["log"]] == ["failed", "delivered"]
    assert "interrupted" in job["log"][0]["error"]
