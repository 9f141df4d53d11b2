"""Tolerant decoders of what an email carries as text: bytes in a declared (or guessed)
charset, RFC 2047 encoded words, addresses, Message-IDs and dates. None of them raises on bad
input; each bounds what it returns (parsing.model's limits).
"""

import base64
import binascii
import codecs
import email.utils
import re
from datetime import UTC, datetime

from app.services.intake.parsing.charsets import codec_of_label, encoding_of, sniff_bom
from app.services.intake.parsing.content import clean_text
from app.services.intake.parsing.model import (
    MAX_EMAIL,
    MAX_IDS,
    MAX_MESSAGE_ID,
    MAX_NAME,
    MAX_RECIPIENTS,
    MAX_SUBJECT,
)

# --- bytes and charsets ---------------------------------------------------------------------

_NO_CHARSET = frozenset(
    {"", "unknown-8bit", "x-unknown", "unknown", "8bit", "default", "x-user-defined"}
)
# Labels that claim 7-bit ASCII: an 8-bit byte proves them wrong, and what hides behind them
# is most often UTF-8, so UTF-8 is tried before the standard's Windows-1252.
_ASCII_LABELS = frozenset({"ascii", "us-ascii", "ansi_x3.4-1968"})


def _codec_name(charset: str | None) -> str | None:
    if not charset or not isinstance(charset, str):
        return None
    name = charset.strip().strip("\"'").split("*", 1)[0].strip().lower()
    if name in _NO_CHARSET or name in _ASCII_LABELS or len(name) > 40:
        return None
    standard = codec_of_label(name)  # the WHATWG label table, as mail readers decode
    if standard is not None or encoding_of(name) is not None:
        return standard
    try:  # a label outside the standard's table that Python still knows (cp850, utf-7...)
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    # bytes-to-bytes codecs ("base64", "zlib") are not text encodings
    return info.name if getattr(info, "_is_text_encoding", True) else None


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Bytes as text in `charset` read through the WHATWG label table (a byte order mark wins);
    unknown charsets guess UTF-8 then Windows-1252. Never raises."""
    bom = sniff_bom(data)
    codec = bom[0] if bom else _codec_name(charset)
    if bom:
        data = data[bom[1] :]
    if codec:
        try:
            return clean_text(data.decode(codec))
        except Exception:
            try:
                return clean_text(data.decode(codec, "replace"))
            except Exception:
                pass
    try:
        return clean_text(data.decode("utf-8"))
    except UnicodeDecodeError:
        return clean_text(data.decode("cp1252", "replace"))


def to_bytes(value: str | bytes | bytearray | memoryview) -> bytes:
    """Bytes of a payload that a web framework may have handed over as text."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return (
        value.encode("utf-8", "surrogateescape")
        if _is_escapable(value)
        else value.encode("utf-8", "surrogatepass")
    )


def _is_escapable(value: str) -> bool:
    try:
        value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return True


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


def undo_surrogateescape(value: str, charset: str | None = None) -> str:
    """Headers with raw 8-bit bytes arrive surrogate-escaped, and no encoded word names their
    charset: read them as UTF-8 if they are that, else in `charset` (the one the message's body
    declares, through the WHATWG table) as mail readers fall back to it, else as Windows-1252."""
    if value.isascii() or not _ESCAPED_BYTE.search(value):
        return value
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return clean_text(value)
    declared = _codec_name(charset)
    for codec in ("utf-8", declared) if declared else ("utf-8",):
        try:
            return clean_text(raw.decode(codec))
        except Exception:  # not that charset (a codec may raise more than UnicodeDecodeError)
            continue
    return clean_text(raw.decode("cp1252", "replace"))


# --- header values --------------------------------------------------------------------------

# The encoded text may hold a stray literal "?" (sloppy encoders) but never "=?" or "?=",
# which keeps matching linear even on hostile input.
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,64})\?([bBqQ])\?((?:[^?=\s]|\?(?!=)|=(?!\?(?!=)))*)\?=")
MAX_DECODED_HEADER = 16_000


_FOLD = re.compile(r"\r?\n(?=[ \t])")


def unfold(value: str) -> str:
    """A header value on one line (RFC 5322 unfolding; stray CR/LF become spaces)."""
    if "\n" not in value and "\r" not in value:
        return value
    value = _FOLD.sub("", value)
    return value.replace("\r", " ").replace("\n", " ")


def _decode_word(encoding: str, text: str) -> bytes:
    data = text.encode("ascii", "replace")
    if encoding in "bB":
        data = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
        if len(data) % 4 == 1:
            data = data[:-1]
        try:
            return base64.b64decode(data + b"=" * (-len(data) % 4))
        except (binascii.Error, ValueError):
            return text.encode("ascii", "replace")
    return binascii.a2b_qp(data, header=True)


def decode_rfc2047(value: str | None) -> str:
    """A header value with RFC 2047 encoded words decoded; bad bytes replaced, never raises."""
    if not value:
        return ""
    value = unfold(clean_text(undo_surrogateescape(value[:MAX_DECODED_HEADER])))
    if "=?" not in value:  # no encoded word: nothing to decode
        return value
    out: list[str] = []
    pending: list[tuple[str | None, bytes]] = []  # adjacent encoded words, merged per charset
    position = 0

    def flush() -> None:
        merged: list[tuple[str | None, bytes]] = []
        for charset, chunk in pending:
            if merged and merged[-1][0] == charset:
                merged[-1] = (charset, merged[-1][1] + chunk)
            else:
                merged.append((charset, chunk))
        out.extend(decode_bytes(chunk, charset) for charset, chunk in merged)
        pending.clear()

    for match in _ENCODED_WORD.finditer(value):
        gap = value[position : match.start()]
        if gap and not (pending and gap.isspace()):
            flush()
            out.append(gap)
        charset, encoding, text = match.groups()
        pending.append((charset, _decode_word(encoding, text)))
        position = match.end()
    flush()
    out.append(value[position:])
    return clean_text("".join(out))


