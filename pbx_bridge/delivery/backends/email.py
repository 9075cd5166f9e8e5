"""Email: the file as an attachment, through `system.smtp` (STARTTLS, AUTH).

A message too big for the provider used to be lost. Here its size is worked out before anything
is sent, against `system.smtp.max_message_bytes` and the server's own `SIZE`, and a message that
cannot fit is `Refused`, so the method's fallback takes the file instead.
"""

from __future__ import annotations

import email.policy
import math
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

import structlog

from pbx_bridge.config.delivery_model import EmailDelivery
from pbx_bridge.config.model import Smtp
from pbx_bridge.delivery import naming
from pbx_bridge.delivery.backends.base import (
    Backend,
    LocalFile,
    Receipt,
    Refused,
    TemporaryFailure,
    secret,
)
from pbx_bridge.delivery.naming import CallFacts

log = structlog.get_logger()

# Headers, the text part and MIME boundaries: generous, so an estimate never undercounts.
_OVERHEAD_BYTES = 4096
_DEFAULT_BODY = "%{service_name} from %{src_number} to %{dst_number} at %{call_time}."


def message_size_estimate(attachment_bytes: int, body_chars: int = 0) -> int:
    """Bytes on the wire: base64 makes 4 out of every 3 bytes, in lines of 76 plus CRLF."""
    encoded = 4 * math.ceil(attachment_bytes / 3)
    lines = math.ceil(encoded / 76)
    return encoded + 2 * lines + _OVERHEAD_BYTES + 2 * body_chars


class EmailBackend(Backend):
    concurrency = 2
    kind = "email"
    method: EmailDelivery

    def _smtp(self) -> Smtp:
        smtp = self.config.system.smtp
        if smtp is None:
            raise Refused("system.smtp is not configured: email delivery needs a relay")
        return smtp

    def recipients(self) -> list[str]:
        """Only verified email contact methods ever receive a file."""
        out = []
        for address in self.method.emails:
            contact = self.config.email(address)
            if contact is not None and contact.verified:
                out.append(contact.address)
            else:
                log.warning("delivery_email_unverified_skipped", method=self.method.name,
                            address=address)
        if not out:
            raise Refused(f"delivery method {self.method.name}: no verified email contact method "
                          "to send to")
        return out

    def _check_size(self, size: int, limit: int, whose: str) -> None:
        if limit and size > limit:
            raise Refused(f"the message would be about {size} bytes, over {whose} of {limit} "
                          "bytes; refused before sending")

    def build(self, file: LocalFile, name: str, facts: CallFacts, recipients: list[str],
              tag: str) -> EmailMessage:
        smtp, tz = self._smtp(), self.config.system.timezone
        msg = EmailMessage(policy=email.policy.SMTP)
        msg["From"] = smtp.sender or f"pbx-bridge@{smtp.host}"
        msg["To"] = ", ".join(recipients)
        msg["Subject"] = naming.subject(self.method.subject, facts, tz)
        msg["Date"] = formatdate(localtime=False)
        # Deterministic per job: a retry after an unclear failure (a drop after DATA) carries
        # the same Message-ID, which lets mail systems and people spot the duplicate.
        domain = (smtp.sender.rpartition("@")[2] or "pbx-bridge.invalid")
        msg["Message-ID"] = f"<pbx-bridge.{tag}.{file.sha256[:16]}@{domain}>"
        msg.set_content(naming.subject(self.method.message or _DEFAULT_BODY, facts, tz) + "\n")
        maintype, _, subtype = file.content_type.partition("/")
        msg.add_attachment(file.path.read_bytes(), maintype=maintype, subtype=subtype,
                           filename=name)
        return msg

    def upload(self, file: LocalFile, remote_name: str, facts: CallFacts, tag: str) -> Receipt:
        smtp = self._smtp()
        recipients = self.recipients()
        body = self.method.message or _DEFAULT_BODY
        estimate = message_size_estimate(file.size, len(body) * 4)
        self._check_size(estimate, smtp.max_message_bytes, "system.smtp.max_message_bytes")
        try:
            with self._connect(smtp) as client:
                server_limit = int(client.esmtp_features.get("size", "0") or 0)
                self._check_size(estimate, server_limit, "the server's SIZE limit")
                msg = self.build(file, remote_name, facts, recipients, tag)
                exact = len(msg.as_bytes())
                self._check_size(exact, smtp.max_message_bytes, "system.smtp.max_message_bytes")
                self._check_size(exact, server_limit, "the server's SIZE limit")
                refused = client.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _from_code(min(code for code, _ in exc.recipients.values()),
                             f"every recipient refused: {exc.recipients}") from None
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode(errors="replace") if isinstance(
                exc.smtp_error, bytes) else str(exc.smtp_error)
            raise _from_code(exc.smtp_code, f"{exc.smtp_code} {text}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TemporaryFailure(f"{smtp.host}:{smtp.port}: {exc}") from None
        if refused:
            log.warning("delivery_email_partly_refused", method=self.method.name,
                        refused=sorted(refused))
        accepted = [r for r in recipients if r not in refused]
        return Receipt(f"{', '.join(accepted)}: {remote_name}", file.size)

    def _connect(self, smtp: Smtp) -> smtplib.SMTP:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=60)
        try:
            client.ehlo()
            if smtp.starttls:
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if smtp.username:
                client.login(smtp.username, secret(smtp.password, "system.smtp.password"))
        except BaseException:
            client.close()
            raise
        return client

    def test(self, file: LocalFile, remote_name: str) -> str:
        receipt = self.upload(file, remote_name, CallFacts(service_name="Test"), "test")
        return f"the relay accepted a test message to {receipt.remote_name.split(': ')[0]}"


def _from_code(code: int, text: str) -> TemporaryFailure | Refused:
    if code in (530, 534, 535):  # authentication: the operator fixes credentials, we retry
        return TemporaryFailure(text, auth="misconfigured")
    # 552/554 and the other 5xx are a final "no" for this message; 4xx is "later".
    return Refused(text) if code >= 500 else TemporaryFailure(text)
