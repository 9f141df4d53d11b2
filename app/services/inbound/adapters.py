"""One function per provider: its documented payload in, an InboundEmail out.

Each returns an InboundEmail or raises MalformedEmail; no other exception escapes.
Provider formats (see tests/fixtures/inbound/README.md for the pages):
- Mailgun routes forward(): parsed fields, or raw MIME in `body-mime` for URLs ending in "mime";
- SendGrid Inbound Parse: default (parsed) fields, or raw MIME in `email` ("POST the raw, full
  MIME message");
- Postmark inbound webhook JSON.
"""

import base64
import binascii
import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from email import policy
from email.parser import BytesParser
from typing import Any, ParamSpec, TypeVar

from app.services.inbound.content import (
    clean_text,
    detect_automatic,
    html_to_text,
    sanitize_filename,
    sanitize_html,
    strip_quoted_reply,
    tidy_body,
)
from app.services.inbound.mime import (
    decode_bytes,
    decode_rfc2047,
    decode_subject,
    header_value,
    header_values,
    join_text_parts,
    normalize_address,
    normalize_message_id,
    parse_address,
    parse_addresses,
    parse_date,
    parse_message_ids,
    parse_mime,
    raw_headers,
    to_bytes,
    unfold,
)
from app.services.inbound.model import (
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
    UploadedFile,
)

P = ParamSpec("P")
R = TypeVar("R")

Fields = Mapping[str, Any]