def decode_subject(raw: str | None) -> str:
    """A Subject value decoded (RFC 2047), on one line, capped; never raises."""
    subject = decode_rfc2047(raw)
    subject = re.sub(r"[\x00-\x1f\x7f]+", " ", subject)
    return re.sub(r"\s{2,}", " ", subject).strip()[:MAX_SUBJECT]


_ADDRESS = re.compile(r"^[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+$")
_ADDRESS_IN_TEXT = re.compile(
    r"(?<![^\s<>()\[\],;:\"\\])[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+(?![^\s<>()\[\],;:\"\\])"
)


def normalize_address(address: str | None) -> str:
    """A lower-cased addr-spec, or "" when `address` does not look like one."""
    if not address or not isinstance(address, str):
        return ""
    address = clean_text(address).strip().strip("<>").strip().lower()
    if len(address) > MAX_EMAIL or not _ADDRESS.match(address):
        return ""
    return address


# A display name, then one address in angle brackets (RFC 5322 3.4 name-addr): the name may be
# anything but a comma outside quotes (a comma would make it a list of mailboxes).
_NAME_ADDR = re.compile(r'\s*((?:[^<>",]|"[^"]*")*)<([^<>\s]+)>\s*')


def _split_mailbox(value: str) -> tuple[str, str]:
    """(name, address) of one mailbox. The address in angle brackets wins, as mail readers
    read it: Python's parser takes an unquoted name that looks like an address (`alice@example
    <bob@example>`, a spoofer's favourite) for a mailbox of its own and returns that one."""
    named = _NAME_ADDR.fullmatch(value)
    if named:
        return named.group(1).strip(), named.group(2)
    try:
        return email.utils.parseaddr(value)
    except Exception:
        return "", ""


def parse_address(value: str | None) -> tuple[str, str]:
    """(display name, lower-cased address) of a From-like header; ("", "") for garbage."""
    if not value or not isinstance(value, str):
        return "", ""
    value = unfold(clean_text(undo_surrogateescape(value[:MAX_DECODED_HEADER])))
    name, address = _split_mailbox(value)
    address = normalize_address(address)
    if not address:
        found = _ADDRESS_IN_TEXT.search(decode_rfc2047(value))
        address = normalize_address(found.group(0)) if found else ""
        name = ""
    name = decode_rfc2047(name)
    name = re.sub(r"\s+", " ", name).strip().strip("\"'").strip()
    if name.lower() == address:
        name = ""
    return name[:MAX_NAME], address


def parse_addresses(values: list[str]) -> tuple[str, ...]:
    """Lower-cased addresses of To/Cc-like header values, without duplicates."""
    addresses: dict[str, None] = {}  # ordered set
    for value in values:
        if not isinstance(value, str):
            continue
        value = unfold(clean_text(undo_surrogateescape(value[:MAX_DECODED_HEADER])))
        try:
            pairs = email.utils.getaddresses([value])
        except Exception:
            pairs = [("", found) for found in _ADDRESS_IN_TEXT.findall(value)]
        for _, address in pairs:
            normalized = normalize_address(address)
            if normalized:
                addresses[normalized] = None
    return tuple(addresses)[:MAX_RECIPIENTS]


_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")


def normalize_message_id(value: str | None) -> str | None:
    """A Message-ID without angle brackets or whitespace, or None."""
    if not value or not isinstance(value, str):
        return None
    value = unfold(clean_text(value)).strip()
    match = _MESSAGE_ID.search(value)
    if match:
        message_id = match.group(1)
    else:
        tokens = value.split()
        message_id = tokens[0].strip("<>") if tokens else ""
    return message_id[:MAX_MESSAGE_ID] or None


def parse_message_ids(values: list[str]) -> tuple[str, ...]:
    """The message ids of In-Reply-To/References values, in order, without duplicates.

    A very long chain keeps its root and its most recent ids.
    """
    unique: dict[str, None] = {}  # ordered set
    for value in values:
        if not isinstance(value, str):
            continue
        value = unfold(clean_text(value))
        found = _MESSAGE_ID.findall(value) or [
            token.strip("<>") for token in re.split(r"[\s,]+", value) if "@" in token
        ]
        for message_id in found:
            if message_id := message_id[:MAX_MESSAGE_ID]:
                unique[message_id] = None
    ids = list(unique)
    if len(ids) > MAX_IDS:
        ids = ids[:1] + ids[-(MAX_IDS - 1) :]
    return tuple(ids)


def parse_date(value: str | None) -> datetime | None:
    """An aware datetime from an RFC 5322 (or ISO 8601) date, or None."""
    if not value or not isinstance(value, str):
        return None
    value = unfold(clean_text(value)).strip()
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except Exception:
        parsed = None
    if parsed is not None:
        # "-0000" means "UTC, local zone unknown" (RFC 5322 3.3)
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, TypeError):
        return None
    return parsed if parsed.tzinfo is not None else None
