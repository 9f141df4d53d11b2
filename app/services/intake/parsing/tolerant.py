"""Mail as mature readers read it, where the standard library's parser gives up (pure).

Two shapes of real mail that RFC 5322 and RFC 2046 do not allow, and that Python's parser
reads differently from every mail client:

- a header section with a broken line: a folded line that lost its leading space, a stray
  line of text, or a line such as `---- Original email message ----` before the headers. The
  parser ends the headers at the first such line and never sees the `From` below it; and a
  first header indented by mistake, which it drops as the continuation of nothing;
- an unquoted boundary holding `=` (`boundary=----=_NextPart_000_0012_01C...`, written by
  Outlook Express and many older clients): the modern header parser cuts it at the `=`, so the
  parts are never split.

Mail readers read the header section to its blank line, skip what comes before the first
header, and take an unquoted parameter up to the next `;` or whitespace. So do we: the bytes
handed to the parser are repaired, the bytes received are never changed. A line of only
spaces is an empty continuation to every reader; where the line after it is no header field
(the body's first delimiter), the sender meant it as the blank line, and the parser's reading
is kept: the headers end there.

A third shape is repaired after parsing: a multipart nested in a multipart with the same
boundary (`regroup_reused_boundaries`).
"""

import re
from email.message import EmailMessage, Message
from email.parser import Parser
from email.policy import EmailPolicy
from typing import Any

# A header field: a name of printable ASCII without ":" (RFC 5322 2.2), then the colon.
_FIELD = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")
# The end of the header section: a line break followed by an empty line.
_BLANK_LINE = re.compile(rb"\r?\n(?=\r?\n)")
# Past this many bytes without a blank line, the section is left as it is (linear bound).
MAX_HEADER_SECTION = 1024 * 1024


def _kind(line: bytes) -> str:
    if line[:1] in (b" ", b"\t"):
        return "continuation"
    return "field" if _FIELD.match(line) else "broken"


def _disguised_blank_line(lines: list[bytes], kinds: list[str], first: int) -> int | None:
    """The index after a line of only spaces or tabs that stands for the blank line: the line
    after it is no header field (KMime's bug 392239: the body's first delimiter follows)."""
    for index in range(first + 1, len(lines) - 1):
        if kinds[index + 1] == "broken" and not lines[index].strip():
            return index + 1
    return None


def repair_header_section(raw: bytes) -> bytes:
    """`raw` with its header section readable: a first field indented by mistake unindented,
    lines before the first header field dropped, a broken line among the fields folded into the
    field above it (a folded line that lost its leading space, whose text is kept). A line of
    only spaces or tabs followed by a line that is no field ends the section, as the parser
    reads it (an empty continuation, then the body), so the body is never folded into a header.
    Unchanged when nothing is broken."""
    end = _BLANK_LINE.search(raw, 0, MAX_HEADER_SECTION + 2)
    if end is None and len(raw) > MAX_HEADER_SECTION:
        return raw
    cut = end.end() if end else len(raw)
    lines = raw[:cut].splitlines(keepends=True)
    indented = bool(lines) and lines[0][:1] in (b" ", b"\t")
    if indented and _FIELD.match(lines[0].lstrip(b" \t")):
        # enmime's bad-header-start: the parser drops it as the continuation of nothing.
        lines[0] = lines[0].lstrip(b" \t")
    else:
        indented = False
    kinds = [_kind(line) for line in lines]
    if "field" not in kinds or ("broken" not in kinds and not indented):
        return raw
    first = kinds.index("field")
    blank = _disguised_blank_line(lines, kinds, first)
    if blank is not None:
        cut = sum(len(line) for line in lines[:blank])
        lines, kinds = lines[:blank], kinds[:blank]
    last = len(kinds) - 1 - kinds[::-1].index("field")
    while last + 1 < len(kinds) and kinds[last + 1] == "continuation":
        last += 1
    if "broken" not in kinds[: last + 1] and not indented:
        return raw  # only body text without a blank line before it: the parser reads that
    repaired = [
        b" " + line if kind == "broken" else line
        for line, kind in zip(lines[first : last + 1], kinds[first : last + 1], strict=True)
    ]
    return b"".join(repaired) + b"".join(lines[last + 1 :]) + raw[cut:]


