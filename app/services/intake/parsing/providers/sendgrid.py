"""SendGrid Inbound Parse: default (parsed) fields, or the raw MIME in `email` ("POST the
raw, full MIME message")."""

from collections.abc import Sequence
from email import policy
from email.parser import BytesParser
from typing import Any

from app.services.intake.parsing.headers import parse_addresses, to_bytes
from app.services.intake.parsing.mime import header_values, raw_headers
from app.services.intake.parsing.model import (
    InboundAttachment,
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


def _header_block(text: str) -> list[tuple[str, str]]:
    data = to_bytes(text).strip(b"\r\n") + b"\r\n\r\n"
    try:
        message = BytesParser(policy=policy.default).parsebytes(data, headersonly=True)
    except Exception:
        return []
    return raw_headers(message)


def from_sendgrid(
    fields: Fields, files: Sequence[UploadedFile] = (), *, given_sender: str | None = None
) -> InboundEmail:
    """An email from a SendGrid Inbound Parse POST (default fields, or raw MIME in `email`)."""
    files = posted_files("sendgrid", fields, files)
    envelope = string_map(json_field(fields, "envelope"))
    envelope_from = envelope.get("from") if isinstance(envelope.get("from"), str) else None
    raw_email = raw_field(fields, files, "email")
    if raw_email is not None and fields.get("headers") is None:
        return parse_mime_email(
            raw_email, provider="sendgrid", return_path=envelope_from, given_sender=given_sender
        )
    if fields.get("headers") is None:
        raise MalformedEmail("sendgrid: neither 'headers' (default mode) nor 'email' (raw mode)")

    charsets = {k: v for k, v in string_map(json_field(fields, "charsets")).items() if v}
    headers = _header_block(text_field(fields, "headers", charsets.get("headers")) or "")
    attachments = _attachments(fields, files)

    sender, subject = sender_and_subject(
        headers,
        text_field(fields, "from", charsets.get("from")),
        text_field(fields, "subject", charsets.get("subject")),
    )
    envelope_to: list[Any] = envelope["to"] if isinstance(envelope.get("to"), list) else []
    to = (
        parse_addresses(header_values(headers, "To"))
        or parse_addresses([text_field(fields, "to", charsets.get("to")) or ""])
        or parse_addresses([item for item in envelope_to if isinstance(item, str)])
    )
    return assemble(
        provider="sendgrid",
        provider_id=None,
        headers=headers,
        text_parts=[text_field(fields, "text", charsets.get("text")) or ""],
        html_parts=text_fields(fields, "html", charsets.get("html")),
        attachments=attachments,
        sender=sender,
        to=to,
        subject=subject,
        return_path=envelope_from,
        given_sender=given_sender,
    )


def _attachments(fields: Fields, files: Sequence[UploadedFile]) -> list[InboundAttachment]:
    """The files posted as attachment1..N, named and typed by `attachment-info`."""
    info = string_map(json_field(fields, "attachment-info"))
    content_ids = {
        name: cid
        for cid, name in string_map(json_field(fields, "content-ids")).items()
        if isinstance(name, str)
    }
    attachments = []
    for name, upload in numbered_files(files, "attachment"):
        meta = string_map(info.get(name))
        filename = meta.get("filename") if isinstance(meta.get("filename"), str) else None
        ctype = meta.get("type") if isinstance(meta.get("type"), str) else None
        cid = meta.get("content-id") if isinstance(meta.get("content-id"), str) else None
        attachments.append(
            make_attachment(
                filename or upload.filename,
                ctype or upload.content_type,
                bytes(upload.data),
                cid or content_ids.get(name),
            )
        )
    return attachments
