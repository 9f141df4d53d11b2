"""Garbage in, a value or MalformedEmail out: never any other exception (property-based)."""

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.services.intake.parsing import (
    InboundEmail,
    MalformedEmail,
    UploadedFile,
    decode_subject,
    from_mailgun,
    from_mime,
    from_postmark,
    from_sendgrid,
    html_to_text,
    parse_message_ids,
    strip_quoted_reply,
)

from . import FIXTURES, fixture_bytes, provider_fixture

SETTINGS = settings(
    # INBOUND_FUZZ_EXAMPLES=5000 for a longer hunt; the default keeps the suite fast.
    max_examples=int(os.environ.get("INBOUND_FUZZ_EXAMPLES", "200")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
EML_FIXTURES = sorted(path.name for path in FIXTURES.glob("*.eml"))


def assert_value_or_malformed(parse: Callable[[], InboundEmail]) -> None:
    """The contract, plus: the adapter's catch-all safety net was not what saved us."""
    try:
        email = parse()
    except MalformedEmail as error:
        assert "unreadable payload" not in str(error), f"safety net hit: {error!r}"
        return
    assert isinstance(email, InboundEmail)
    assert "@" in email.from_email and email.from_email == email.from_email.lower()
    assert email.date is None or email.date.tzinfo is not None
    assert len(email.subject) <= 998 and "\n" not in email.subject
    assert len(email.headers) <= 200
    texts = [email.subject, email.from_name, email.text, email.text_stripped, email.html or ""]
    texts += [value for pair in email.headers for value in pair]
    texts += [attachment.filename for attachment in email.attachments]
    for text in texts:
        text.encode("utf-8")  # no lone surrogates
        assert "\x00" not in text
    for attachment in email.attachments:
        assert attachment.filename and "/" not in attachment.filename
        assert "\\" not in attachment.filename and len(attachment.filename) <= 150
        assert re.fullmatch(
            r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*", attachment.content_type
        )
    if email.html:
        assert "<script" not in email.html.lower() and "javascript:" not in email.html.lower()


# --- raw MIME -------------------------------------------------------------------------------

HEADER_NAMES = [
    "From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
    "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Content-ID",
    "MIME-Version", "Auto-Submitted", "Precedence", "List-Id", "Return-Path", "Sender", "X-Junk",
]  # fmt: skip
CHARSETS = ["utf-8", "iso-8859-1", "x-unknown", "base64", "idna", "utf-16", "utf-7", '"', "%%"]
CTES = ["base64", "quoted-printable", "8bit", "7bit", "x-uuencode", "binary", "bogus"]

header_bytes = st.one_of(
    st.binary(max_size=60),
    st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from(
        [
            b"=?utf-8?b?w6?=", b"=?x-unknown?q?=E8?=", b"=?utf-8?q?a", b"<a@b> <c@d",
            b"a@b.example", b'"Rossi, Mario" <m@x.example>', b"<>", b"Mon, 99 Foo 2026",
            b"multipart/mixed; boundary=", b'text/plain; charset="x-unknown"',
            b"attachment; filename*0*=utf-8''%E2%82; filename*1=x", b"=?utf-8?b?????=",
            b"text/html; charset=base64", b"message/rfc822", b"multipart/report",
            b"(((((((((((a@b", b"a@b@c, ,,, <<>>", b"\"unterminated <x@y>",
        ]
    ),
)  # fmt: skip
header_line = st.builds(
    lambda name, value, fold: name.encode() + b": " + (b"\r\n\t" if fold else b"") + value,
    st.sampled_from(HEADER_NAMES),
    header_bytes,
    st.booleans(),
)


@st.composite
def mime_leaf(draw: st.DrawFn) -> bytes:
    ctype = draw(st.sampled_from(["text/plain", "text/html", "application/pdf", "image/png"]))
    charset = draw(st.sampled_from(CHARSETS))
    cte = draw(st.sampled_from(CTES))
    name = draw(st.sampled_from([b"", b'; name="../../etc/passwd"', b"; name*=utf-8''%FF%FE"]))
    body = draw(
        st.one_of(
            st.binary(max_size=200),
            st.sampled_from([b"aGVsbG8", b"aGVsbG8=\r\n===", b"=E8=\r\n=ZZ", b"<p onclick=x>"]),
        )
    )
    return (
        b"Content-Type: " + ctype.encode() + b"; charset=" + charset.encode() + name + b"\r\n"
        b"Content-Transfer-Encoding: " + cte.encode() + b"\r\n\r\n" + body
    )


@st.composite
def mime_message(draw: st.DrawFn) -> bytes:
    headers = draw(st.lists(header_line, max_size=12))
    if draw(st.booleans()):
        headers.append(b"From: " + draw(header_bytes))
    boundary = draw(st.sampled_from([b"B", b"", b"--", b'"q"', b"B B"]))
    headers.append(b"Content-Type: multipart/mixed; boundary=" + boundary)
    parts = draw(st.lists(st.one_of(mime_leaf(), st.binary(max_size=80)), max_size=4))
    close = draw(st.sampled_from([b"--B--\r\n", b"--B\r\n", b"", b"--C--"]))
    body = b"".join(b"--B\r\n" + part + b"\r\n" for part in parts) + close
    nesting = draw(st.integers(0, 3))
    for _ in range(nesting):
        body = b"Content-Type: multipart/alternative; boundary=B\r\n\r\n--B\r\n" + body
    return b"\r\n".join(headers) + b"\r\n\r\n" + body


@st.composite
def mutated_fixture(draw: st.DrawFn) -> bytes:
    data = bytearray(fixture_bytes(draw(st.sampled_from(EML_FIXTURES))))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, max(0, len(data) - 1)))
        action = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        if action == "flip" and data:
            data[position] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[position : position + draw(st.integers(1, 40))]
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=20))
        else:
            del data[position:]
    return bytes(data)


