"""Email against aiosmtpd (STARTTLS + AUTH + SIZE): the attachment, the rendered subject, and
the size limit checked before anything is sent, with the fallback taking the file."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pbx_bridge.delivery.naming import CallFacts
from pbx_bridge.delivery.queue import submit
from tests.delivery import servers
from tests.delivery.conftest import Env, Smtp, secret_file

FACTS = CallFacts("Voicemail", "12025550123", "Mallory\r\nBcc: victim@evil.example",
                  "12025559876", datetime(2025, 5, 7, 10, 57, 38, tzinfo=UTC))


def smtp_block(server: Smtp, tmp: Path, max_bytes: int = 10_000_000) -> str:
    return f"""smtp:
  host: 127.0.0.1
  port: {server.port}
  starttls: true
  sender: pbx@test.example
  username: pbx
  password: {secret_file(tmp, "smtp", server.password)}
  max_message_bytes: {max_bytes}
"""


METHODS = """
    - name: mail
      type: email
      emails: [ops@test.example]
      subject: "%{service_name} from %{src_number} (%{src_name})"
      message: "Call to %{dst_number} at %{call_time}."
      file_name: "%{service_name}-%{src_number}-%{dst_number}-%{call_time}.wav"
      fallback: disk
    - name: disk
      type: local
      directory: archive
    """


def test_recording_arrives_as_attachment_with_rendered_subject(
        smtp_server: Smtp, trust_test_ca: servers.Tls, make_env: Callable[..., Env],
        recording: Callable[..., Path], tmp_path: Path) -> None:
    env = make_env(METHODS, smtp=smtp_block(smtp_server, tmp_path))
    source = recording(200_000)
    data = source.read_bytes()
    job = submit(env.store, env.config, source, ["mail"], FACTS)[0]
    env.run_until_idle()
    assert env.store.job(job.id).state == "delivered"  # type: ignore[union-attr]
    [(sender, rcpts, raw)] = smtp_server.mailbox.messages
    assert sender == "pbx@test.example"
    assert rcpts == ["ops@test.example"]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == ("Voicemail from 12025550123 "
                              "(Mallory Bcc: victim@evil.example)")
    assert msg["Bcc"] is None  # the caller's CRLF did not make a header
    [part] = list(msg.iter_attachments())
    assert part.get_filename() == "Voicemail-12025550123-12025559876-2025-05-07 06-57-38.wav"
    assert part.get_content() == data
    assert "Call to 12025559876 at 2025-05-07 06-57-38." in msg.get_body(("plain",)).get_content()


@pytest.mark.parametrize("limit_by", ["config", "server"])
@pytest.mark.smtp_limit(1_000_000)
def test_over_the_size_limit_is_refused_before_sending_and_the_fallback_has_it(
        limit_by: str, smtp_server: Smtp, trust_test_ca: servers.Tls,
        make_env: Callable[..., Env], recording: Callable[..., Path], tmp_path: Path) -> None:
    # 800 kB becomes ~1.1 MB of base64: over the server's 1 MB SIZE, or over our own 900 kB.
    max_bytes = 900_000 if limit_by == "config" else 50_000_000
    env = make_env(METHODS, smtp=smtp_block(smtp_server, tmp_path, max_bytes))
    source = recording(800_000)
    data = source.read_bytes()
    job = submit(env.store, env.config, source, ["mail"], FACTS)[0]
    env.run_until_idle()
    refused = env.store.job(job.id)
    assert refused is not None and refused.state == "gave_up"
    [attempt] = env.store.attempts(job.id)
    assert attempt.outcome == "refused" and "refused before sending" in attempt.error
    assert smtp_server.mailbox.messages == []  # nothing went over the wire
    [fallback] = [j for j in env.store.jobs() if j.fallback_of == job.id]
    assert fallback.method == "disk" and fallback.state == "delivered"
    assert Path(fallback.remote_name).read_bytes() == data
    assert not source.exists()  # delivered through the fallback: the spool copy may go


def test_bad_password_is_retried_not_dropped(
        smtp_server: Smtp, trust_test_ca: servers.Tls, make_env: Callable[..., Env],
        recording: Callable[..., Path], tmp_path: Path) -> None:
    block = smtp_block(smtp_server, tmp_path).replace(
        secret_file(tmp_path, "smtp", smtp_server.password),
        secret_file(tmp_path, "wrong", "not-the-password"))
    env = make_env(METHODS, smtp=block)
    source = recording(1000)
    job = submit(env.store, env.config, source, ["mail"], FACTS)[0]
    import asyncio
    [done] = asyncio.run(env.worker().deliver_now(job.id))
    assert done.state == "retrying" and done.last_error.startswith("535")
    assert "not-the-password" not in done.last_error
    assert source.exists()
