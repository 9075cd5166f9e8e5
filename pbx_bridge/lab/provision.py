"""Provision a cached Debian-sid root holding Asterisk 22, for the lab runner and the tests.

Why a debootstrap root and not the host's Asterisk: the host is Debian 12 (Asterisk is not in
bookworm), and a chroot keeps the Asterisk files away from the host. `chroot ROOT asterisk`
shares the host's loopback, so SIP, AMI and FastAGI all talk over 127.0.0.1.

The root is built in a temporary sibling directory and renamed into place only once complete,
so an interrupted run leaves either nothing or a stale `.partial` directory that the next run
removes. A marker file (JSON, with the Asterisk version) says the root is complete.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

MARKER_NAME = ".pbx-bridge-lab.json"
MARKER_FORMAT = 1
ROOT_ENV = "PBX_BRIDGE_LAB_ROOT"
HOST_PACKAGES = ("debootstrap", "sip-tester")
ROOT_PACKAGES = ("asterisk", "asterisk-modules")
SUITE = "sid"
# The sid Release file is often past its Valid-Until in this environment's mirror snapshot.
APT_OPTS = ("-o", "Acquire::Check-Valid-Until=false")
PARTIAL_SUFFIX = ".partial-"

Say = Callable[[str], None]


class ProvisionError(Exception):
    """A provisioning step failed; the message is one line meant for the operator."""


@dataclass(frozen=True)
class ProvisionResult:
    root: Path
    asterisk_version: str
    reused: bool
    seconds: float
    steps: tuple[tuple[str, float], ...]


def default_root() -> Path:
    env = os.environ.get(ROOT_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "pbx-bridge" / "asterisk-root"


def read_marker(root: Path) -> dict[str, object] | None:
    """The completion marker of `root`, or None when the root is absent or incomplete."""
    try:
        data = json.loads((root / MARKER_NAME).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != MARKER_FORMAT:
        return None
    if not isinstance(data.get("asterisk_version"), str):
        return None
    # A marker without the binary means someone pruned the tree: treat as incomplete.
    if not (root / "usr/sbin/asterisk").is_file():
        return None
    return data


def write_marker(root: Path, asterisk_version: str) -> None:
    data = {
        "format": MARKER_FORMAT,
        "asterisk_version": asterisk_version,
        "suite": SUITE,
        "packages": list(ROOT_PACKAGES),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    tmp = root / (MARKER_NAME + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.rename(root / MARKER_NAME)


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below `path`: never delete a tree that still has /proc or /dev bound."""
    prefix = str(path.resolve())
    found: list[str] = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        fields = line.split()
        if len(fields) > 4:
            mount_point = fields[4].replace("\\040", " ")
            if mount_point == prefix or mount_point.startswith(prefix + "/"):
                found.append(mount_point)
    return found


def remove_tree(path: Path) -> None:
    mounted = mounts_under(path)
    if mounted:
        raise ProvisionError(f"refusing to delete {path}: still mounted: {', '.join(mounted)}")
    shutil.rmtree(path)


def stale_partials(root: Path) -> list[Path]:
    """Temporary build directories left by an interrupted provision of `root`."""
    parent = root.parent
    if not parent.is_dir():
        return []
    return sorted(parent.glob(f".{root.name}{PARTIAL_SUFFIX}*"))


def _run(cmd: Sequence[str], what: str, env: dict[str, str] | None = None) -> str:
    """Run one step in its own process group, so an interruption stops all of it.

    debootstrap and apt-get start children (dpkg, http fetchers); killing only the direct
    child would leave them writing into a directory the next run deletes.
    """
    try:
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as exc:
        raise ProvisionError(f"{what}: cannot run {cmd[0]}: {exc}") from exc
    try:
        stdout, stderr = proc.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    if proc.returncode != 0:
        tail = (stderr or stdout).strip().splitlines()[-3:]
        raise ProvisionError(f"{what} failed (exit {proc.returncode}): {' | '.join(tail)}")
    return stdout


def _apt_env() -> dict[str, str]:
    return {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}


def missing_host_packages(packages: Sequence[str] = HOST_PACKAGES) -> list[str]:
    missing = []
    for package in packages:
        proc = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or "install ok installed" not in proc.stdout:
            missing.append(package)
    return missing


