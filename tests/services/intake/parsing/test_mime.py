"""Tolerant header decoders: RFC 2047 subjects, addresses, message ids, dates, charsets."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.services.intake.parsing import (
    decode_bytes,
    decode_subject,
    normalize_message_id,
    parse_address,
    parse_addresses,
    parse_date,
    parse_message_ids,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Plain subject", "Plain subject"),
        ("=?UTF-8?B?VVJHRU5URTogc2l0byBnacO5?=", "URGENTE: sito giù"),
        ("=?utf-8?q?URGENTE=3A_sito_gi=C3=B9?=", "URGENTE: sito giù"),
        ("=?ISO-8859-1?Q?Perch=E8?= no", "Perchè no"),
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  # whitespace between encoded words is dropped
        ("=?utf-8?q?a?=\r\n =?utf-8?q?b?= c", "ab c"),
        ("=?utf-8?b?w6?= =?utf-8?b?g=?=", "\ufffd"),  # a character split across words
        ("=?UTF-8?B?w6g=?==?UTF-8?B?w6k=?=", "èé"),
        ("=?x-unknown?q?caf=E8?=", "cafè"),
        ("=?utf-8?q?lento??=", "lento?"),
        ("=?utf-8*it?q?ciao?=", "ciao"),
        ("=?base64?q?abc?=", "abc"),
        ("=?utf-8?b?!!!?=", ""),
        ("=?utf-8?q?unterminated", "=?utf-8?q?unterminated"),
        ("line\r\n folded", "line folded"),
        ("tab\there", "tab here"),
        ("caf\udcc3\udca8", "cafè"),  # raw 8-bit UTF-8 as the parser surrogate-escapes it
        ("NUL\x00byte", "NULbyte"),
        ("x" * 2000, "x" * 998),
        ("", ""),
        (None, ""),
    ],
)
def test_decode_subject(raw: str | None, expected: str) -> None:
    assert decode_subject(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Mario Rossi <Mario.Rossi@Example.COM>", ("Mario Rossi", "mario.rossi@example.com")),
        ('"Rossi, Mario" <m@example.com>', ("Rossi, Mario", "m@example.com")),
        ("=?utf-8?q?Nicol=C3=B2?= <n@example.com>", ("Nicolò", "n@example.com")),
        ('"=?utf-8?q?Nicol=C3=B2?=" <n@example.com>', ("Nicolò", "n@example.com")),
        ("m@example.com", ("", "m@example.com")),
        ("<m@example.com>", ("", "m@example.com")),
        ("m@example.com (Mario)", ("Mario", "m@example.com")),
        (
            "MAILER-DAEMON@mx.example (Mail Delivery System)",
            ("Mail Delivery System", "mailer-daemon@mx.example"),
        ),
        ("Mario <m@example.com>, Luigi <l@example.com>", ("Mario", "m@example.com")),
        ("Rossi, Mario <m@example.com>", ("", "m@example.com")),
        # The address in angle brackets wins over a display name that looks like an address
        # (mail-parser's mail_test_15 and mail_test_19, and a spoofer's favourite).
        ("alice@example.com <bob@example.com>", ("alice@example.com", "bob@example.com")),
        ("a@example.com b <bob@example.com>", ("a@example.com b", "bob@example.com")),
        ("alice@example.com, <bob@example.com>", ("", "alice@example.com")),  # two mailboxes
        ("garbage without address", ("", "")),
        ("<>", ("", "")),
        ("@@@", ("", "")),
        ("a@b@c", ("", "")),
        ("", ("", "")),
        (None, ("", "")),
    ],
)
def test_parse_address(raw: str | None, expected: tuple[str, str]) -> None:
    assert parse_address(raw) == expected


def test_parse_addresses() -> None:
    values = ['"A" <A@x.example>, b@x.example', "a@x.example, broken <, c@y.example"]

    assert parse_addresses(values) == ("a@x.example", "b@x.example", "c@y.example")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<abc@example.com>", "abc@example.com"),
        ("  <abc@example.com>  ", "abc@example.com"),
        ("abc@example.com", "abc@example.com"),
        ("<abc@example.com> (comment)", "abc@example.com"),
        ("\r\n <abc@example.com>", "abc@example.com"),
        ("<>", None),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_normalize_message_id(raw: str | None, expected: str | None) -> None:
    assert normalize_message_id(raw) == expected


def test_parse_message_ids() -> None:
    values = ["<a@x> <b@x>\r\n <c@x>", "<b@x>", "d@x e@x (no brackets)"]

    assert parse_message_ids(values) == ("a@x", "b@x", "c@x", "d@x", "e@x")
    assert parse_message_ids(["d@x, e@x"]) == ("d@x", "e@x")
    assert parse_message_ids(["no ids here"]) == ()


def test_parse_message_ids_keeps_root_and_latest_of_long_chains() -> None:
    chain = " ".join(f"<id{i}@x>" for i in range(500))

    ids = parse_message_ids([chain])

    assert len(ids) == 100
    assert ids[0] == "id0@x" and ids[1] == "id401@x" and ids[-1] == "id499@x"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "Mon, 23 Nov 2026 16:00:00 +0100",
            datetime(2026, 11, 23, 16, tzinfo=timezone(timedelta(hours=1))),
        ),
        ("23 Nov 2026 16:00:00 GMT", datetime(2026, 11, 23, 16, tzinfo=UTC)),
        ("Mon, 23 Nov 2026 16:00:00 -0000", datetime(2026, 11, 23, 16, tzinfo=UTC)),
        ("2026-11-23T16:00:00Z", datetime(2026, 11, 23, 16, tzinfo=UTC)),
        ("2026-11-23T16:00:00", None),  # naive ISO: zone unknown
        ("Mon, 32 Nov 2026 16:00:00 +0100", None),
        ("not a date", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_date(raw: str | None, expected: datetime | None) -> None:
    parsed = parse_date(raw)

    assert parsed == expected
    assert parsed is None or parsed.tzinfo is not None


@pytest.mark.parametrize(
    ("data", "charset", "expected"),
    [
        (b"caf\xc3\xa8", "utf-8", "cafè"),
        (b"caf\xe8", "iso-8859-1", "cafè"),
        (b"caf\xe8", '"ISO-8859-1"', "cafè"),
        (b"\x93ok\x94", "windows-1252", "\u201cok\u201d"),
        (b"caf\xe8", "x-unknown", "cafè"),  # not UTF-8: read as Windows-1252
        (b"caf\xc3\xa8", "x-unknown", "cafè"),
        (b"caf\xc3\xa8", "us-ascii", "cafè"),  # mislabelled UTF-8
        (b"caf\xe8", "utf-8", "caf\ufffd"),
        (b"abc", "base64", "abc"),  # not a text encoding
        (b"abc", "idna", "abc"),
        (b"a\x00b", None, "ab"),
    ],
)
def test_decode_bytes(data: bytes, charset: str | None, expected: str) -> None:
    assert decode_bytes(data, charset) == expected
