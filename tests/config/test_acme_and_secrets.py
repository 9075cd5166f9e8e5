"""The contract's acme.yaml, secrets (`env:`/`file:`) and audio files: warnings for `check`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.config.checking import FILES, MINIMAL, MINIMAL_ENV, Checker, edited, line_of

# acme.yaml lives beside CONTRACT.md; tests/config/files/acme.yaml is a copy for checkouts
# without the shared folder (a test below keeps the two identical).
SHARED_ACME = Path("/work/shared/contract/acme.yaml")
ACME = SHARED_ACME if SHARED_ACME.is_file() else FILES / "acme.yaml"
ACME_TEXT = ACME.read_text(encoding="utf-8")
ACME_ENV = sorted({name for line in ACME_TEXT.splitlines()  # outside comments
                   for name in re.findall(r"env:([A-Z0-9_]+)", line.partition("#")[0])})


def secret_value(name: str) -> str:
    return f"s3cr3t-value-of-{name.lower()}"


@pytest.fixture
def no_acme_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ACME_ENV:
        monkeypatch.delenv(name, raising=False)


def console_script() -> str:
    return str(Path(sys.executable).with_name("pbx-bridge"))


# -- acme.yaml passes as it stands --------------------------------------------------------------
@pytest.mark.skipif(not SHARED_ACME.is_file(), reason="no shared contract folder here")
def test_the_copy_of_acme_yaml_is_the_contracts_file() -> None:
    assert (FILES / "acme.yaml").read_text(encoding="utf-8") == ACME_TEXT


def test_acme_yaml_passes_with_no_environment_variables_set(check: Checker,
                                                            no_acme_env: None) -> None:
    result = check.path(ACME, ACME_TEXT)
    result.assert_valid()
    assert result.out.splitlines()[-1].startswith(f"{ACME}: valid (0 errors, ")


def test_acme_yaml_passes_through_the_console_script(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ACME_ENV}
    run = subprocess.run([console_script(), "check", str(ACME)], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=30, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert f"{ACME}: valid (0 errors, " in run.stdout


def test_acme_yaml_warns_about_each_unresolved_secret_naming_its_variable(
        check: Checker, no_acme_env: None) -> None:
    result = check.path(ACME, ACME_TEXT)
    assert ACME_ENV, "acme.yaml reads its secrets from the environment"
    for name in ACME_ENV:
        line = line_of(ACME_TEXT, f"env:{name}")
        assert any(at == line and f"environment variable {name} is not set" in message
                   for at, message in result.warnings), f"no warning for {name}:\n{result.out}"
    assert len([w for w in result.warnings if "unresolved secret" in w[1]]) == len(ACME_ENV)


def test_acme_yaml_warns_about_its_missing_audio_files(check: Checker,
                                                       no_acme_env: None) -> None:
    result = check.path(ACME, ACME_TEXT)
    for name, file in [("main-greeting", "sounds/main-greeting.wav"),
                       ("sales-voicemail", "sounds/sales-voicemail.wav")]:
        line = line_of(ACME_TEXT, f"file: {file}")
        assert (line, f"audio file {name}: {file} not found (looked for "
                      f"{ACME.parent / file})") in result.warnings


def test_setting_a_variable_makes_its_warning_disappear(check: Checker, no_acme_env: None,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_AMI_SECRET", secret_value("ACME_AMI_SECRET"))
    result = check.path(ACME, ACME_TEXT)
    result.assert_valid()
    assert "ACME_AMI_SECRET" not in result.output
    assert "ACME_SFTP_PASSWORD" in result.output  # the others are still listed


def test_secret_values_are_never_printed(check: Checker, monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    for name in ACME_ENV:
        monkeypatch.setenv(name, secret_value(name))
    acme = check.path(ACME, ACME_TEXT)
    acme.assert_valid()
    assert not [w for w in acme.warnings if "unresolved secret" in w[1]]
    (tmp_path / "pw").write_text("file-secret-value\n")
    broken = check(edited(MINIMAL, {
        "password: env:PBX_TEST_DESK1_PASSWORD": f"password: file:{tmp_path / 'pw'}",
        "ring_time: 20": "ring_time: 99",
    }))
    assert broken.code == 1
    env = {**os.environ, **{name: secret_value(name) for name in ACME_ENV}}
    run = subprocess.run([console_script(), "check", str(ACME)], capture_output=True, text=True,
                         env=env, timeout=30, check=False)
    printed = acme.output + broken.output + run.stdout + run.stderr
    for value in [*map(secret_value, ACME_ENV), "file-secret-value", *MINIMAL_ENV.values()]:
        assert value not in printed


def test_an_inline_secret_is_a_warning_that_does_not_repeat_it(check: Checker) -> None:
    result = check.minimal_with("password: env:PBX_TEST_DESK1_PASSWORD", "password: hunter2")
    result.assert_valid()
    assert result.warnings == [(result.line_of("hunter2"),
                                "contact_methods.sip_accounts[desk-1].password: secret written "
                                "inline; use env:NAME or file:/path instead")]
    assert result.output.count("hunter2") == 0


# -- file: secrets --------------------------------------------------------------------------------
def test_a_file_secret_is_read_from_the_file(check: Checker, tmp_path: Path) -> None:
    (tmp_path / "desk1.secret").write_text("  from-a-file  \nsecond line ignored\n")
    result = check.minimal_with("password: env:PBX_TEST_DESK1_PASSWORD",
                                f"password: file:{tmp_path / 'desk1.secret'}")
    result.assert_valid()
    assert result.problems == []


def test_a_relative_file_secret_is_read_beside_the_config_wherever_the_bridge_runs(
        check: Checker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (check.directory / "secrets").mkdir()
    (check.directory / "secrets" / "desk1").write_text("beside-the-config\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = check.minimal_with("password: env:PBX_TEST_DESK1_PASSWORD",
                                "password: file:secrets/desk1")
    result.assert_valid()
    assert result.problems == []


@pytest.mark.parametrize(("content", "reason"), [
    (None, "No such file or directory"),
    ("", "is empty"),
    ("\n\n", "is empty"),
], ids=["missing", "empty", "blank"])
def test_a_file_secret_that_cannot_be_read_is_a_warning_naming_the_file(
        check: Checker, tmp_path: Path, content: str | None, reason: str) -> None:
    secret = tmp_path / "desk1.secret"
    if content is not None:
        secret.write_text(content)
    result = check.minimal_with("password: env:PBX_TEST_DESK1_PASSWORD",
                                f"password: file:{secret}")
    result.assert_valid()
    [(line, message)] = result.warnings
    assert line == result.line_of("password: file:")
    assert message.startswith("unresolved secret: contact_methods.sip_accounts[desk-1].password:")
    assert str(secret) in message and reason in message


def test_an_unset_variable_is_a_warning_and_check_still_passes(
        check: Checker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PBX_TEST_DESK2_PASSWORD")
    result = check(MINIMAL)
    result.assert_valid()
    assert result.warnings == [(line_of(MINIMAL, "env:PBX_TEST_DESK2_PASSWORD"),
                                "unresolved secret: contact_methods.sip_accounts[desk-2]."
                                "password: environment variable PBX_TEST_DESK2_PASSWORD is not "
                                "set")]
    assert result.out.endswith("valid (0 errors, 1 warning)\n")


# -- audio files ----------------------------------------------------------------------------------
def test_a_missing_audio_file_is_a_warning_for_check(check: Checker) -> None:
    (check.directory / "greeting.wav").unlink()
    result = check(MINIMAL)
    result.assert_valid()
    assert result.warnings == [(line_of(MINIMAL, "file: greeting.wav"),
                                "audio file greeting: greeting.wav not found (looked for "
                                f"{check.directory / 'greeting.wav'})")]


def test_audio_files_are_found_relative_to_the_config_file(check: Checker) -> None:
    (check.directory / "sounds").mkdir()
    (check.directory / "sounds" / "hello.wav").write_bytes(b"RIFF")
    check.minimal_with("file: greeting.wav", "file: sounds/hello.wav").assert_valid()
