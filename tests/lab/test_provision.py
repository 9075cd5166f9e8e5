"""Provisioning logic on a fake root tree: marker, reuse, refusal, stale builds, the CLI.

These run the real code paths (files, the CLI entry point) without root or network: a tree
with a valid marker and an `asterisk` binary is exactly what reuse looks at.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pbx_bridge.cli import main
from pbx_bridge.lab import provision as prov


def fake_root(path: Path, version: str = "Asterisk 22.10.1") -> Path:
    (path / "usr/sbin").mkdir(parents=True)
    (path / "usr/sbin/asterisk").write_text("#!/bin/sh\n")
    prov.write_marker(path, version)
    return path


def test_marker_round_trip_and_validation(tmp_path: Path) -> None:
    root = fake_root(tmp_path / "root")
    marker = prov.read_marker(root)
    assert marker is not None and marker["asterisk_version"] == "Asterisk 22.10.1"
    assert not (root / (prov.MARKER_NAME + ".tmp")).exists()
    (root / prov.MARKER_NAME).write_text("{not json")
    assert prov.read_marker(root) is None
    (root / prov.MARKER_NAME).write_text(json.dumps({"format": 99, "asterisk_version": "x"}))
    assert prov.read_marker(root) is None


def test_marker_without_binary_is_incomplete(tmp_path: Path) -> None:
    root = fake_root(tmp_path / "root")
    (root / "usr/sbin/asterisk").unlink()
    assert prov.read_marker(root) is None


def test_reuse_is_idempotent_and_fast(tmp_path: Path) -> None:
    if prov.missing_host_packages():
        pytest.skip("host packages missing: reuse would install them (needs root)")
    root = fake_root(tmp_path / "root")
    first = prov.provision(root, say=lambda _: None)
    second = prov.provision(root, say=lambda _: None)
    assert first.reused and second.reused
    assert second.asterisk_version == "Asterisk 22.10.1"
    assert second.seconds < 5


def test_existing_incomplete_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    with pytest.raises(prov.ProvisionError) as info:
        prov.provision(root, say=lambda _: None)
    message = str(info.value)
    assert "\n" not in message
    if os.geteuid() == 0:
        assert "not a complete pbx-bridge lab root" in message
    else:
        assert "needs root" in message
    assert (root / "etc").is_dir()  # never deleted


def test_stale_partials_are_found_and_removable(tmp_path: Path) -> None:
    root = tmp_path / "asterisk-root"
    stale = tmp_path / f".asterisk-root{prov.PARTIAL_SUFFIX}1234"
    (stale / "var").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    assert prov.stale_partials(root) == [stale]
    assert prov.mounts_under(stale) == []
    prov.remove_tree(stale)
    assert prov.stale_partials(root) == []


def test_mounted_tree_is_never_removed() -> None:
    mounted = prov.mounts_under(Path("/proc"))
    if not mounted:
        pytest.skip("/proc is not a mount point here")
    with pytest.raises(prov.ProvisionError, match="still mounted"):
        prov.remove_tree(Path("/proc"))


def test_default_root_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(prov.ROOT_ENV, str(tmp_path / "x"))
    assert prov.default_root() == tmp_path / "x"
    monkeypatch.delenv(prov.ROOT_ENV)
    assert prov.default_root() == Path.home() / ".cache/pbx-bridge/asterisk-root"


def test_cli_reuses_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if prov.missing_host_packages():
        pytest.skip("host packages missing: reuse would install them (needs root)")
    root = fake_root(tmp_path / "root")
    assert main(["lab", "provision", "--root", str(root)]) == 0
    assert f"reused {root} (Asterisk 22.10.1)" in capsys.readouterr().out


def test_cli_error_is_one_line_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "root" / "junk").mkdir(parents=True)
    assert main(["lab", "provision", "--root", str(tmp_path / "root")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pbx-bridge lab provision: ") and err.count("\n") == 1
