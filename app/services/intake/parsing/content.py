"""Pure helpers on message content: HTML, quoted replies, filenames, auto-mail, ticket tags."""

import mimetypes
import posixpath
import re
import unicodedata
from collections.abc import Iterable, Mapping
from html.parser import HTMLParser

import nh3

from app.services.intake.parsing.model import MAX_FILENAME

# --- text hygiene ---------------------------------------------------------------------------


_SURROGATES = re.compile("[\ud800-\udfff]")


def clean_text(value: str) -> str:
    """Text safe to store: lone surrogates become U+FFFD and NUL characters are dropped."""
    if not value:
        return ""
    if not value.isascii():  # (an O(1) check) only non-ASCII text can hold a surrogate
        # Surrogates come from surrogateescape'd bytes or from JSON "\udXXX" escapes.
        value = _SURROGATES.sub("\ufffd", value)
    return value.replace("\x00", "") if "\x00" in value else value


def normalize_newlines(value: str) -> str:
    """CRLF and lone CR become LF."""
    return value.replace("\r\n", "\n").replace("\r", "\n")


def tidy_body(value: str) -> str:
    """Clean text with LF newlines, without leading blank lines or trailing whitespace."""
    value = normalize_newlines(clean_text(value))
    value = re.sub(r"\A(?:[ \t]*\n)+", "", value)
    return value.rstrip()


# --- HTML -----------------------------------------------------------------------------------

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "address", "article", "b", "blockquote", "br", "caption", "center",
        "code", "dd", "div", "dl", "dt", "em", "font", "footer", "header", "section",
        "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre",
        "s", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td",
        "tfoot", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan", "align", "valign"},
    "th": {"colspan", "rowspan", "align", "valign"},
    "table": {"border", "cellpadding", "cellspacing", "width"},
    "font": {"color"},
    "*": {"dir", "lang"},
}
# Content dropped together with the tag; everything else not allowed is unwrapped.
DROPPED_CONTENT_TAGS = frozenset({"script", "style", "title", "head", "template", "noscript"})
URL_SCHEMES = frozenset({"http", "https", "mailto", "cid", "tel"})


def _only_absolute_urls(tag: str, attribute: str, value: str) -> str | None:
    # Relative URLs would resolve against Sportello itself; an email has no base to offer.
    if attribute in {"href", "src"}:
        scheme, colon, _ = value.strip().partition(":")
        return value if colon and scheme.lower() in URL_SCHEMES else None
    return value


# Built once: nh3.clean() builds its sanitizer anew at every call (six times the cleaning).
_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags=set(DROPPED_CONTENT_TAGS),
    attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
    url_schemes=set(URL_SCHEMES),
    attribute_filter=_only_absolute_urls,
    link_rel="noopener noreferrer",
    strip_comments=True,
)


def sanitize_html(html: str) -> str:
    """HTML safe to show an agent: no script/style, no on* attributes, no javascript: URLs."""
    if not html:
        return ""
    return _CLEANER.clean(clean_text(html)).strip()


_BLOCK_TAGS = frozenset(
    {
        "address", "article", "blockquote", "br", "div", "dl", "dt", "dd", "footer", "form",
        "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p", "pre", "section",
        "table", "tr", "ul",
    }
)  # fmt: skip
_SKIPPED_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip_depth += 1
        elif tag in _BLOCK_TAGS:
            self.chunks.append("\n")
            if tag == "li":
                self.chunks.append("- ")
        elif tag in {"td", "th"}:
            self.chunks.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK_TAGS and tag not in {"li", "tr", "dt", "dd", "br"}:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.chunks.append(data)