def ensure_host_packages(say: Say) -> list[str]:
    missing = missing_host_packages()
    if missing:
        say(f"installing host packages: {' '.join(missing)}")
        _run(["apt-get", "update", "-q"], "apt-get update (host)", _apt_env())
        _run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
            "apt-get install (host)",
            _apt_env(),
        )
    return missing


def asterisk_version(root: Path) -> str:
    out = _run(["chroot", str(root), "/usr/sbin/asterisk", "-V"], "asterisk -V")
    return out.strip()


def _build(tmp: Path, say: Say, steps: list[tuple[str, float]]) -> str:
    def step(name: str, cmd: Sequence[str], env: dict[str, str] | None = None) -> None:
        started = time.monotonic()
        say(f"{name} ...")
        _run(cmd, name, env)
        steps.append((name, time.monotonic() - started))
        say(f"{name}: {steps[-1][1]:.1f} s")

    step("debootstrap", ["debootstrap", "--variant=minbase", SUITE, str(tmp)])
    # Without /etc/hosts Asterisk does DNS lookups for 'vm' and root servers on every call.
    shutil.copyfile("/etc/hosts", tmp / "etc/hosts")
    chroot = ["chroot", str(tmp)]
    step("apt-get update", [*chroot, "apt-get", *APT_OPTS, "update", "-q"], _apt_env())
    step(
        "apt-get install",
        [
            *chroot,
            "apt-get",
            *APT_OPTS,
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            *ROOT_PACKAGES,
        ],
        _apt_env(),
    )
    _run([*chroot, "apt-get", "clean"], "apt-get clean", _apt_env())
    (tmp / "opt/pbx-bridge/runs").mkdir(parents=True, exist_ok=True)
    return asterisk_version(tmp)


def provision(root: Path | None = None, say: Say = print) -> ProvisionResult:
    """Create or reuse the Asterisk root. Raises ProvisionError with a one-line reason."""
    started = time.monotonic()
    root = (root or default_root()).expanduser().absolute()
    steps: list[tuple[str, float]] = []

    marker = read_marker(root)
    if marker is not None:
        # Reuse needs no root privileges unless a host package went missing.
        if missing_host_packages():
            _require_root()
            ensure_host_packages(say)
        return ProvisionResult(
            root, str(marker["asterisk_version"]), True, time.monotonic() - started, ()
        )

    _require_root()
    if root.exists():
        if root.is_dir() and not any(root.iterdir()):
            root.rmdir()
        else:
            raise ProvisionError(
                f"{root} exists but is not a complete pbx-bridge lab root "
                f"(no {MARKER_NAME}); remove it or pass another --root"
            )
    t0 = time.monotonic()
    installed = ensure_host_packages(say)
    if installed:
        steps.append(("host packages", time.monotonic() - t0))
    root.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(root), _sigterm_interrupts():
        marker = read_marker(root)  # another run may have finished while we waited
        if marker is not None:
            version = str(marker["asterisk_version"])
            return ProvisionResult(root, version, True, time.monotonic() - started, ())
        for partial in stale_partials(root):
            say(f"removing interrupted build {partial}")
            remove_tree(partial)
        tmp = root.parent / f".{root.name}{PARTIAL_SUFFIX}{os.getpid()}"
        version = _build(tmp, say, steps)
        write_marker(tmp, version)
        # rename() is atomic on one filesystem: readers see no root or a complete one.
        tmp.rename(root)
    return ProvisionResult(root, version, False, time.monotonic() - started, tuple(steps))


@contextlib.contextmanager
def _exclusive(root: Path) -> Iterator[None]:
    """One provision per root at a time: a second one would delete the first one's build."""
    lock_path = root.parent / f".{root.name}.lock"
    with lock_path.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ProvisionError(f"another provision of {root} is running") from None
        yield


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Turn SIGTERM (a CI timeout, `kill`) into KeyboardInterrupt so steps are killed too."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _require_root() -> None:
    if os.geteuid() != 0:
        raise ProvisionError(
            "provisioning needs root (debootstrap, chroot, apt-get): run it as root"
        )
