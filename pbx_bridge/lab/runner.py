"""Run one real Asterisk from the provisioned root, with a throw-away configuration.

Each run gets its own folder inside the root (`/opt/pbx-bridge/runs/<random>/` as Asterisk sees
it), holding every config file and every directory Asterisk writes to, so runs never share
state and a run folder can be deleted whole. Asterisk runs as the `asterisk` user of the root
(numeric uid/gid from the root's /etc/passwd: the host may give uid 101 another name).

Readiness is event-driven: a thread drains Asterisk's console output (so the pipe never
blocks Asterisk), and the line "Asterisk Ready." tells us the manager is listening; we then
log in to AMI and wait for the `FullyBooted` event. No polling, no sleeps.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import structlog

from pbx_bridge.config.model import Config
from pbx_bridge.lab import asterisk_config as conf
from pbx_bridge.pbx.asterisk.ami_protocol import AmiParser, encode_action

log = structlog.get_logger()

RUNS_DIR = "opt/pbx-bridge/runs"
READY_LINE = "Asterisk Ready."


class LabError(Exception):
    """The lab Asterisk could not be started or driven; the message says why."""


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that is free now (the kernel picks it; a tiny race is accepted)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _passwd_ids(root: Path, user: str) -> tuple[int, int]:
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if len(fields) > 3 and fields[0] == user:
            return int(fields[2]), int(fields[3])
    raise LabError(f"no user {user!r} in {root}/etc/passwd: is Asterisk installed in the root?")


def _modules_dir(root: Path) -> str:
    found = sorted(root.glob("usr/lib/*/asterisk/modules"))
    if not found:
        raise LabError(f"no Asterisk module directory under {root}/usr/lib")
    return "/" + str(found[0].relative_to(root))


class AsteriskLab:
    """One Asterisk process with its own config folder inside the provisioned root."""

    def __init__(
        self,
        root: Path,
        *,
        include_dir: Path | None = None,
        extra_config: Mapping[str, str] | None = None,
        extra_modules: Sequence[str] = (),
        ami_user: str = "pbxbridge",
    ) -> None:
        self.root = root.absolute()
        self.name = secrets.token_hex(4)
        self.layout = conf.RunLayout(f"/{RUNS_DIR}/{self.name}", _modules_dir(self.root))
        self.run_dir = self.host_path(self.layout.run)
        self.uid, self.gid = _passwd_ids(self.root, "asterisk")
        # A caller directory outside the root is invisible to the chrooted Asterisk: copy it.
        self.source_include_dir = include_dir.absolute() if include_dir else None
        self.include_dir = self.host_path(self.layout.include)
        if self.source_include_dir and self.source_include_dir.is_relative_to(self.root):
            self.include_dir = self.source_include_dir
        self.extra_config = dict(extra_config or {})
        self.extra_modules = tuple(extra_modules)
        self.ami_user = ami_user
        self.ami_secret = secrets.token_urlsafe(18)
        self.ami_port = free_port(socket.SOCK_STREAM)
        self.sip_port = free_port(socket.SOCK_DGRAM)
        self.process: subprocess.Popen[bytes] | None = None
        self.ready_seconds: float | None = None
        self._ready_line = threading.Event()
        self._drain: threading.Thread | None = None

    # -- paths ---------------------------------------------------------------------------
    def host_path(self, path_in_root: str) -> Path:
        return self.root / path_in_root.lstrip("/")

    def path_in_root(self, host_path: Path) -> str:
        return "/" + str(host_path.absolute().relative_to(self.root))

    @property
    def recordings_dir(self) -> Path:
        """Where MixMonitor files land, as seen from the host."""
        return self.host_path(self.layout.recordings)

    @property
    def console_log(self) -> Path:
        return self.run_dir / "log" / "console.log"

    @property
    def conf_path(self) -> str:
        return f"{self.layout.etc}/asterisk.conf"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    # -- configuration -------------------------------------------------------------------
    def write_config(self) -> None:
        layout = self.layout
        etc = self.host_path(layout.etc)
        for folder in (etc, self.include_dir, *map(self.host_path, layout.writable)):
            folder.mkdir(parents=True, exist_ok=True)
        include = self.path_in_root(self.include_dir)
        files = {
            "asterisk.conf": conf.asterisk_conf(layout),
            "modules.conf": conf.modules_conf(self.extra_modules),
            "logger.conf": conf.logger_conf(),
            "manager.conf": conf.manager_conf(self.ami_port, self.ami_user, self.ami_secret),
            "pjsip.conf": conf.pjsip_conf(self.sip_port, include),
            "rtp.conf": conf.rtp_conf(),
            **conf.QUIET_FILES,
        }
        indications = self.root / "etc/asterisk/indications.conf"  # from the Debian package
        if indications.is_file():
            files["indications.conf"] = indications.read_text()
        for name in conf.INCLUDED_FILES:
            if name != "pjsip":
                files[f"{name}.conf"] = conf.operator_file(name, include)
        for name, text in self.extra_config.items():
            files[name] = files.get(name, "") + "\n; test-specific\n" + text
        for name, text in files.items():
            (etc / name).write_text(text)
        (etc / "manager.conf").chmod(0o640)  # holds the AMI secret
        os.chown(etc / "manager.conf", 0, self.gid)
        self.sync_includes()
        for folder in layout.writable:
            os.chown(self.host_path(folder), self.uid, self.gid)

    def sync_includes(self) -> None:
        """Make every `<file>_pbx_bridge.conf` present in the include dir Asterisk reads."""
        for name in conf.INCLUDED_FILES:
            target = self.include_dir / f"{name}_pbx_bridge.conf"
            source = self.source_include_dir / target.name if self.source_include_dir else None
            if source is not None and source != target and source.is_file():
                shutil.copyfile(source, target)
            elif not target.exists():
                target.write_text(f"; no {target.name} given: empty on purpose\n")

    def write_include(self, name: str, text: str) -> Path:
        """Write `<name>_pbx_bridge.conf` (e.g. name="extensions") into the include dir."""
        self.include_dir.mkdir(parents=True, exist_ok=True)
        target = self.include_dir / f"{name}_pbx_bridge.conf"
        target.write_text(text)
        return target

    # -- process life --------------------------------------------------------------------
    def _chroot(self, *args: str) -> list[str]:
        return [
            "chroot",
            f"--userspec={self.uid}:{self.gid}",
            f"--groups={self.gid}",
            str(self.root),
            "/usr/sbin/asterisk",
            "-C",
            self.conf_path,
            *args,
        ]

    def start(self, timeout: float = 15.0) -> float:
        """Start Asterisk and return the seconds until AMI reported FullyBooted."""
        if self.process is not None:
            raise LabError("this lab Asterisk is already started")
        self.write_config()
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/var/lib/asterisk", "LANG": "C"}
        started = time.monotonic()
        self.process = subprocess.Popen(
            self._chroot("-f", "-n", "-vvv"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # a Ctrl-C in the terminal must not hit Asterisk first
        )
        self._drain = threading.Thread(target=self._drain_output, name="asterisk-out", daemon=True)
        self._drain.start()
        try:
            if not self._ready_line.wait(timeout):
                raise LabError(f"Asterisk not ready within {timeout} s; see {self.console_log}")
            if self.process.poll() is not None:
                raise LabError(
                    f"Asterisk exited with {self.process.returncode}; see {self.console_log}"
                )
            remaining = max(0.5, timeout - (time.monotonic() - started))
            try:
                self._await_fully_booted(remaining)
            except OSError as exc:
                raise LabError(f"AMI on 127.0.0.1:{self.ami_port}: {exc}") from exc
        except BaseException:
            self.stop()
            raise
        self.ready_seconds = time.monotonic() - started
        log.info("asterisk_ready", run=self.name, seconds=round(self.ready_seconds, 3))
        return self.ready_seconds

    def _drain_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        with self.console_log.open("ab") as out:
            for line in self.process.stdout:
                out.write(line)
                out.flush()
                if READY_LINE.encode() in line:
                    self._ready_line.set()
        # EOF: Asterisk is gone; wake a start() that is still waiting so it fails at once.
        self._ready_line.set()

    def _await_fully_booted(self, timeout: float) -> None:
        """Log in to AMI and block until the FullyBooted event arrives (or time runs out)."""
        deadline = time.monotonic() + timeout
        parser = AmiParser()
        with socket.create_connection(("127.0.0.1", self.ami_port), timeout=timeout) as sock:
            login = {"ActionID": "ready", "Username": self.ami_user, "Secret": self.ami_secret}
            sock.sendall(encode_action("Login", login))
            while True:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    data = sock.recv(65536)
                except TimeoutError as exc:
                    raise LabError(f"no AMI FullyBooted within {timeout:.1f} s") from exc
                if not data:
                    raise LabError("AMI closed the connection during login")
                for message in parser.feed(data):
                    if message.response == "Error":
                        raise LabError(f"AMI login refused: {message.get('Message')}")
                    if message.event == "FullyBooted":
                        with contextlib.suppress(OSError):
                            sock.sendall(encode_action("Logoff", {}))
                        return

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, wait, SIGKILL as a last resort. Returns the exit status (None: not run)."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("asterisk_kill", run=self.name, pid=process.pid)
                process.kill()
                process.wait(timeout)
            seconds = round(time.monotonic() - started, 3)
            log.info("asterisk_stopped", run=self.name, seconds=seconds, rc=process.returncode)
        if self._drain is not None:
            self._drain.join(timeout)
        return process.returncode

    def with_recordings_here(self, config: Config) -> Config:
        """The config as this lab runs it: Asterisk writes recordings into the run folder, so
        the bridge's AMI side (and its spool scan) must look there."""
        if config.system.pbx is None:
            return config
        pbx = dataclasses.replace(config.system.pbx, recordings_dir=self.layout.recordings)
        return dataclasses.replace(config, system=dataclasses.replace(config.system, pbx=pbx))

    def restart(self, timeout: float = 15.0) -> float:
        """Stop Asterisk (its calls end) and start it again on the same ports and files, as an
        operator's restart would; seconds until it is booted again."""
        self.stop()
        self.process = None
        self._ready_line.clear()
        return self.start(timeout)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> AsteriskLab:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- driving a running Asterisk ------------------------------------------------------
    def cli(self, command: str, timeout: float = 10.0) -> str:
        """Run one CLI command through the control socket (`asterisk -rx`); return its output."""
        if not self.alive():
            raise LabError("Asterisk is not running")
        proc = subprocess.run(
            self._chroot("-rx", command),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise LabError(f"asterisk -rx {command!r} failed: {proc.stderr.strip()}")
        return proc.stdout

    def reload(self, modules: Sequence[str] = ()) -> None:
        """Pick up changed include files: `core reload`, or `module reload` of each name."""
        self.sync_includes()
        if not modules:
            self.cli("core reload")
        for module in modules:
            self.cli(f"module reload {module}")

    def remove_run_dir(self) -> None:
        if self.alive():
            raise LabError("stop Asterisk before removing its run folder")
        shutil.rmtree(self.run_dir, ignore_errors=True)
