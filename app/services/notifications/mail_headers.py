"""The header lines of the emails we send, written by us, from text (P2).

A customer's subject or name, a stored Message-ID, even our own settings are *text* here. The
email package is not given them: its default policy re-parses a value assigned to a header,
decoding RFC 2047 encoded words, and Pythons before 3.11.10 / 3.12.5 then write a decoded CR/LF
out raw (CVE-2024-6923). So each header line is written by this module, and the email package
builds only the body (app.services.notifications.transports.build_email):

- unstructured text (Subject) and display names are made one line (`one_line`), then written
  as they are when they are short plain ASCII words, otherwise as a run of UTF-8 encoded words
  holding every character, so that a reader decoding the header gets back the text exactly,
  even a literal `=?utf-8?q?...?=` that the customer typed;
- addresses must be one plain addr-spec each;
- In-Reply-To and References carry only syntactically valid RFC 5322 msg-ids; others are left
  out of threading (the stored message keeps them as data).

Every line is at most 998 characters and ends with CRLF; nothing outside data can end one.
"""

import re
from collections.abc import Iterable

from app.models.common import one_line

# RFC 5322 atext, and dot-atom-text made of it.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
# msg-id = "<" id-left "@" id-right ">", id-left = dot-atom-text, id-right = dot-atom-text or
# no-fold-literal ("[" dtext "]"); the obsolete forms are not written.
_MSG_ID = re.compile(rf"<{_DOT_ATOM}@(?:{_DOT_ATOM}|\[[!-Z^-~]*\])>")
MAX_MSG_ID = 985  # "In-Reply-To: " and the id fit on one 998-character line
# An address we write: a dot-atom local part (UTF-8 allowed, RFC 6532) at a dot-atom domain.
_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\x80-\U0010ffff-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~"
    r"\x80-\U0010ffff-]+)*@[A-Za-z0-9\x80-\U0010ffff-]+(?:\.[A-Za-z0-9\x80-\U0010ffff-]+)*"
)
MAX_ADDRESS = 320
# Written as it is: plain ASCII words with single spaces, short enough not to need folding.
_PLAIN_TEXT = re.compile(r"[!-~]+(?: [!-~]+)*")
_PLAIN_PHRASE = re.compile(rf"{_ATEXT}+(?: {_ATEXT}+)*")
MAX_PLAIN = 60
# Encoded words: `=?utf-8?q?...?=`, at most 66 characters, so that "Subject: " and the first
# word stay within RFC 2047's 76 per line. In the Q encoding only these bytes stand for
# themselves (the set allowed even in a display name); the space is "_"; the rest is "=XX".
_WORD_START, _WORD_END = "=?utf-8?q?", "?="
_WORD_PAYLOAD = 66 - len(_WORD_START) - len(_WORD_END)
_Q_LITERAL = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
FOLD = "\r\n "


def text(value: str) -> str:
    """Outside text as an unstructured header value (Subject): one line, never re-decoded."""
    value = one_line(value)
    if _is_plain(value, _PLAIN_TEXT):
        return value
    return FOLD.join(_encoded_words(value))


def mailbox(name: str, address: str) -> str:
    """`name <address>` (or the bare address without a name); the name is text."""
    address = checked_address(address)
    name = one_line(name)
    if not name:
        return address
    phrase = name if _is_plain(name, _PLAIN_PHRASE) else FOLD.join(_encoded_words(name))
    return f"{phrase} <{address}>"


def checked_address(address: str) -> str:
    """`address` if it is one plain addr-spec; ValueError (which never names it) otherwise."""
    # isprintable(): no control character, separator or surrogate among the UTF-8 ones.
    plain = address.isprintable() and "=?" not in address and _ADDRESS.fullmatch(address)
    if len(address) > MAX_ADDRESS or not plain:
        raise ValueError("not a single plain email address")
    return address


def msg_id(identifier: str) -> str | None:
    """`<identifier>` if that is a valid RFC 5322 msg-id, else None (left out of threading)."""
    written = f"<{identifier}>"
    return written if len(written) <= MAX_MSG_ID and _MSG_ID.fullmatch(written) else None


def msg_ids(identifiers: Iterable[str]) -> str:
    """The valid ones of `identifiers` as a References/In-Reply-To value, one per line."""
    return FOLD.join(filter(None, map(msg_id, identifiers)))


def ids_in(value: str) -> list[str]:
    """The identifiers between angle brackets in a stored In-Reply-To/References value."""
    return re.findall(r"<([^<>]*)>", value)


def header_block(fields: Iterable[tuple[str, str]]) -> bytes:
    """The header lines `Name: value` CRLF, values as made by the functions above."""
    lines = []
    for name, value in fields:
        line = f"{name}: {value}"
        # A last guard: a bug here must fail the email, never send a broken header.
        if any(len(part) > 998 or "\r" in part or "\n" in part for part in line.split(FOLD)):
            raise ValueError(f"header {name} would not be one header")
        lines.append(line + "\r\n")
    return "".join(lines).encode("utf-8")  # ASCII, but for RFC 6532 addresses


def _is_plain(value: str, pattern: re.Pattern[str]) -> bool:
    return len(value) <= MAX_PLAIN and "=?" not in value and pattern.fullmatch(value) is not None


def _encoded_words(value: str) -> list[str]:
    """`value` as UTF-8 Q encoded words, never splitting a character between two words."""
    words: list[str] = []
    current = ""
    for character in value:
        encoded = "".join(_q(byte) for byte in character.encode("utf-8"))
        if current and len(current) + len(encoded) > _WORD_PAYLOAD:
            words.append(current)
            current = ""
        current += encoded
    if current:
        words.append(current)
    return [f"{_WORD_START}{word}{_WORD_END}" for word in words]


def _q(byte: int) -> str:
    if byte in _Q_LITERAL:
        return chr(byte)
    return "_" if byte == 0x20 else f"={byte:02X}"
