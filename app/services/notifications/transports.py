"""How a queued email, alert or event leaves: SMTP, `.eml` files, or a signed webhook.

Each transport sends one outbox payload and either returns (the other side accepted it) or
raises `TemporaryFailure` (try again later: connection refused, timeout, SMTP 4xx, HTTP 5xx)
or `PermanentFailure` (it will never be accepted: SMTP 5xx, an invalid address, HTTP 4xx).
"""

import asyncio
import email.policy
import hashlib
import json
import logging
import ssl
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import MIMEPart
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib
import httpx
from standardwebhooks import Webhook

from app.services.notifications import mail_headers

log = logging.getLogger(__name__)


class DeliveryFailure(Exception):
    """The payload was not delivered; `str()` says why, without the message's content."""


class TemporaryFailure(DeliveryFailure):
    """Worth trying again later."""


class PermanentFailure(DeliveryFailure):
    """Will never be accepted as it is."""


class Transport(Protocol):
    """Sends one outbox payload."""

    async def send(self, payload: dict[str, Any]) -> None: ...

    async def close(self) -> None: ...


def build_email(payload: dict[str, Any]) -> bytes:
    """The MIME message of a queued email: the same bytes whenever it is (re)built.

    The header lines are written by services.notifications.mail_headers (outside data is text, never
    re-decoded); the email package builds only the body, with a boundary derived from the
    Message-ID (quoted-printable parts can never contain "=_", so it cannot clash with them).
    """
    head = [
        ("From", mail_headers.mailbox(payload["from_name"], payload["from"])),
        ("To", ",\r\n ".join(map(mail_headers.checked_address, payload["to"]))),
        *_copies(payload.get("cc", [])),
        ("Subject", mail_headers.text(payload["subject"])),
        ("Date", mail_headers.text(payload["date"])),
        ("Message-ID", _our_message_id(payload["message_id"])),
    ]
    for name, value in payload.get("headers", {}).items():
        head.extend(_extra_header(name, value))
    body = MIMEPart(policy=email.policy.SMTP)
    body.set_content(payload["text"], cte="quoted-printable")
    if payload.get("html"):
        body.add_alternative(payload["html"], subtype="html", cte="quoted-printable")
        digest = hashlib.sha256(payload["message_id"].encode()).hexdigest()[:32]
        body.set_boundary(f"=_{digest}")
    files = payload.get("files", [])
    if files:
        # A staff reply's files (their bytes read when it is sent, see outbox.with_files);
        # their names were sanitised when stored: no control character, no path.
        body.make_mixed()
        digest = hashlib.sha256(f"mixed {payload['message_id']}".encode()).hexdigest()[:32]
        body.set_boundary(f"=_{digest}")
        for file in files:
            maintype, _, subtype = file.content_type.partition("/")
            body.add_attachment(
                file.data, maintype=maintype, subtype=subtype, filename=file.filename
            )
    return mail_headers.header_block([*head, ("MIME-Version", "1.0")]) + body.as_bytes()


def _copies(addresses: list[str]) -> list[tuple[str, str]]:
    if not addresses:
        return []
    return [("Cc", ",\r\n ".join(map(mail_headers.checked_address, addresses)))]


def recipients_of(payload: dict[str, Any]) -> list[str]:
    """The envelope: exactly the payload's recipients and copies, never read from headers."""
    return [*payload["to"], *payload.get("cc", [])]


def _our_message_id(identifier: str) -> str:
    written = mail_headers.msg_id(identifier)
    if written is None:
        raise ValueError("the email's own Message-ID is not a valid msg-id")
    return written


def _extra_header(name: str, value: str) -> list[tuple[str, str]]:
    """The header `name` of a payload, as mail_headers writes it; only those we write."""
    if name in ("In-Reply-To", "References"):
        ids = mail_headers.msg_ids(mail_headers.ids_in(value))  # invalid ones do not thread
        return [(name, ids)] if ids else []
    if name == "Reply-To":
        return [(name, mail_headers.mailbox("", value))]
    if name == "Auto-Submitted":
        return [(name, mail_headers.text(value))]
    raise ValueError(f"a queued email cannot carry the header {name[:40]!r}")