# `boundary=` followed by a value that is not quoted: it runs to the next ";" or whitespace.
_UNQUOTED_BOUNDARY = re.compile(r'(;\s*boundary\s*=\s*)([^"\s;][^\s;]*)', re.IGNORECASE)


def quote_boundary(value: str) -> str:
    """A Content-Type value with an unquoted boundary quoted, `=` and all."""
    return _UNQUOTED_BOUNDARY.sub(lambda m: f'{m.group(1)}"{m.group(2)}"', value)


class FragmentAsBytes(EmailMessage):
    """A message part whose `message/partial` content is left unparsed.

    A fragment of a message (RFC 2046 5.2.2) is no message: the first holds the headers and the
    start of a body cut anywhere, the others the rest. The parser reads every `message/*` body
    as a message (and, writing it back, closes the multipart the cut left open), so a fragment's
    bytes would not reassemble. Mail readers show it as a file: its bytes, as they came."""

    def get_content_maintype(self) -> str:
        if self.get_content_type() == "message/partial":
            return "application"  # so the parser keeps its body as it is, not as a message
        return super().get_content_maintype()


class TolerantPolicy(EmailPolicy):
    """`email.policy.default`, except that Content-Type's boundary is read to the next `;` or
    whitespace, as mail readers read it (the modern header parser stops at `=`), and a
    `message/partial` body is kept as it came (`FragmentAsBytes`)."""

    message_factory = FragmentAsBytes

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        if (
            isinstance(value, str)
            and not hasattr(value, "name")
            and name.lower() == "content-type"
            and "boundary" in value.lower()
        ):
            value = quote_boundary(value)
        return super().header_fetch_parse(name, value)


TOLERANT = TolerantPolicy()


# How many multiparts reusing their parent's boundary one message may open (each costs a parse
# of what follows it: the bound keeps hostile input linear).
MAX_REUSED_BOUNDARIES = 20


def _reuses(part: Message, boundary: str) -> bool:
    """A multipart that could not be split because its boundary is its parent's: the parent's
    parser took each of its delimiter lines for its own."""
    return (
        part.get_content_maintype() == "multipart"
        and not part.is_multipart()
        and part.get_boundary() == boundary
    )


def _parts(message: Message) -> list[Message]:
    payload = message.get_payload() if message.is_multipart() else None
    return [part for part in payload if isinstance(part, Message)] if payload else []


def _next_parts(text: str, boundary: str) -> tuple[list[Message], str | None]:
    """The parts of `text` up to its next close delimiter, and what follows that delimiter."""
    shell = Parser(policy=TOLERANT).parsestr(
        f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n{text}'
    )
    parts = shell.get_payload()
    if not isinstance(parts, list):
        return [], text
    return [part for part in parts if isinstance(part, Message)], shell.epilogue


def regroup_reused_boundaries(message: Message) -> None:
    """Read a multipart nested in one with the same boundary as mail readers read it.

    Readers match a delimiter line against the innermost open multipart first, so the parts
    after the nested one's headers are its own up to the first close delimiter, and the
    parent's parts resume after it. The standard library's parser gives every delimiter line to
    the parent: the nested multipart stays empty, its parts become its parent's, and the
    parent's own parts after it are lost in its epilogue (an attachment vanishes). In place.
    """
    budget = MAX_REUSED_BOUNDARIES
    stack = [message]
    while stack:
        parent = stack.pop()
        boundary = parent.get_boundary()
        children = _parts(parent)
        if boundary and budget and any(_reuses(child, boundary) for child in children):
            budget = _regroup(parent, children, boundary, budget)
        stack.extend(_parts(parent))


def _regroup(parent: Message, children: list[Message], boundary: str, budget: int) -> int:
    """`parent`'s parts regrouped; the budget left."""
    if '"' in boundary or "\\" in boundary:
        return budget
    parent.set_payload([])
    open_parts, segment, rest = [parent], children, parent.epilogue
    while True:
        for part in segment:
            open_parts[-1].attach(part)
            if budget and _reuses(part, boundary):
                budget -= 1
                preamble = part.get_payload()  # the text before its first delimiter
                part.preamble = preamble if isinstance(preamble, str) else None
                part.set_payload([])
                open_parts.append(part)
        if len(open_parts) == 1 or not rest:
            break
        open_parts.pop()  # a close delimiter ended the innermost multipart: the next is open
        segment, rest = _next_parts(rest, boundary)
    parent.epilogue = rest
    return budget
