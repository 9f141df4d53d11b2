"""A delivery as it reached us, the bytes of its request and their media type, read (again).

What the quarantine keeps is exactly that, so that a retry reads it the way the webhook would
have: a provider's form or JSON through its adapter, a raw message through the MIME reader.
Also what a quarantined delivery shows before it is read (its subject) and what a redelivery
has in common with it (its digest). Pure: no database, no clock.
"""

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence

from app.services.intake.parsing.forms import parse_form
from app.services.intake.parsing.headers import decode_bytes, decode_subject
from app.services.intake.parsing.mime import header_value, parse_headers
from app.services.intake.parsing.model import InboundEmail, MalformedEmail, UploadedFile
from app.services.intake.parsing.providers import (
    from_mailgun,
    from_mime,
    from_postmark,
    from_sendgrid,
)
from app.services.intake.parsing.providers._shared import assemble, make_attachment

RAW_MIME = "message/rfc822"
FORM_PROVIDERS = frozenset({"mailgun", "sendgrid"})
# Mailgun signs each POST anew: these fields differ between a delivery and its redelivery.
SIGNATURE_FIELDS = frozenset({"timestamp", "token", "signature"})
# How much of an unreadable delivery becomes the text of a ticket staff make of it (the whole
# delivery is attached besides).
MAX_PLAIN_TEXT = 200_000


def provider_of(source: str) -> str:
    """The adapter for a source: a webhook's provider, or `imap` for a mailbox."""
    if source in FORM_PROVIDERS or source in {"postmark", "mime"}:
        return source
    return "imap" if source.startswith(("mailbox", "imap")) else "mime"


def read_delivery(
    source: str, raw: bytes, content_type: str, *, given_sender: str | None = None
) -> InboundEmail:
    """The email in a delivery's bytes, read as its source's webhook reads it; MalformedEmail
    when they hold none. `given_sender` (staff's word) is its sender whatever it says."""
    provider = provider_of(source)
    if provider == "postmark":
        try:
            payload = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deep
            raise MalformedEmail("postmark: the payload is not JSON") from exc
        return from_postmark(payload, given_sender=given_sender)
    if provider in FORM_PROVIDERS:
        fields, files = parse_form(raw, content_type)
        adapter = from_mailgun if provider == "mailgun" else from_sendgrid
        return adapter(fields, files, given_sender=given_sender)
    return from_mime(raw, provider=provider, given_sender=given_sender)


def read_as_text(source: str, raw: bytes, content_type: str, *, given_sender: str) -> InboundEmail:
    """An email made of a delivery that cannot be read at all, for staff who name its sender:
    the bytes as text, and the whole delivery attached as it came."""
    extension = ".eml" if provider_of(source) in {"mime", "imap"} else ".bin"
    return assemble(
        provider=provider_of(source),
        provider_id=None,
        headers=[("Subject", glimpse_subject(source, raw, content_type))],
        text_parts=[decode_bytes(raw[:MAX_PLAIN_TEXT])],
        html_parts=[],
        attachments=[make_attachment("delivery" + extension, content_type, raw)],
        given_sender=given_sender,
    )


def glimpse_subject(source: str, raw: bytes, content_type: str) -> str:
    """The subject of a delivery that may not be readable, as far as it can be read; "" if
    not at all. Never raises."""
    try:
        provider = provider_of(source)
        if provider == "postmark":
            payload = json.loads(raw)
            subject = payload.get("Subject") if isinstance(payload, Mapping) else None
            return decode_subject(subject if isinstance(subject, str) else None)
        if provider in FORM_PROVIDERS:
            return _form_subject(*parse_form(raw, content_type))
        return _mime_subject(raw)
    except Exception:  # whatever the bytes are, a subject is only a courtesy
        return ""


def _form_subject(fields: Mapping[str, bytes], files: Sequence[UploadedFile]) -> str:
    for name in ("subject", "Subject"):
        if fields.get(name):
            return decode_subject(decode_bytes(fields[name]))
    for name in ("body-mime", "email"):  # the raw-MIME variants of Mailgun and SendGrid
        data = fields.get(name) or next((f.data for f in files if f.field_name == name), None)
        if data:
            return _mime_subject(data)
    return ""


def _mime_subject(raw: bytes) -> str:
    # The header section alone: the body may be what could not be read (thousands of parts).
    return decode_subject(header_value(parse_headers(raw), "Subject"))


def form_digest(
    fields: Mapping[str, bytes], files: Iterable[UploadedFile], *, ignored: Iterable[str] = ()
) -> str:
    """Hex SHA-256 of a form's content, whatever its multipart boundary and field order, and
    without the `ignored` fields (a signature that changes with each POST)."""
    skip = set(ignored)
    digest = hashlib.sha256()
    for name in sorted(set(fields) - skip):
        digest.update(_framed(name.encode("utf-8", "surrogatepass")) + _framed(fields[name]))
    for upload in sorted(files, key=lambda f: (f.field_name, f.filename or "")):
        parts = (upload.field_name, upload.filename or "", upload.content_type or "")
        digest.update(b"".join(_framed(part.encode("utf-8", "surrogatepass")) for part in parts))
        digest.update(_framed(hashlib.sha256(upload.data).digest()))
    return digest.hexdigest()


def _framed(value: bytes) -> bytes:
    return len(value).to_bytes(8, "big") + value


def delivery_digest(source: str, raw: bytes, content_type: str) -> str:
    """What a delivery and its redelivery have in common: its form's digest for the form
    providers (their boundary changes, Mailgun's signature too), else its bytes' SHA-256."""
    if provider_of(source) in FORM_PROVIDERS:
        try:
            fields, files = parse_form(raw, content_type)
        except MalformedEmail:
            return hashlib.sha256(raw).hexdigest()
        return form_digest(fields, files, ignored=SIGNATURE_FIELDS)
    return hashlib.sha256(raw).hexdigest()
