"""What the providers' adapters share: assembling an InboundEmail, reading form fields."""

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from app.services.intake.parsing.content import (
    clean_text,
    detect_automatic,
    html_to_text,
    sanitize_filename,
    sanitize_html,
    strip_quoted_reply,
    tidy_body,
)
from app.services.intake.parsing.headers import (
    decode_bytes,
    decode_rfc2047,
    decode_subject,
    normalize_address,
    normalize_message_id,
    parse_address,
    parse_addresses,
    parse_date,
    parse_message_ids,
    to_bytes,
    unfold,
)
from app.services.intake.parsing.mime import (
    header_value,
    header_values,
    join_text_parts,
    parse_mime,
)
from app.services.intake.parsing.model import (
    MAX_ATTACHMENTS,
    MAX_CONTENT_TYPE,
    MAX_HEADER_NAME,
    MAX_HEADER_VALUE,
    MAX_HEADERS,
    MAX_NAME,
    MAX_PROVIDER_ID,
    InboundAttachment,
    InboundEmail,
    MalformedEmail,
    NoSender,
    UploadedFile,
)

Fields = Mapping[str, Any]

_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


def clean_content_type(value: str | None) -> str:
    if not isinstance(value, str):
        return "application/octet-stream"
    value = value.split(";", 1)[0].strip().lower()
    if len(value) > MAX_CONTENT_TYPE or not _CONTENT_TYPE.match(value):
        return "application/octet-stream"
    return value


def make_attachment(
    filename: str | None, content_type: str | None, data: bytes, content_id: str | None = None
) -> InboundAttachment:
    ctype = clean_content_type(content_type)
    if isinstance(filename, str) and "=?" in filename:
        filename = decode_rfc2047(filename)
    return InboundAttachment(
        filename=sanitize_filename(filename, ctype),
        content_type=ctype,
        data=data,
        content_id=normalize_message_id(content_id),
    )


_NOT_HEADER_NAME = re.compile(r"[^\x21-\x7e]")