@SETTINGS
@given(st.one_of(st.binary(max_size=400), mime_message(), mutated_fixture()))
def test_from_mime_never_raises_anything_else(raw: bytes) -> None:
    assert_value_or_malformed(lambda: from_mime(raw))


# --- provider form fields -------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
field_value = st.one_of(
    st.text(max_size=80),
    st.binary(max_size=80),
    json_values.map(json.dumps),
    st.lists(st.text(max_size=20), max_size=3),
    st.integers(),
    st.none(),
    st.sampled_from(["[]", "{}", "[[1, 2]]", '[["From", "a@b.example"]]', "x@y.example", "<>"]),
)
MAILGUN_FIELDS = [
    "recipient", "sender", "from", "subject", "body-plain", "stripped-text", "body-html",
    "stripped-html", "attachment-count", "timestamp", "token", "signature", "message-headers",
    "Message-Id", "In-Reply-To", "References", "Content-Type", "content-id-map", "body-mime",
    "attachments", "From", "Subject",
]  # fmt: skip
SENDGRID_FIELDS = [
    "headers", "text", "html", "from", "to", "subject", "envelope", "charsets", "attachments",
    "attachment-info", "spam_score", "SPF", "dkim", "email", "content-ids",
]  # fmt: skip
uploaded_files = st.lists(
    st.builds(
        UploadedFile,
        field_name=st.sampled_from(
            ["attachment-1", "attachment1", "attachment-x", "email", "body-mime"]
        ),
        filename=st.one_of(st.none(), st.text(max_size=30)),
        content_type=st.one_of(st.none(), st.text(max_size=30)),
        data=st.binary(max_size=60),
    ),
    max_size=3,
)


def fields_from(names: list[str], base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Random fields, sometimes starting from a valid fixture with a few replaced."""
    random_fields = st.dictionaries(st.sampled_from(names), field_value, max_size=len(names))
    return st.one_of(random_fields, random_fields.map(lambda changes: {**base, **changes}))


@SETTINGS
@given(fields_from(MAILGUN_FIELDS, provider_fixture("mailgun_forward.json")[0]), uploaded_files)
def test_from_mailgun_never_raises_anything_else(fields: dict, files: list) -> None:
    assert_value_or_malformed(lambda: from_mailgun(fields, files))


@SETTINGS
@given(fields_from(SENDGRID_FIELDS, provider_fixture("sendgrid_raw.json")[0]), uploaded_files)
def test_from_sendgrid_never_raises_anything_else(fields: dict, files: list) -> None:
    assert_value_or_malformed(lambda: from_sendgrid(fields, files))


# --- Postmark JSON --------------------------------------------------------------------------

POSTMARK_KEYS = [
    "FromFull", "From", "ToFull", "To", "Subject", "MessageID", "TextBody", "HtmlBody",
    "StrippedTextReply", "Headers", "Attachments", "Date", "RecordType",
]  # fmt: skip
postmark_value = st.one_of(
    json_values,
    st.fixed_dictionaries({"Email": st.text(max_size=20), "Name": st.text(max_size=20)}),
    st.lists(st.fixed_dictionaries({"Name": st.text(max_size=10), "Value": st.text(max_size=30)})),
    st.lists(
        st.fixed_dictionaries(
            {"Name": json_values, "Content": st.text(max_size=30), "ContentType": json_values}
        ),
        max_size=2,
    ),
)


@SETTINGS
@given(
    st.one_of(
        json_values,
        st.dictionaries(st.sampled_from(POSTMARK_KEYS), postmark_value),
        st.dictionaries(st.sampled_from(POSTMARK_KEYS), postmark_value).map(
            lambda changes: {**json.loads(fixture_bytes("postmark.json")), **changes}
        ),
    )
)
def test_from_postmark_never_raises_anything_else(payload: Any) -> None:
    assert_value_or_malformed(lambda: from_postmark(payload))


# --- hostile sizes --------------------------------------------------------------------------

HANG_GUARD_SECONDS = 120
HOSTILE_INPUTS: list[tuple[str, Callable[[], object]]] = [
    ("unterminated encoded words", lambda: decode_subject("=?a?q?x" * 150_000)),
    ("unclosed HTML comments", lambda: html_to_text("<!--" * 50_000)),
    ("unclosed end tags", lambda: html_to_text("</a" * 100_000)),
    ("lines that start like a reply header", lambda: strip_quoted_reply("On 1 x\n" * 100_000)),
    ("a huge References header", lambda: parse_message_ids([" ".join(["<a@x>"] * 200_000)])),
    (
        "hundreds of long headers",
        lambda: from_mime(
            b"From: a@b.example\r\n"
            + b"".join(b"X-H: " + b"=?a?q?x" * 2000 + b"\r\n" for _ in range(250))
            + b"\r\nbody"
        ),
    ),
]


@pytest.mark.parametrize("name", [name for name, _ in HOSTILE_INPUTS])
def test_hostile_sizes_finish(name: str) -> None:
    """Each input is read in one pass: a quadratic path would take hours at these sizes.

    The work runs in a child process that must finish within HANG_GUARD_SECONDS, a bound
    about a hundred times what it takes (a hang guard, not a speed target: the speed of the
    parsers is measured in bench/, never asserted here).
    """
    code = (
        "from tests.services.intake.parsing.test_robustness import HOSTILE_INPUTS; "
        f"dict(HOSTILE_INPUTS)[{name!r}]()"
    )
    finished = subprocess.run(
        [sys.executable, "-c", code], timeout=HANG_GUARD_SECONDS, capture_output=True
    )
    assert finished.returncode == 0, finished.stderr.decode()[-2000:]
