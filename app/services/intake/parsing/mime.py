"""RFC 5322/MIME parsing with the stdlib `email` package: a message's headers, its body text
and its attachments (the text in them decoded by parsing.headers).

Nothing here raises on bad input except `parse_mime`, which raises only MalformedEmail.
"""

import email.utils
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import Any

from app.services.intake.parsing.content import clean_text, tidy_body
from app.services.intake.parsing.headers import (
    decode_bytes,
    decode_rfc2047,
    normalize_message_id,
    undo_surrogateescape,
)
from app.services.intake.parsing.model import (
    MAX_MIME_DEPTH,
    MAX_MIME_PARTS,
    MalformedEmail,
)
from app.services.intake.parsing.tolerant import (
    TOLERANT,
    regroup_reused_boundaries,
    repair_header_section,
)

# --- MIME structure -------------------------------------------------------------------------


@dataclass
class MimePart:
    """A leaf that is not body text: what becomes an attachment."""

    filename: str | None
    content_type: str
    data: bytes
    content_id: str | None = None


@dataclass
class ParsedMime:
    """What a MIME message holds, before normalisation into an InboundEmail."""

    headers: list[tuple[str, str]]
    text_parts: list[str] = field(default_factory=list)
    html_parts: list[str] = field(default_factory=list)
    attachments: list[MimePart] = field(default_factory=list)


def _safe(call: Callable[[], Any], default: Any) -> Any:
    """call(), or `default` if the email package trips over a malformed part."""
    try:
        return call()
    except Exception:
        return default


def raw_headers(message: Message) -> list[tuple[str, str]]:
    """(name, raw value) pairs in order, without the policy's header parsing."""
    pairs: list[tuple[str, str]] = []
    items: list[tuple[Any, Any]] = _safe(lambda: list(message.raw_items()), [])
    for name, value in items:
        if isinstance(name, str):
            pairs.append((name, value if isinstance(value, str) else str(value)))
    return pairs


def header_value(pairs: list[tuple[str, str]], name: str) -> str | None:
    """The first raw value of header `name` (case-insensitive) in `pairs`."""
    wanted = name.lower()
    return next((value for key, value in pairs if key.strip().lower() == wanted), None)


def header_values(pairs: list[tuple[str, str]], name: str) -> list[str]:
    """Every raw value of header `name` (case-insensitive) in `pairs`."""
    wanted = name.lower()
    return [value for key, value in pairs if key.strip().lower() == wanted]


def _content_type(part: Message) -> str:
    return _safe(part.get_content_type, "application/octet-stream").lower()


def _payload_bytes(part: Message) -> bytes:
    payload = _safe(lambda: part.get_payload(decode=True), None)
    return payload if isinstance(payload, bytes) else b""


def _filename(part: Message) -> str | None:
    name: Any = _safe(part.get_filename, None)
    if not name:
        param: Any = _safe(lambda: part.get_param("name"), None)
        if isinstance(param, tuple):  # an RFC 2231 triple the policy did not collapse
            param = _safe(lambda: email.utils.collapse_rfc2231_value(param), None)
        name = param
    if not isinstance(name, str) or not name:
        return None
    return decode_rfc2047(name) if "=?" in name else clean_text(name)


def _message_bytes(message: Message) -> bytes:
    data = _safe(lambda: message.as_bytes(policy=policy.compat32), b"")
    return data if isinstance(data, bytes) else b""


def _embedded_message_bytes(part: Message) -> bytes:
    payload = _safe(part.get_payload, None)
    if isinstance(payload, list):
        chunks = [_message_bytes(sub) for sub in payload if isinstance(sub, Message)]
        return b"".join(chunks)
    return _payload_bytes(part)


def _leaves(message: Message) -> Iterator[tuple[Message, bool]]:
    """Depth-first leaves, (part, is_embedded_message); embedded messages are not entered."""
    stack: list[tuple[Message, int]] = [(message, 0)]
    seen = 0
    while stack and seen < MAX_MIME_PARTS:
        part, depth = stack.pop()
        seen += 1
        ctype = _content_type(part)
        if depth > 0 and ctype.startswith("message/"):
            yield part, True
            continue
        if _safe(part.is_multipart, False):
            children = _safe(part.get_payload, [])
            if isinstance(children, list) and depth < MAX_MIME_DEPTH:
                stack.extend(
                    (child, depth + 1) for child in reversed(children) if isinstance(child, Message)
                )
            continue
        yield part, False


# A boundary as declared in a Content-Type, and a line that may be one: "--" then the rest.
_BOUNDARY = re.compile(rb'boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))', re.IGNORECASE)
_DASHES = re.compile(rb"^--([^\r\n]*)\r?$", re.MULTILINE)