class SmtpTransport:
    """SMTP through aiosmtplib: `smtp://` (STARTTLS when offered), `smtps://` (implicit TLS).

    One connection is kept open and reused; it is reopened after any failure.
    """

    def __init__(self, url: str, *, timeout: float = 30) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("SPORTELLO_SMTP_URL must start with smtp:// or smtps://")
        self._implicit_tls = parts.scheme == "smtps"
        self._host = parts.hostname or "localhost"
        self._port = parts.port or (465 if self._implicit_tls else 587)
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._timeout = timeout
        self._client: aiosmtplib.SMTP | None = None

    def __repr__(self) -> str:  # never the password
        scheme = "smtps" if self._implicit_tls else "smtp"
        return f"SmtpTransport({scheme}://{self._host}:{self._port})"

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        # Kept from the start, so that a connection cut off while opening is closed too.
        self._client = client = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            use_tls=self._implicit_tls,
            start_tls=None if not self._implicit_tls else False,  # STARTTLS when offered
            timeout=self._timeout,
            tls_context=ssl.create_default_context(),
        )
        await client.connect()
        if self._username is not None:
            await client.login(self._username, self._password or "")
        return client

    async def send(self, payload: dict[str, Any]) -> None:
        message = build_email(payload)
        # Exactly these recipients (P2): the envelope is the payload's, never read back from
        # headers. SMTPUTF8 only for an address that needs it (RFC 6531).
        sender, recipients = payload["from"], recipients_of(payload)
        utf8 = not all(address.isascii() for address in (sender, *recipients))
        try:
            client = await self._connected()
            errors, _ = await client.sendmail(
                sender, recipients, message, mail_options=["SMTPUTF8"] if utf8 else []
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            await self.close()
            codes = [refusal.code for refusal in exc.recipients]
            failure = TemporaryFailure if all(400 <= c < 500 for c in codes) else PermanentFailure
            raise failure(f"recipients refused: {', '.join(map(str, codes))}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            await self.close()
            failure = TemporaryFailure if 400 <= exc.code < 500 else PermanentFailure
            raise failure(f"SMTP {exc.code}: {exc.message[:200]}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self.close()
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}"[:300]) from exc
        except asyncio.CancelledError:
            # Cut off mid-conversation (the worker's time limit): a late answer must never be
            # read as the next email's, so the connection is dropped without a word.
            self._drop()
            raise
        if errors:  # some recipients refused, the others accepted: the email went out
            log.warning("outbox: %d recipient(s) refused", len(errors))

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()


class FileTransport:
    """Writes each email as a readable `.eml` file (no SMTP configured): nothing leaves.

    The file is named after the Message-ID, so a resend rewrites the same file.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __repr__(self) -> str:
        return f"FileTransport({self.directory})"

    async def send(self, payload: dict[str, Any]) -> None:
        name = "".join(c if c.isalnum() or c in ".-_" else "_" for c in payload["message_id"])
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{name}.eml"
            temporary = path.with_suffix(".tmp")
            temporary.write_bytes(build_email(payload))
            temporary.replace(path)  # a reader never sees half a file
        except OSError as exc:
            raise TemporaryFailure(f"{type(exc).__name__}: {exc.strerror}") from exc

    async def close(self) -> None:
        return None


class Gone(PermanentFailure):
    """The receiver answered 410 Gone: it wants no more (its subscription is disabled)."""


def signer_of(secret: str) -> Webhook:
    """The Standard Webhooks signer of a secret: `whsec_` and base64 as the libraries take it;
    any other string (a staff alert secret set before) is the key's bytes as they are."""
    if secret.startswith("whsec_"):
        return Webhook(secret)
    return Webhook(secret.encode())


def signed_headers(
    webhook_id: str, body: bytes, *, secrets: Sequence[str], at: datetime
) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt: `webhook-id` (the same on every attempt),
    `webhook-timestamp` (this attempt's, so that receivers refuse a replay past their
    tolerance) and `webhook-signature`, one `v1,` signature per secret (two during a rotation's
    overlap: a receiver holding either verifies)."""
    signatures = " ".join(signer_of(secret).sign(webhook_id, at, body) for secret in secrets)
    return {
        "Content-Type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
    }


def body_of(document: Any) -> bytes:
    """The JSON body as sent: the same bytes on every attempt."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True).encode()


class SignedPoster:
    """POSTs JSON signed the Standard Webhooks way over one kept HTTP client. 2xx is accepted;
    5xx, 429 and network errors are temporary; 410 is `Gone`; any other 4xx is permanent."""

    def __init__(self, *, timeout: float = 30) -> None:
        self._client = httpx.AsyncClient(timeout=timeout)

    async def post(self, url: str, *, webhook_id: str, body: bytes, secrets: Sequence[str]) -> None:
        headers = signed_headers(webhook_id, body, secrets=secrets, at=datetime.now(UTC))
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}"[:300]) from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise TemporaryFailure(f"HTTP {response.status_code}")
        if response.status_code == 410:
            raise Gone("HTTP 410 Gone")
        if response.status_code >= 300:
            raise PermanentFailure(f"HTTP {response.status_code}")

    async def close(self) -> None:
        await self._client.aclose()


class WebhookTransport:
    """POSTs a staff alert as JSON, signed with Standard Webhooks headers (`webhook-id`,
    `webhook-timestamp`, `webhook-signature`) with SPORTELLO_ALERT_WEBHOOK_SECRET, so that the
    receiver (a phone notification bridge) can tell the alert is ours and refuse a replay.
    """

    def __init__(self, url: str, *, secret: str, timeout: float = 30) -> None:
        self.url = url
        self._secret = secret
        self._poster = SignedPoster(timeout=timeout)

    def __repr__(self) -> str:
        return f"WebhookTransport({urlsplit(self.url).netloc})"

    async def send(self, payload: dict[str, Any]) -> None:
        await self._poster.post(
            self.url,
            webhook_id=payload["message_id"],
            body=body_of(payload["json"]),
            secrets=[self._secret],
        )

    async def close(self) -> None:
        await self._poster.close()