def audit_headers(pairs: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    audit = []
    for name, value in pairs[:MAX_HEADERS]:
        name = _NOT_HEADER_NAME.sub("", clean_text(name))[:MAX_HEADER_NAME]
        if name:
            audit.append((name, decode_rfc2047(value)[:MAX_HEADER_VALUE]))
    return tuple(audit)


# Where a mail reader looks for the sender when From names nobody, in this order.
FALLBACK_SENDERS = (("Sender", "sender"), ("Reply-To", "reply_to"), ("Return-Path", "return_path"))


def choose_sender(
    headers: list[tuple[str, str]],
    *,
    provider_sender: tuple[str, str] | None = None,
    return_path: str | None = None,
) -> tuple[str, str, str | None]:
    """(name, address, where it came from) of the sender: the provider's own From field, the
    first usable From header (several are tried in order), then Sender, Reply-To, Return-Path
    (or the envelope sender); where is None for the first From. ("", "", None) for nobody."""
    if provider_sender and provider_sender[1]:
        return provider_sender[0], provider_sender[1], None
    for index, value in enumerate(header_values(headers, "From")):
        name, address = parse_address(value)
        if address:
            return name, address, None if index == 0 else "from"
    for header, source in FALLBACK_SENDERS:
        values = header_values(headers, header)
        if header == "Return-Path" and return_path:
            values.append(return_path)
        for value in values:
            name, address = parse_address(value)
            if address:
                return name, address, source
    return "", "", None


def _sender(
    provider: str,
    headers: list[tuple[str, str]],
    *,
    sender: tuple[str, str] | None,
    return_path: str | None,
    given: str | None,
) -> tuple[str, str, str | None]:
    """(name, address, where it came from): the address staff gave, else the headers'."""
    if given is not None:
        return "", normalize_address(given), "staff"
    from_name, from_email, source = choose_sender(
        headers, provider_sender=sender, return_path=return_path
    )
    if not from_email:
        raise NoSender(
            f"{provider}: no valid sender address (From, Sender, Reply-To or Return-Path)"
        )
    return from_name, from_email, source


def assemble(
    *,
    provider: str,
    provider_id: str | None,
    headers: list[tuple[str, str]],
    text_parts: list[str],
    html_parts: list[str],
    attachments: list[InboundAttachment],
    stripped_text: str | None = None,
    sender: tuple[str, str] | None = None,
    to: tuple[str, ...] = (),
    subject: str | None = None,
    date: datetime | None = None,
    return_path: str | None = None,
    given_sender: str | None = None,
    raw: bytes | None = None,
) -> InboundEmail:
    """Build the value; explicit provider fields win, headers fill the gaps.

    `given_sender` is the address staff gave when retrying a quarantined delivery: it is the
    sender, whatever the headers say. `raw` is the message's bytes, when it came whole.
    """
    from_name, from_email, sender_source = _sender(
        provider, headers, sender=sender, return_path=return_path, given=given_sender
    )
    html_raw = "\n".join(part for part in html_parts if part and part.strip())
    text = join_text_parts(text_parts)
    if not text and html_raw:
        text = html_to_text(html_raw)
    hint = tidy_body(stripped_text) if stripped_text else ""
    if subject is None:
        subject = header_value(headers, "Subject")

    unfolded = [(name, unfold(clean_text(value))) for name, value in headers]
    auto_reason = detect_automatic(unfolded, from_email=from_email, return_path=return_path)
    email = InboundEmail(
        message_id=normalize_message_id(header_value(headers, "Message-ID")),
        provider=provider,
        provider_id=(clean_text(provider_id).strip()[:MAX_PROVIDER_ID] or None)
        if provider_id
        else None,
        from_email=from_email,
        from_name=from_name[:MAX_NAME],
        to=to or parse_addresses(header_values(headers, "To")),
        subject=decode_subject(subject),
        text=text,
        text_stripped=strip_quoted_reply(hint or text),
        html=sanitize_html(html_raw) if html_raw else None,
        in_reply_to=parse_message_ids(header_values(headers, "In-Reply-To")),
        references=parse_message_ids(header_values(headers, "References")),
        date=date or parse_date(header_value(headers, "Date")),
        auto_submitted=auto_reason is not None,
        auto_reason=auto_reason,
        attachments=tuple(attachments[:MAX_ATTACHMENTS]),
        headers=audit_headers(headers),
        sender_source=sender_source,
    )
    if email.message_id or email.provider_id:
        return email
    return replace(email, provider_id=content_identity(email, raw))


def content_identity(email: InboundEmail, raw: bytes | None) -> str:
    """What tells a redelivery of a message without a Message-ID or a provider's id (P1): the
    SHA-256 of its bytes, or of its sender, date, subject, body and files when it came parsed."""
    if raw is None:
        fields = [email.from_email, email.date.isoformat() if email.date else "", email.subject]
        files = [attachment.sha256 for attachment in email.attachments]
        raw = json.dumps([*fields, email.text, email.html or "", files]).encode("ascii")
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def parse_mime_email(
    raw: Any,
    *,
    provider: str,
    id_from_message_id: bool = False,
    return_path: str | None = None,
    given_sender: str | None = None,
) -> InboundEmail:
    if not isinstance(raw, str | bytes | bytearray | memoryview):
        raise MalformedEmail(f"{provider}: the raw message must be bytes")
    data = to_bytes(raw)
    try:
        parsed = parse_mime(data)
    except MalformedEmail as error:
        raise MalformedEmail(f"{provider}: {error}") from None
    attachments = [
        make_attachment(part.filename, part.content_type, part.data, part.content_id)
        for part in parsed.attachments[:MAX_ATTACHMENTS]
    ]
    message_id = normalize_message_id(header_value(parsed.headers, "Message-ID"))
    return assemble(
        provider=provider,
        provider_id=message_id if id_from_message_id else None,
        headers=parsed.headers,
        text_parts=parsed.text_parts,
        html_parts=parsed.html_parts,
        attachments=attachments,
        return_path=return_path,
        given_sender=given_sender,
        raw=data,
    )


def text_field(fields: Fields, name: str, charset: str | None = None) -> str | None:
    """A form field as text: bytes decoded in `charset`, lists reduced to their first item."""
    value = fields.get(name)
    if isinstance(value, list | tuple):
        value = next((item for item in value if isinstance(item, str | bytes)), None)
    if isinstance(value, bytes | bytearray):
        return decode_bytes(bytes(value), charset or "utf-8")
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def text_fields(fields: Fields, name: str, charset: str | None = None) -> list[str]:
    value = fields.get(name)
    items = list(value) if isinstance(value, list | tuple) else [value]
    texts = []
    for item in items:
        if isinstance(item, bytes | bytearray):
            texts.append(decode_bytes(bytes(item), charset or "utf-8"))
        elif isinstance(item, str):
            texts.append(clean_text(item))
    return texts


def json_field(fields: Fields, name: str) -> Any:
    text = text_field(fields, name)
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def raw_field(fields: Fields, files: Sequence[UploadedFile], name: str) -> Any:
    value = fields.get(name)
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None:
        value = next(
            (f.data for f in files if isinstance(f, UploadedFile) and f.field_name == name), None
        )
    return value


def numbered_files(files: Sequence[UploadedFile], prefix: str) -> list[tuple[str, UploadedFile]]:
    """Files named `prefix`1, `prefix`2, ... in numeric order."""
    pattern = re.compile(re.escape(prefix) + r"(\d{1,6})")
    numbered = []
    for upload in files or ():
        if not isinstance(upload, UploadedFile) or not isinstance(upload.field_name, str):
            continue
        match = pattern.fullmatch(upload.field_name)
        if match and isinstance(upload.data, bytes | bytearray):
            numbered.append((int(match.group(1)), upload.field_name, upload))
    numbered.sort(key=lambda item: item[0])
    return [(name, upload) for _, name, upload in numbered[:MAX_ATTACHMENTS]]


def string_map(value: Any) -> dict[str, Any]:
    return {k: v for k, v in value.items() if isinstance(k, str)} if isinstance(value, dict) else {}


def posted_files(
    provider: str, fields: Fields, files: Sequence[UploadedFile]
) -> list[UploadedFile]:
    """The files of a form-posting provider, once its fields are known to be a mapping."""
    if not isinstance(fields, Mapping):
        raise MalformedEmail(f"{provider}: fields must be a mapping")
    return [f for f in files or () if isinstance(f, UploadedFile)]


def sender_and_subject(
    headers: list[tuple[str, str]], from_field: str | None, subject_field: str | None
) -> tuple[tuple[str, str], str | None]:
    """From and Subject as the header section has them, else as the provider's own fields do."""
    sender = parse_address(header_value(headers, "From"))
    if not sender[1]:
        sender = parse_address(from_field)
    subject = header_value(headers, "Subject")
    return sender, subject if subject is not None else subject_field
