"""The header lines of our emails (P2): outside text in, exactly one header out, read back as
the text that went in (on one line), by a strict reader and by Python's email package."""

import email
import email.header
import email.policy

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from app.models.common import one_line
from app.services.notifications import mail_headers
from tests.smtp import decode_text, header_fields

ISSUE_SUBJECT = (
    "Aiuto =?utf-8?q?=0D=0ABcc:_x@evil.example=0D=0AReply-To:_phish@evil.example=0D=0A=0D=0APAGHI?="
)
ANY_CHARACTER = st.characters(exclude_categories=())  # surrogates and controls included


def _read_subject(value: str) -> tuple[list[tuple[str, str]], str, str]:
    """The fields a strict reader finds, and the subject as it and the email package decode it."""
    raw = mail_headers.header_block([("Subject", value), ("X-Next", "x")]) + b"\r\nbody"
    fields = header_fields(raw)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    return fields, decode_text(fields[0][1]), str(parsed["Subject"])


@given(st.text(ANY_CHARACTER, max_size=1200))
@example(ISSUE_SUBJECT)
@example("=?utf-8?q?=3D=3Futf-8=3Fq=3F=3D0D=3D0ABcc=3A_x=40evil.example=3F=3D?=")  # twice
@example("=?utf-8?b?DQpCY2M6IHhAZXZpbC5leGFtcGxl?=")
@example("Ciao\rBcc: x@evil.example")
@example("Ciao\nBcc: x@evil.example")
@example("Ciao\r\n Bcc: x@evil.example")  # folded
@example("a\x00b\u2028c\u2029d\x85e\x1bf\udc80g")
@example("  spazi  doppi e in coda  ")
@example("è" * 998)
@example("")
def test_any_text_is_one_subject_header_that_reads_back_as_the_text_on_one_line(text):
    fields, strictly, by_python = _read_subject(mail_headers.text(text))
    assert [name for name, _ in fields] == ["Subject", "X-Next"]
    assert strictly == one_line(text)
    assert by_python == one_line(text)


def test_one_line_turns_each_run_of_breaks_into_one_space():
    assert one_line("Rossi\n\nATTENZIONE: paghi") == "Rossi ATTENZIONE: paghi"
    assert one_line("a\r\n\tb\u2028c\x00\x85d") == "a b c d"
    assert one_line("già  due spazi") == "già  due spazi"


def test_a_literal_encoded_word_is_written_encoded_and_plain_words_as_they_are():
    assert mail_headers.text("Sito lento") == "Sito lento"
    written = mail_headers.text(ISSUE_SUBJECT)
    assert "?q?=0D" not in written and written.startswith("=?utf-8?q?")
    assert all(len(line) <= 76 for line in f"Subject: {written}".split("\r\n"))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Agenzia Web", "Agenzia Web <a@agency.example>"),
        ("MB Services & Consulting", "MB Services & Consulting <a@agency.example>"),
        ("Rossi, Mario", "=?utf-8?q?Rossi=2C_Mario?= <a@agency.example>"),
        ("", "a@agency.example"),
    ],
)
def test_a_mailbox_writes_its_name_as_text(name, expected):
    assert mail_headers.mailbox(name, "a@agency.example") == expected


def test_an_international_address_is_written_as_it_is():
    assert mail_headers.checked_address("josé@rossì.it") == "josé@rossì.it"


@pytest.mark.parametrize(
    "address",
    [
        "a@b.example, evil@evil.example",
        "a@b.example\r\nBcc: evil@evil.example",
        "Mario <a@b.example>",
        "=?utf-8?q?=0D=0A?=@b.example",
        "a b@b.example",
        "a@b.example@c.example",
        "a\u2028b@b.example",
        "a\x85b@b.example",
        "a@b\xa0c.example",
        "",
    ],
)
def test_anything_but_one_plain_address_is_refused_without_naming_it(address):
    with pytest.raises(ValueError) as refused:
        mail_headers.checked_address(address)
    assert address not in str(refused.value) or not address


@pytest.mark.parametrize(
    ("identifier", "valid"),
    [
        ("2026-000001.receipt.1@agency.example", True),
        ("CAF+x=y@mail.gmail.com", True),
        ("abc@[127.0.0.1]", True),
        ("=?utf-8?q?=0D=0ABcc:_evil@evil.example?=@x.example", False),  # the issue's
        ("a\r\nBcc: evil@evil.example", False),
        ("no-at-sign", False),
        ("a b@x.example", False),
        ("a@b@x.example", False),
        ("a..b@x.example", False),
        ("<a@x.example>", False),
        ("a@x.example>\r\nBcc: e@evil.example\r\n<b@x.example", False),
        ("x" * 990 + "@x.example", False),  # would not fit one line
        ("", False),
    ],
)
def test_only_rfc_5322_msg_ids_thread(identifier, valid):
    assert (mail_headers.msg_id(identifier) is not None) is valid
    written = mail_headers.msg_ids(["a@x.example", identifier])
    assert written == ("<a@x.example>" + (f"\r\n <{identifier}>" if valid else ""))


def test_a_broken_value_never_becomes_a_header_line():
    with pytest.raises(ValueError):
        mail_headers.header_block([("Subject", "a\r\nBcc: evil@evil.example")])
