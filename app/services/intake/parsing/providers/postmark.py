"""Postmark's inbound webhook JSON."""

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from app.services.intake.parsing.content import clean_text
from app.services.intake.parsing.headers import (
    decode_subject,
    normalize_address,
    parse_address,
    parse_addresses,
    parse_date,
)
from app.services.intake.parsing.model import (
    MAX_ATTACHMENTS,
    MAX_NAME,
    InboundAttachment,
    InboundEmail,
    MalformedEmail,
)
from app.services.intake.parsing.providers._shared import (
    assemble,
    make_attachment,
)


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
    return make_attachment(
        _str(entry.get("Name")), _str(entry.get("ContentType")), data, _str(entry.get("ContentID"))
    )


def from_postmark(payload: Mapping[str, Any], *, given_sender: str | None = None) -> InboundEmail:
    """An email from a Postmark inbound webhook JSON document (already decoded from JSON)."""
    if not isinstance(payload, Mapping):
        raise MalformedEmail("postmark: the payload must be a JSON object")
    record_type = payload.get("RecordType")
    if record_type is not None and record_type != "Inbound":
        raise MalformedEmail(f"postmark: not an inbound webhook (RecordType={record_type!r})")
    if "FromFull" not in payload and "From" not in payload and given_sender is None:
        raise MalformedEmail("postmark: missing FromFull/From")

    headers = []
    raw_headers_list = payload.get("Headers")
    for entry in raw_headers_list if isinstance(raw_headers_list, list) else []:
        if isinstance(entry, Mapping):
            name, value = entry.get("Name"), entry.get("Value")
            if isinstance(name, str) and isinstance(value, str):
                headers.append((name, value))
    reply_to = _str(payload.get("ReplyTo"))
    if reply_to and not any(name.lower() == "reply-to" for name, _ in headers):
        headers.append(("Reply-To", reply_to))  # a sender of last resort (see choose_sender)

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
    return assemble(
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
        given_sender=given_sender,
    )
