"""A raw RFC 5322 message (message/rfc822), from any relay."""

from app.services.intake.parsing.model import (
    InboundEmail,
)
from app.services.intake.parsing.providers._shared import (
    parse_mime_email,
)


def from_mime(
    raw: bytes, *, provider: str = "mime", given_sender: str | None = None
) -> InboundEmail:
    """An email from raw RFC 5322 bytes (message/rfc822); `given_sender`, staff's word for
    who sent it, wins over its headers."""
    return parse_mime_email(raw, provider=provider, given_sender=given_sender)
