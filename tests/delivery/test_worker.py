"""The worker with local-directory methods: fallbacks, giving up visibly, when the local file
goes, operator retry/abandon, methods not yet supported."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from structlog.testing import capture_logs

from pbx_bridge.delivery.naming import CallFacts
from pbx_bridge.delivery.queue import release_file_if_done, submit
from tests.delivery.conftest import Env

FACTS = CallFacts("Recording", "12025550123", "Alice", "12025559876",
                  datetime(2025, 5, 7, 10, 57, 38, tzinfo=UTC))


def test_two_methods_the_file_goes_only_when_both_have_it(
        make_env: Callable[..., Env], recording: Callable[..., Path], tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    env = make_env(f"""
        - name: a
          type: local
          directory: {tmp_path}/a
        - name: b
          type: local
          directory: {blocker}/b
          retry: "0.05s..0.1s for 0.5s"
        """)
    source = recording(1000)
    data = source.read_bytes()
    ja, jb = submit(env.store, env.config, source, ["a", "b"], FACTS)
    with capture_logs() as logs:
        env.run_until_idle()
    assert env.store.job(ja.id).state == "delivered"  # type: ignore[union-attr]
    gave_up = env.store.job(jb.id)
    assert gave_up is not None and gave_up.state == "gave_up" and gave_up.attempts >= 3
    assert "Not a directory" in gave_up.last_error
    alert = [e for e in logs if e["event"] == "delivery_gave_up"]
    assert alert and alert[0]["log_level"] == "error" and alert[0]["job"] == jb.id
    assert source.read_bytes() == data  # b never got it: the file stays
    # an operator gives up on b: now the file may go
    env.store.set_state(jb.id, "abandoned", 0.0)
    assert release_file_if_done(env.store, str(source.resolve()))
    assert not source.exists()


def test_not_yet_supported_is_refused_and_the_fallback_delivers(
        make_env: Callable[..., Env], recording: Callable[..., Path], tmp_path: Path) -> None:
    env = make_env(f"""
        - name: dropbox
          type: dropbox
          fallback: disk
        - name: disk
          type: local
          directory: {tmp_path}/out
        """)
    source = recording(1000)
    [job] = submit(env.store, env.config, source, ["dropbox"], FACTS)
    env.run_until_idle()
    refused = env.store.job(job.id)
    assert refused is not None and refused.state == "gave_up"
    assert "not yet supported" in refused.last_error
    [fallback] = [j for j in env.store.jobs() if j.fallback_of == job.id]
    assert fallback.state == "delivered" and Path(fallback.remote_name).exists()
    assert len(env.store.jobs()) == 2
    assert not source.exists()


def test_a_retry_rewrites_the_same_name_never_a_copy(
        make_env: Callable[..., Env], recording: Callable[..., Path], tmp_path: Path) -> None:
    env = make_env(f"""
        - name: disk
          type: local
          directory: {tmp_path}/out
        """)
    source = recording(1000)
    [job] = submit(env.store, env.config, source, ["disk"], FACTS, remove_file=False)
    env.run_until_idle()
    env.store.set_state(job.id, "queued", 0.0)  # an operator asks for it again
    env.run_until_idle()
    assert env.store.job(job.id).attempts == 2  # type: ignore[union-attr]
    assert [p.name for p in (tmp_path / "out").iterdir()] == \
        ["Recording-12025550123-12025559876-2025-05-07 06-57-38.wav"]
    assert source.exists()  # remove_file=False: not the bridge's file to remove


def test_a_missing_local_file_gives_up_visibly(
        make_env: Callable[..., Env], recording: Callable[..., Path], tmp_path: Path) -> None:
    env = make_env(f"""
        - name: disk
          type: local
          directory: {tmp_path}/out
        """)
    source = recording(10)
    [job] = submit(env.store, env.config, source, ["disk"], FACTS)
    source.unlink()
    env.run_until_idle()
    done = env.store.job(job.id)
    assert done is not None and done.state == "gave_up" and "missing" in done.last_error
