"""Inbound email: pure functions from provider payloads to InboundEmail values.

No database, no HTTP framework, no clock. Every adapter returns an InboundEmail or raises
MalformedEmail.
"""

from app.services.intake.parsing.content import (
    clean_text,
    detect_automatic,
    extract_ticket_tag,
    html_to_text,
    sanitize_filename,
    sanitize_html,
    strip_quoted_reply,
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
)
from app.services.intake.parsing.model import (
    InboundAttachment,
    InboundEmail,
    MalformedEmail,
    NoSender,
    UploadedFile,
)
from app.services.intake.parsing.providers import (
    clean_content_type,
    from_mailgun,
    from_mime,
    from_postmark,
    from_sendgrid,
)
from app.services.intake.parsing.signatures import check_basic_auth, verify_mailgun_signature

__all__ = [
    "InboundAttachment",
    "InboundEmail",
    "MalformedEmail",
    "NoSender",
    "UploadedFile",
    "check_basic_auth",
    "clean_content_type",
    "clean_text",
    "decode_bytes",
    "decode_rfc2047",
    "decode_subject",
    "detect_automatic",
    "extract_ticket_tag",
    "from_mailgun",
    "from_mime",
    "from_postmark",
    "from_sendgrid",
    "html_to_text",
    "normalize_address",
    "normalize_message_id",
    "parse_address",
    "parse_addresses",
    "parse_date",
    "parse_message_ids",
    "sanitize_filename",
    "sanitize_html",
    "strip_quoted_reply",
    "verify_mailgun_signature",
]