def check_structure(raw: bytes) -> None:
    """Refuse, before parsing, a message with more parts than MAX_MIME_PARTS or nested deeper
    than MAX_MIME_DEPTH: the stdlib parser spends half a millisecond on each part (a 259 KB
    message of 7,000 empty parts took 2.5 s, one of 25 MB would take minutes) and checks each
    line against every boundary open around it. A line counts as the parser counts it: "--",
    a boundary declared somewhere in the message, maybe "--" again and blanks."""
    declared = {quoted or bare for quoted, bare in _BOUNDARY.findall(raw)}
    if not declared:
        return
    parts = 0
    around: list[bytes] = []  # the boundaries open around the line, outermost first
    for match in _DASHES.finditer(raw):
        line = match.group(1).rstrip(b" \t")
        closing = line not in declared and line.endswith(b"--") and line[:-2] in declared
        name = line[:-2] if closing else line
        if name not in declared:
            continue
        parts += 1
        if parts > MAX_MIME_PARTS:
            raise MalformedEmail(f"more than {MAX_MIME_PARTS} MIME parts")
        if name in around:  # the next part, or the end: what was nested in it is over
            del around[around.index(name) + (0 if closing else 1) :]
        elif not closing:
            around.append(name)
            if len(around) > MAX_MIME_DEPTH:
                raise MalformedEmail(f"MIME parts nested more than {MAX_MIME_DEPTH} deep")


def parse_headers(raw: bytes) -> list[tuple[str, str]]:
    """The header section of raw RFC 5322 bytes alone (the body is not parsed, whatever its
    structure); empty when there is none."""
    try:
        message = BytesParser(policy=TOLERANT).parsebytes(
            repair_header_section(raw), headersonly=True
        )
    except Exception:  # the feed parser is tolerant; this is a last resort
        return []
    return [(name, undo_surrogateescape(value)) for name, value in raw_headers(message)]


def parse_mime(raw: bytes) -> ParsedMime:
    """Split raw RFC 5322 bytes into headers, body texts and attachments.

    Raises MalformedEmail when `raw` has no header section at all, or a structure too costly
    to parse (`check_structure`).
    """
    if not raw or not raw.strip():
        raise MalformedEmail("empty message")
    check_structure(raw)
    try:
        message = BytesParser(policy=TOLERANT).parsebytes(repair_header_section(raw))
    except Exception as exc:  # the feed parser is tolerant; this is a last resort
        raise MalformedEmail(f"not a MIME message: {exc.__class__.__name__}") from exc
    _safe(lambda: regroup_reused_boundaries(message), None)
    headers = raw_headers(message)
    if not headers:
        raise MalformedEmail("not a MIME message: no header section")
    leaves = list(_leaves(message))
    body_charsets = (_body_charset(part) for part, embedded in leaves if not embedded)
    declared = next((charset for charset in body_charsets if charset), None)
    parsed = ParsedMime(
        headers=[(name, undo_surrogateescape(value, declared)) for name, value in headers]
    )
    for part, embedded in leaves:
        ctype = _content_type(part)
        if embedded:
            data = _embedded_message_bytes(part)
            parsed.attachments.append(MimePart(_filename(part), ctype, data, _content_id(part)))
            continue
        if ctype.startswith("multipart/"):
            # Its boundary is nowhere in its body, so it could not be split: a mail reader shows
            # that body as text, and so do we (never as an opaque attachment).
            parsed.text_parts.append(decode_bytes(_payload_bytes(part), None))
            continue
        if _is_body_text(part, ctype):
            text = decode_bytes(_payload_bytes(part), _safe(part.get_content_charset, None))
            (parsed.text_parts if ctype == "text/plain" else parsed.html_parts).append(text)
            continue
        parsed.attachments.append(
            MimePart(_filename(part), ctype, _payload_bytes(part), _content_id(part))
        )
    return parsed


def _is_body_text(part: Message, ctype: str) -> bool:
    """A text or HTML part a reader shows as the message (not one offered as a file)."""
    if ctype not in {"text/plain", "text/html"}:
        return False
    return _safe(part.get_content_disposition, None) != "attachment" and not _filename(part)


def _body_charset(part: Message) -> str | None:
    """The charset a body text part declares; None for any other part."""
    if not _is_body_text(part, _content_type(part)):
        return None
    charset: Any = _safe(part.get_content_charset, None)
    return charset if isinstance(charset, str) else None


def _content_id(part: Message) -> str | None:
    return normalize_message_id(header_value(raw_headers(part), "Content-ID"))


def join_text_parts(parts: list[str]) -> str:
    """Body text parts joined in order (Apple Mail splits a body around inline images)."""
    return "\n\n".join(text for text in (tidy_body(part) for part in parts) if text)