def html_to_text(html: str) -> str:
    """A readable plain-text rendering of an HTML body (block tags become line breaks)."""
    if not html:
        return ""
    # nh3 first: it is linear on any input and leaves html.parser well-formed markup, on which
    # the stdlib parser is fast (it goes quadratic on e.g. thousands of unclosed "<!--").
    html = sanitize_html(html)
    try:
        parser = _TextExtractor()
        parser.feed(html)
        parser.close()
        raw = "".join(parser.chunks)
    except Exception:  # html.parser still trips on some marked sections; fall back to a regex
        raw = re.sub(r"<[^>]*>", " ", html)
    lines = [re.sub(r"[ \t\xa0\u200b]+", " ", line).strip() for line in raw.split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --- quoted replies -------------------------------------------------------------------------

# A reply header ("On <date>, <who> wrote:") may wrap over up to three lines; it must mention
# a digit (the date) so that ordinary prose ending in "wrote:" is left alone.
# (The digit is checked by a lookahead so that matching stays linear in the line length.)
_REPLY_HEADERS = tuple(
    re.compile(pattern, re.IGNORECASE | re.DOTALL)
    for pattern in (
        r"^\s*On\b(?=.*\d).*\bwrote:\s*$",
        r"^\s*Il\b(?=.*\d).*\bha scritto:\s*$",
        r"^\s*Le\b(?=.*\d).*\ba écrit\s*:\s*$",
        r"^\s*Am\b(?=.*\d).*\bschrieb\b[^:]*:\s*$",
        r"^\s*El\b(?=.*\d).*\bescribió:\s*$",
    )
)
_SEPARATORS = (
    re.compile(r"^\s*-{2,}\s*Original Message\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^\s*-{2,}\s*Messaggio originale\s*-{2,}\s*$", re.IGNORECASE),
)
# Outlook's header block: "From: ..." then, within the next lines, "Sent: ..." (or Italian).
_OUTLOOK_FROM = re.compile(r"^\s*\*?(From|Da)\s*:\*?\s*\S", re.IGNORECASE)
_OUTLOOK_SENT = re.compile(r"^\s*\*?(Sent|Inviato|Date|Data)\s*:\*?\s*\S", re.IGNORECASE)
_QUOTED_LINE = re.compile(r"^\s*>")
# Cheap first test: how every reply header above can begin.
_HEADER_START = re.compile(r"^\s*(?:(?:on|il|le|am|el|from|da)\b|\*|-{2})", re.IGNORECASE)


def _reply_header_at(lines: list[str], index: int) -> bool:
    line = lines[index]
    if not _HEADER_START.match(line):
        return False
    if any(sep.match(line) for sep in _SEPARATORS):
        return True
    if _OUTLOOK_FROM.match(line):
        return any(_OUTLOOK_SENT.match(nxt) for nxt in lines[index + 1 : index + 4])
    for span in (1, 2, 3):
        if index + span > len(lines):
            break
        candidate = " ".join(lines[index : index + span])
        if len(candidate) > 400:
            break
        if any(pattern.match(candidate) for pattern in _REPLY_HEADERS):
            return True
    return False


def strip_quoted_reply(text: str) -> str:
    """The new part of a reply: cut at the first reply header and drop "> " quoted lines.

    Conservative: when nothing would be left, the whole text is returned.
    """
    text = tidy_body(text)
    lines = text.split("\n")
    for index in range(len(lines)):
        if _reply_header_at(lines, index):
            lines = lines[:index]
            break
    kept = [line for line in lines if not _QUOTED_LINE.match(line)]
    stripped = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    return stripped or text


# --- filenames ------------------------------------------------------------------------------

_WINDOWS_RESERVED = re.compile(r"^(CON|PRN|AUX|NUL|COM\d|LPT\d)(\..*)?$", re.IGNORECASE)
_UNSAFE_CHARS = re.compile(r'[<>:"|?*]')


_MIME_TYPES = mimetypes.MimeTypes()  # Python's built-in table only: the same on every host


def _extension_for(content_type: str | None) -> str:
    if not content_type:
        return ""
    return _MIME_TYPES.guess_extension(content_type, strict=False) or ".bin"


def sanitize_filename(name: str | None, content_type: str | None = None) -> str:
    """A safe basename: no path, no "..", no control characters, NFC, at most 150 characters.

    Falls back to "attachment" (plus an extension guessed from `content_type`, or ".bin").
    """
    fallback = "attachment" + _extension_for(content_type)
    if not name:
        return fallback
    name = unicodedata.normalize("NFC", clean_text(name))
    name = "".join(
        " " if ch in "\t\n\r" else ch
        for ch in name
        if ch in "\t\n\r" or unicodedata.category(ch) not in {"Cc", "Cf", "Cs", "Co", "Cn"}
    )
    name = posixpath.basename(name.replace("\\", "/"))
    name = _UNSAFE_CHARS.sub("_", name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    if not name or set(name) <= {"."}:
        return fallback
    if _WINDOWS_RESERVED.match(name):
        name = "_" + name
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        if dot and stem and 0 < len(ext) <= 16:
            name = stem[: MAX_FILENAME - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:MAX_FILENAME].rstrip(" .")
    return name or fallback


# --- automatic mail -------------------------------------------------------------------------

_AUTO_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
_DAEMON_LOCAL_PARTS = frozenset({"mailer-daemon", "postmaster"})


def _header_pairs(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    pairs = []
    for item in items:
        try:
            name, value = item
        except (TypeError, ValueError):
            continue
        if isinstance(name, str) and isinstance(value, str):
            pairs.append((name.strip().lower(), value.strip()))
    return pairs


def _local_part(address: str | None) -> str:
    if not address:
        return ""
    address = address.strip().strip("<>").strip()
    return address.rpartition("@")[0].lower() if "@" in address else address.lower()


def detect_automatic(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    *,
    from_email: str,
    return_path: str | None,
) -> str | None:
    """Why the message was sent by a machine (RFC 3834 and common practice), or None.

    `return_path` is the envelope sender: None when unknown, "" or "<>" for a null sender.
    """
    for name, value in _header_pairs(headers):
        lowered = value.lower()
        if name == "auto-submitted" and lowered and lowered.split(";")[0].strip() != "no":
            return f"auto-submitted: {lowered.split(';')[0].strip()}"[:200]
        if name in {"x-autoreply", "x-autorespond"} and lowered not in {"", "no", "false", "0"}:
            return name
        if name == "precedence" and lowered in _AUTO_PRECEDENCE:
            return f"precedence: {lowered}"
        if name == "list-id":
            return "list-id"
        if name == "x-failed-recipients":
            return "x-failed-recipients"
        if name == "content-type" and lowered.startswith("multipart/report"):
            return "delivery report"
        if name == "return-path" and value.strip().strip("<>").strip() == "":
            return "empty return-path"
    if return_path is not None and return_path.strip().strip("<>").strip() == "":
        return "empty return-path"
    for address in (from_email, return_path):
        local = _local_part(address)
        if local in _DAEMON_LOCAL_PARTS:
            return f"sender: {local}"
    return None


# --- subject tags ---------------------------------------------------------------------------

_TICKET_TAG = re.compile(r"\[\s*#\s*(\d{4}-\d{6,12})\s*\]")


def extract_ticket_tag(subject: str | None) -> str | None:
    """The ticket number of a "[#2026-000123]" tag in a subject, or None."""
    if not subject:
        return None
    match = _TICKET_TAG.search(subject)
    return match.group(1) if match else None
