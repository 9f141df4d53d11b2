"""Charset labels read through the WHATWG Encoding Standard's table (issue 26, item 4): the
label names the superset mail readers decode, so no text turns into U+FFFD."""

import codecs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.services.intake.parsing import decode_bytes, decode_subject, from_mime
from app.services.intake.parsing.charsets import CODECS, LABELS, codec_of_label, encoding_of


@pytest.mark.parametrize(
    ("text", "written_as", "label"),
    [
        ("朱镕基 你好", "gbk", "gb2312"),  # 镕 is GBK, not GB2312
        ("prezzo 10€ “ok”", "cp1252", "iso-8859-1"),
        ("“virgolette” – trattino", "cp1252", "us-ascii"),  # not UTF-8 either
        ("똠방각하", "cp949", "ks_c_5601-1987"),  # 똠 is outside EUC-KR
        ("①ｶﾀｶﾅ～", "cp932", "shift_jis"),
        ("Ça coûte 5€", "cp1252", "latin1"),
        ("Привет", "koi8_r", "koi8"),
    ],
)
def test_labels_are_read_as_their_superset(text: str, written_as: str, label: str) -> None:
    data = text.encode(written_as)
    raw = (
        b"From: m@rossi.it\r\nSubject: =?" + label.encode() + b"?B?"
        + codecs.encode(data, "base64").replace(b"\n", b"") + b"?=\r\n"
        b"Content-Type: text/plain; charset=" + label.encode() + b"\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + data + b"\r\n"
    )  # fmt: skip

    email = from_mime(raw)

    assert email.text == text
    assert email.subject == text
    assert decode_bytes(data, label.upper()) == text


def test_a_byte_order_mark_wins_over_the_label() -> None:
    assert decode_bytes(codecs.BOM_UTF8 + "caffè".encode(), "iso-8859-1") == "caffè"
    assert decode_bytes(codecs.BOM_UTF16_LE + "caffè".encode("utf-16-le"), None) == "caffè"


def test_replacement_labels_keep_their_text_where_python_can_decode_them() -> None:
    assert decode_bytes("안녕".encode("iso2022_kr"), "iso-2022-kr") == "안녕"
    assert decode_subject("=?iso-2022-cn?q?plain?=") == "plain"  # no decoder: a guess


@given(st.sampled_from(sorted({label for labels in LABELS.values() for label in labels})))
def test_every_label_of_the_table_names_a_python_codec_or_a_guess(label: str) -> None:
    encoding = encoding_of(f"  {label.upper()}\t")
    assert encoding is not None
    codec = codec_of_label(label)
    if encoding not in {"replacement", "x-user-defined"}:
        assert codec == CODECS[encoding]
        codecs.lookup(codec)
    assert isinstance(decode_bytes(bytes(range(256)), label), str)


def raw_8bit(subject: bytes, sender: bytes, body_type: bytes) -> bytes:
    """A Subject and a From name in 8-bit bytes no encoded word labels, before a body in
    `body_type` (the message's only word on its charset)."""
    return (
        b"From: " + sender + b" <m@rossi.it>\r\nSubject: " + subject + b"\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: " + body_type + b"\r\n\r\ntesto\r\n--b--\r\n"
    )


@pytest.mark.parametrize(
    ("text", "written_as", "body_type", "read"),
    [
        # flufl.bounce sina_01: GBK, and the body says gb2312 (GBK per WHATWG)
        ("邮件传输失败！", "gbk", b"text/plain; charset=gb2312", "邮件传输失败！"),
        ("Perché", "utf-8", b"text/plain; charset=gb2312", "Perché"),  # UTF-8 first
        ("Perché 10€", "cp1252", b'text/html; charset="iso-8859-1"', "Perché 10€"),
        ("Perché 10€", "cp1252", b"text/plain", "Perché 10€"),  # no label: Windows-1252
        ("Perché", "cp1252", b"text/plain; charset=us-ascii", "Perché"),  # a label that lies
        # django-mailbox: cp1251 that nothing declares, under an iso-8859-1 body
        ("Заказ", "cp1251", b"text/html; charset=iso-8859-1", "Çàêàç"),
    ],
)
def test_raw_8bit_headers_are_read_in_the_charset_the_body_declares(
    text: str, written_as: str, body_type: bytes, read: str
) -> None:
    """Undeclared 8-bit header bytes: UTF-8 if they are, else the body's charset through the
    WHATWG table, else Windows-1252 (sina_01's subject used to be Windows-1252 garble)."""
    data = text.encode(written_as)

    email = from_mime(raw_8bit(data, data, body_type))

    assert (email.subject, email.from_name) == (read, read)
