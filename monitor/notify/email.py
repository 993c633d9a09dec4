"""The email channel: multipart/alternative (text + HTML), UTF-8, over SMTP (STARTTLS, TLS, plain).

Each recipient gets its own SMTP transaction on one connection, so that a recipient the server
refuses does not make a retry re-send to those who already got the message.
"""

from __future__ import annotations

import base64
import re
import smtplib
import ssl
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from monitor.config.channels import EmailChannelSettings
from monitor.errors import DeliveryError
from monitor.model import RenderedMessage
from monitor.notify.base import MemorySentParts, SentParts, safe_key

__all__ = ["EmailChannel", "build_email", "message_id"]

_HEADER_MAX = 250
_LINE_BREAKS = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")
_DOMAIN = re.compile(r"^[A-Za-z0-9.-]+$")


def _one_line(value: str, limit: int = _HEADER_MAX) -> str:
    # The last guard before a header: no CR/LF can survive, nothing overlong gets through.
    line = _LINE_BREAKS.sub(" ", value).strip()
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def message_id(key: str, from_addr: str) -> str:
    """Derived from the key: a re-sent message keeps its Message-ID (clients can deduplicate)."""
    domain = parseaddr(from_addr)[1].rpartition("@")[2]
    if not domain or not _DOMAIN.match(domain):
        domain = "raw-materials-monitor.invalid"
    return f"<{safe_key(key)}@{domain}>"


def build_email(
    message: RenderedMessage, *, key: str, from_addr: str, to: list[str]
) -> EmailMessage:
    msg = EmailMessage(policy=policy.SMTP)
    msg["Subject"] = _one_line(message.subject)
    msg["From"] = from_addr
    msg["To"] = ", ".join(to)
    msg["Date"] = format_datetime(message.created)
    msg["Message-ID"] = message_id(key, from_addr)
    if message.thread_key:
        # An update of an alerted story: mail clients show it in the first alert's thread.
        parent = message_id(message.thread_key, from_addr)
        msg["In-Reply-To"] = parent
        msg["References"] = parent
    # RFC 3834: vacation responders and ticket systems should not answer a digest.
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(message.text, charset="utf-8")
    msg.add_alternative(message.html, subtype="html", charset="utf-8")
    return msg


class EmailChannel:
    def __init__(
        self, name: str, settings: EmailChannelSettings, *, sent: SentParts | None = None
    ) -> None:
        self.name = name
        self.settings = settings
        self._sent: SentParts = sent if sent is not None else MemorySentParts()

    def __repr__(self) -> str:
        s = self.settings
        return f"EmailChannel({self.name!r}, {s.host}:{s.effective_port}, {s.security})"

    def _fail(self, message: str, *, temporary: bool = True) -> DeliveryError:
        return DeliveryError(self.name, message, temporary=temporary)

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        context = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
        if s.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                s.host, s.effective_port, timeout=s.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(s.host, s.effective_port, timeout=s.timeout)
        try:
            smtp.ehlo()
            if s.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.username is not None and s.password is not None:
                _login(smtp, s.username, s.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: RenderedMessage, *, key: str) -> None:
        s = self.settings
        msg = build_email(message, key=key, from_addr=s.from_, to=s.to)
        envelope_from = parseaddr(s.from_)[1]
        done = self._sent.done(key)
        todo = [a for a in dict.fromkeys(parseaddr(t)[1] for t in s.to) if a not in done]
        if not todo:
            return
        where = f"{s.host}:{s.effective_port}"
        refused: list[tuple[str, int, str]] = []
        try:
            smtp = self._connect()
            try:
                for rcpt in todo:
                    try:
                        smtp.send_message(msg, from_addr=envelope_from, to_addrs=[rcpt])
                    except smtplib.SMTPRecipientsRefused as exc:
                        code, text = exc.recipients.get(rcpt, (0, b""))
                        refused.append((rcpt, code, _decode(text)))
                        continue
                    except smtplib.SMTPDataError as exc:
                        refused.append((rcpt, exc.smtp_code, _decode(exc.smtp_error)))
                        continue
                    self._sent.add(key, rcpt)
            finally:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()
        except smtplib.SMTPAuthenticationError as exc:
            raise self._fail(
                f"{where} refused the login ({exc.smtp_code} {_decode(exc.smtp_error)}); "
                "hint: check username and password",
                temporary=False,
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise self._fail(
                f"{where}: {exc}; hint: set security to tls (port 465) or none to match the server",
                temporary=False,
            ) from exc
        except smtplib.SMTPSenderRefused as exc:
            raise self._fail(
                f"{where} refused the sender {envelope_from} ({exc.smtp_code} "
                f"{_decode(exc.smtp_error)}); hint: check 'from'",
                temporary=400 <= exc.smtp_code < 500,
            ) from exc
        except ssl.SSLError as exc:
            raise self._fail(
                f"TLS with {where} failed: {exc}; hint: check security/port, or set ca_file "
                "for a server with its own certificate authority"
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise self._fail(
                f"{where} answered {exc.smtp_code} {_decode(exc.smtp_error)}",
                temporary=not 500 <= exc.smtp_code < 600,
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise self._fail(
                f"cannot talk to {where}: {exc.__class__.__name__}: {exc}; "
                "hint: is the server up and the host/port right? Retried with backoff"
            ) from exc
        if refused:
            detail = "; ".join(f"{r} ({code} {text})" for r, code, text in refused)
            sent = len(todo) - len(refused)
            raise self._fail(
                f"{where} refused {len(refused)} of {len(todo)} recipients: {detail}"
                f"{f' (the other {sent} got it)' if sent else ''}; hint: check 'to'",
                temporary=any(not 500 <= code < 600 for _, code, _ in refused),
            )


def _login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    if (user + password).isascii():
        smtp.login(user, password)
        return
    # smtplib encodes credentials as ASCII; AUTH PLAIN is defined over UTF-8 (RFC 4616), so a
    # password with umlauts goes that way.
    smtp.ehlo_or_helo_if_needed()
    if "PLAIN" not in smtp.esmtp_features.get("auth", "").upper().split():
        raise smtplib.SMTPNotSupportedError(
            "the server offers no AUTH PLAIN, needed for a non-ASCII user name or password"
        )
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode("ascii")
    code, reply = smtp.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def _decode(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return " ".join(text.split())
