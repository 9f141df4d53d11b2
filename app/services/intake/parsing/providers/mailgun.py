"""Mailgun routes forward(): parsed fields, or the raw MIME in `body-mime` (URLs ending
in "mime")."""

from collections.abc import Sequence

from app.services.intake.parsing.headers import normalize_message_id, parse_addresses
from app.services.intake.parsing.mime import header_value, header_values
from app.services.intake.parsing.model import (
    InboundEmail,
    MalformedEmail,
    UploadedFile,
)
from app.services.intake.parsing.providers._shared import (
    Fields,
    assemble,
    json_field,
    make_attachment,
    numbered_files,
    parse_mime_email,
    posted_files,
    raw_field,
    sender_and_subject,
    string_map,
    text_field,
    text_fields,
)

_MAILGUN_HEADER_FIELDS = (
    "From", "To", "Cc", "Subject", "Date", "Message-Id", "In-Reply-To", "References",
    "Auto-Submitted", "Precedence", "List-Id", "Return-Path", "X-Autoreply", "X-Autorespond",
    "Content-Type", "Sender", "Reply-To",
)  # fmt: skip


def _mailgun_headers(fields: Fields) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    if fields.get("message-headers") is not None:
        decoded = json_field(fields, "message-headers")
        if not isinstance(decoded, list):
            raise MalformedEmail("mailgun: message-headers is not a JSON list of [name, value]")
        for pair in decoded:
            if (
                isinstance(pair, list | tuple)
                and len(pair) == 2
                and isinstance(pair[0], str)
                and isinstance(pair[1], str)
            ):
                headers.append((pair[0], pair[1]))
    present = {name.lower() for name, _ in headers}
    for name in _MAILGUN_HEADER_FIELDS:
        if name.lower() not in present:
            value = text_field(fields, name)  # case-sensitive: "sender" is the SMTP envelope
            if value:
                headers.append((name, value))
    return headers


def from_mailgun(
    fields: Fields, files: Sequence[UploadedFile] = (), *, given_sender: str | None = None
) -> InboundEmail:
    """An email from a Mailgun route forward() POST (parsed fields, or `body-mime`)."""
    files = posted_files("mailgun", fields, files)
    envelope_sender = text_field(fields, "sender")
    body_mime = raw_field(fields, files, "body-mime")
    if body_mime is not None:
        return parse_mime_email(
            body_mime,
            provider="mailgun",
            id_from_message_id=True,
            return_path=envelope_sender,
            given_sender=given_sender,
        )
    if fields.get("attachments") is not None and fields.get("attachment-count") is None:
        raise MalformedEmail(
            "mailgun: this is a store() notification (attachments are URLs); use forward()"
        )

    headers = _mailgun_headers(fields)
    if not headers and not text_field(fields, "from"):
        raise MalformedEmail("mailgun: neither message-headers nor from/body-mime fields")
    content_ids: dict[str, str] = {}
    for cid, field_name in string_map(json_field(fields, "content-id-map")).items():
        if isinstance(field_name, str):
            content_ids[field_name] = cid
    attachments = [
        make_attachment(
            upload.filename, upload.content_type, bytes(upload.data), content_ids.get(name)
        )
        for name, upload in numbered_files(files, "attachment-")
    ]
    sender, subject = sender_and_subject(
        headers, text_field(fields, "from"), text_field(fields, "subject")
    )
    to = parse_addresses(header_values(headers, "To")) or parse_addresses(
        [text_field(fields, "recipient") or ""]
    )
    return assemble(
        provider="mailgun",
        provider_id=normalize_message_id(header_value(headers, "Message-Id")),
        headers=headers,
        text_parts=[text_field(fields, "body-plain") or ""],
        html_parts=text_fields(fields, "body-html"),
        attachments=attachments,
        stripped_text=text_field(fields, "stripped-text"),
        sender=sender,
        to=to,
        subject=subject,
        return_path=envelope_sender,
        given_sender=given_sender,
    )