def _never_raises_other(provider: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Turn any unexpected exception into MalformedEmail (a safety net, not the plan)."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return function(*args, **kwargs)
            except (MalformedEmail, MemoryError):
                raise
            except Exception as exc:
                raise MalformedEmail(
                    f"{provider}: unreadable payload ({exc.__class__.__name__})"
                ) from exc

        return wrapper

    return decorate


# --- shared assembly ------------------------------------------------------------------------

_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


def _content_type(value: str | None) -> str:
    if not isinstance(value, str):
        return "application/octet-stream"
    value = value.split(";", 1)[0].strip().lower()
    if len(value) > MAX_CONTENT_TYPE or not _CONTENT_TYPE.match(value):
        return "application/octet-stream"
    return value


def _attachment(
    filename: str | None, content_type: str | None, data: bytes, content_id: str | None = None
) -> InboundAttachment:
    ctype = _content_type(content_type)
    if isinstance(filename, str) and "=?" in filename:
        filename = decode_rfc2047(filename)
    return InboundAttachment(
        filename=sanitize_filename(filename, ctype),
        content_type=ctype,
        data=data,
        content_id=normalize_message_id(content_id),
    )


_NOT_HEADER_NAME = re.compile(r"[^\x21-\x7e]")


def _audit_headers(pairs: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    audit = []
    for name, value in pairs[:MAX_HEADERS]:
        name = _NOT_HEADER_NAME.sub("", clean_text(name))[:MAX_HEADER_NAME]
        if name:
            audit.append((name, decode_rfc2047(value)[:MAX_HEADER_VALUE]))
    return tuple(audit)


def _assemble(
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
) -> InboundEmail:
    """Build the value; explicit provider fields win, headers fill the gaps."""
    from_name, from_email = sender if sender and sender[1] else ("", "")
    if not from_email:
        from_name, from_email = parse_address(header_value(headers, "From"))
    if not from_email:
        from_name, from_email = parse_address(header_value(headers, "Sender"))
    if not from_email:
        raise MalformedEmail(f"{provider}: no valid sender (From) address")

    html_raw = "\n".join(part for part in html_parts if part and part.strip())
    text = join_text_parts(text_parts)
    if not text and html_raw:
        text = html_to_text(html_raw)
    hint = tidy_body(stripped_text) if stripped_text else ""
    if subject is None:
        subject = header_value(headers, "Subject")

    unfolded = [(name, unfold(clean_text(value))) for name, value in headers]
    auto_reason = detect_automatic(unfolded, from_email=from_email, return_path=return_path)
    return InboundEmail(
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
        headers=_audit_headers(headers),
    )


def _parse_mime_email(
    raw: Any, *, provider: str, id_from_message_id: bool = False, return_path: str | None = None
) -> InboundEmail:
    if not isinstance(raw, str | bytes | bytearray | memoryview):
        raise MalformedEmail(f"{provider}: the raw message must be bytes")
    try:
        parsed = parse_mime(to_bytes(raw))
    except MalformedEmail as error:
        raise MalformedEmail(f"{provider}: {error}") from None
    attachments = [
        _attachment(part.filename, part.content_type, part.data, part.content_id)
        for part in parsed.attachments[:MAX_ATTACHMENTS]
    ]
    message_id = normalize_message_id(header_value(parsed.headers, "Message-ID"))
    return _assemble(
        provider=provider,
        provider_id=message_id if id_from_message_id else None,
        headers=parsed.headers,
        text_parts=parsed.text_parts,
        html_parts=parsed.html_parts,
        attachments=attachments,
        return_path=return_path,
    )


# --- form fields ----------------------------------------------------------------------------


def _field(fields: Fields, name: str, charset: str | None = None) -> str | None:
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


def _field_all(fields: Fields, name: str, charset: str | None = None) -> list[str]:
    value = fields.get(name)
    items = list(value) if isinstance(value, list | tuple) else [value]
    texts = []
    for item in items:
        if isinstance(item, bytes | bytearray):
            texts.append(decode_bytes(bytes(item), charset or "utf-8"))
        elif isinstance(item, str):
            texts.append(clean_text(item))
    return texts


def _json_field(fields: Fields, name: str) -> Any:
    text = _field(fields, name)
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _raw_field(fields: Fields, files: Sequence[UploadedFile], name: str) -> Any:
    value = fields.get(name)
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None:
        value = next(
            (f.data for f in files if isinstance(f, UploadedFile) and f.field_name == name), None
        )
    return value


def _numbered_files(files: Sequence[UploadedFile], prefix: str) -> list[tuple[str, UploadedFile]]:
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


def _string_map(value: Any) -> dict[str, Any]:
    return {k: v for k, v in value.items() if isinstance(k, str)} if isinstance(value, dict) else {}


# --- Mailgun --------------------------------------------------------------------------------

# Headers Mailgun also posts as top-level fields; used when `message-headers` lacks them.
_MAILGUN_HEADER_FIELDS = (
    "From", "To", "Cc", "Subject", "Date", "Message-Id", "In-Reply-To", "References",
    "Auto-Submitted", "Precedence", "List-Id", "Return-Path", "X-Autoreply", "X-Autorespond",
    "Content-Type", "Sender", "Reply-To",
)  # fmt: skip


def _mailgun_headers(fields: Fields) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    if fields.get("message-headers") is not None:
        decoded = _json_field(fields, "message-headers")
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
            value = _field(fields, name)  # case-sensitive: "sender" is the SMTP envelope
            if value:
                headers.append((name, value))
    return headers


@_never_raises_other("mailgun")
def from_mailgun(fields: Fields, files: Sequence[UploadedFile] = ()) -> InboundEmail:
    """An email from a Mailgun route forward() POST (parsed fields, or `body-mime`)."""
    if not isinstance(fields, Mapping):
        raise MalformedEmail("mailgun: fields must be a mapping")
    files = [f for f in files or () if isinstance(f, UploadedFile)]
    envelope_sender = _field(fields, "sender")
    body_mime = _raw_field(fields, files, "body-mime")
    if body_mime is not None:
        return _parse_mime_email(
            body_mime, provider="mailgun", id_from_message_id=True, return_path=envelope_sender
        )
    if fields.get("attachments") is not None and fields.get("attachment-count") is None:
        raise MalformedEmail(
            "mailgun: this is a store() notification (attachments are URLs); use forward()"
        )

    headers = _mailgun_headers(fields)
    if not headers and not _field(fields, "from"):
        raise MalformedEmail("mailgun: neither message-headers nor from/body-mime fields")
    content_ids: dict[str, str] = {}
    for cid, field_name in _string_map(_json_field(fields, "content-id-map")).items():
        if isinstance(field_name, str):
            content_ids[field_name] = cid
    attachments = [
        _attachment(upload.filename, upload.content_type, bytes(upload.data), content_ids.get(name))
        for name, upload in _numbered_files(files, "attachment-")
    ]
    sender = parse_address(header_value(headers, "From")) if header_value(headers, "From") else None
    if not sender or not sender[1]:
        sender = parse_address(_field(fields, "from"))
    subject = header_value(headers, "Subject")
    if subject is None:
        subject = _field(fields, "subject")
    to = parse_addresses(header_values(headers, "To")) or parse_addresses(
        [_field(fields, "recipient") or ""]
    )
    return _assemble(
        provider="mailgun",
        provider_id=normalize_message_id(header_value(headers, "Message-Id")),
        headers=headers,
        text_parts=[_field(fields, "body-plain") or ""],
        html_parts=_field_all(fields, "body-html"),
        attachments=attachments,
        stripped_text=_field(fields, "stripped-text"),
        sender=sender,
        to=to,
        subject=subject,
        return_path=envelope_sender,
    )


# --- SendGrid -------------------------------------------------------------------------------


def _header_block(text: str) -> list[tuple[str, str]]:
    data = to_bytes(text).strip(b"\r\n") + b"\r\n\r\n"
    try:
        message = BytesParser(policy=policy.default).parsebytes(data, headersonly=True)
    except Exception:
        return []
    return raw_headers(message)


@_never_raises_other("sendgrid")
def from_sendgrid(fields: Fields, files: Sequence[UploadedFile] = ()) -> InboundEmail:
    """An email from a SendGrid Inbound Parse POST (default fields, or raw MIME in `email`)."""
    if not isinstance(fields, Mapping):
        raise MalformedEmail("sendgrid: fields must be a mapping")
    files = [f for f in files or () if isinstance(f, UploadedFile)]
    envelope = _string_map(_json_field(fields, "envelope"))
    envelope_from = envelope.get("from") if isinstance(envelope.get("from"), str) else None
    raw_email = _raw_field(fields, files, "email")
    if raw_email is not None and fields.get("headers") is None:
        return _parse_mime_email(raw_email, provider="sendgrid", return_path=envelope_from)
    if fields.get("headers") is None:
        raise MalformedEmail("sendgrid: neither 'headers' (default mode) nor 'email' (raw mode)")

    charsets = {k: v for k, v in _string_map(_json_field(fields, "charsets")).items() if v}
    headers = _header_block(_field(fields, "headers", charsets.get("headers")) or "")
    info = _string_map(_json_field(fields, "attachment-info"))
    content_ids = {
        name: cid
        for cid, name in _string_map(_json_field(fields, "content-ids")).items()
        if isinstance(name, str)
    }
    attachments = []
    for name, upload in _numbered_files(files, "attachment"):
        meta = _string_map(info.get(name))
        filename = meta.get("filename") if isinstance(meta.get("filename"), str) else None
        ctype = meta.get("type") if isinstance(meta.get("type"), str) else None
        cid = meta.get("content-id") if isinstance(meta.get("content-id"), str) else None
        attachments.append(
            _attachment(
                filename or upload.filename,
                ctype or upload.content_type,
                bytes(upload.data),
                cid or content_ids.get(name),
            )
        )

    sender = parse_address(header_value(headers, "From"))
    if not sender[1]:
        sender = parse_address(_field(fields, "from", charsets.get("from")))
    subject = header_value(headers, "Subject")
    if subject is None:
        subject = _field(fields, "subject", charsets.get("subject"))
    envelope_to: list[Any] = envelope["to"] if isinstance(envelope.get("to"), list) else []
    to = (
        parse_addresses(header_values(headers, "To"))
        or parse_addresses([_field(fields, "to", charsets.get("to")) or ""])
        or parse_addresses([item for item in envelope_to if isinstance(item, str)])
    )
    return _assemble(
        provider="sendgrid",
        provider_id=None,
        headers=headers,
        text_parts=[_field(fields, "text", charsets.get("text")) or ""],
        html_parts=_field_all(fields, "html", charsets.get("html")),
        attachments=attachments,
        sender=sender,
        to=to,
        subject=subject,
        return_path=envelope_from,
    )


# --- Postmark -------------------------------------------------------------------------------


def _str(value: Any) -> str | None:
    return clean_text(value) if isinstance(value, str) else None


def _postmark_attachment(entry: Any, index: int) -> InboundAttachment:
    if not isinstance(entry, Mapping):
        raise MalformedEmail(f"postmark: Attachments[{index}] is not an object")
    content = entry.get("Content")
    if content is None:
        content = entry.get("Data")  # Postmark's "test webhook" button sends Data
    if not isinstance(content, str):
        raise MalformedEmail(f"postmark: Attachments[{index}] has no base64 Content")
    try:
        data = base64.b64decode("".join(content.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedEmail(f"postmark: Attachments[{index}].Content is not base64") from exc
    return _attachment(
        _str(entry.get("Name")), _str(entry.get("ContentType")), data, _str(entry.get("ContentID"))
    )


@_never_raises_other("postmark")
def from_postmark(payload: Mapping[str, Any]) -> InboundEmail:
    """An email from a Postmark inbound webhook JSON document (already decoded from JSON)."""
    if not isinstance(payload, Mapping):
        raise MalformedEmail("postmark: the payload must be a JSON object")
    record_type = payload.get("RecordType")
    if record_type is not None and record_type != "Inbound":
        raise MalformedEmail(f"postmark: not an inbound webhook (RecordType={record_type!r})")
    if "FromFull" not in payload and "From" not in payload:
        raise MalformedEmail("postmark: missing FromFull/From")

    headers = []
    raw_headers_list = payload.get("Headers")
    for entry in raw_headers_list if isinstance(raw_headers_list, list) else []:
        if isinstance(entry, Mapping):
            name, value = entry.get("Name"), entry.get("Value")
            if isinstance(name, str) and isinstance(value, str):
                headers.append((name, value))

    from_full = payload.get("FromFull")
    sender: tuple[str, str] = ("", "")
    if isinstance(from_full, Mapping):
        name = _str(from_full.get("Name")) or ""
        sender = (decode_subject(name)[:MAX_NAME], normalize_address(_str(from_full.get("Email"))))
    if not sender[1]:
        sender = parse_address(_str(payload.get("From")))

    to_full = payload.get("ToFull")
    to = tuple(
        dict.fromkeys(
            address
            for entry in (to_full if isinstance(to_full, list) else [])
            if isinstance(entry, Mapping)
            and (address := normalize_address(_str(entry.get("Email")))) != ""
        )
    ) or parse_addresses([_str(payload.get("To")) or ""])

    raw_attachments = payload.get("Attachments")
    if raw_attachments is not None and not isinstance(raw_attachments, list):
        raise MalformedEmail("postmark: Attachments is not a list")
    attachments = [
        _postmark_attachment(entry, index)
        for index, entry in enumerate((raw_attachments or [])[:MAX_ATTACHMENTS])
    ]
    return _assemble(
        provider="postmark",
        provider_id=_str(payload.get("MessageID")),
        headers=headers,
        text_parts=[_str(payload.get("TextBody")) or ""],
        html_parts=[_str(payload.get("HtmlBody")) or ""],
        attachments=attachments,
        stripped_text=_str(payload.get("StrippedTextReply")),
        sender=sender,
        to=to,
        subject=_str(payload.get("Subject")),
        date=parse_date(_str(payload.get("Date"))),
    )


# --- raw MIME -------------------------------------------------------------------------------


def from_mime(raw: bytes, *, provider: str = "mime") -> InboundEmail:
    """An email from raw RFC 5322 bytes (message/rfc822)."""

    @_never_raises_other(provider)
    def parse() -> InboundEmail:
        return _parse_mime_email(raw, provider=provider)

    return parse()
