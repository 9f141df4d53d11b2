"""Form bodies to raw field bytes (what the Mailgun and SendGrid adapters and the contact form
read): urlencoded as the standard library reads it, multipart/form-data through python-multipart's
streaming parser, fed whole or in pieces."""

from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.services.intake.parsing import MalformedEmail, UploadedFile
from app.services.intake.parsing.forms import MAX_FIELDS, FormReader, parse_form

URLENCODED = "application/x-www-form-urlencoded"


def standard_library(body: bytes) -> dict[str, bytes]:
    """The reference: parse_qsl over latin-1, first value of a field wins."""
    fields: dict[str, bytes] = {}
    pairs = parse_qsl(body.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
    for name, value in pairs:
        fields.setdefault(
            name.encode("latin-1").decode("utf-8", "replace"), value.encode("latin-1")
        )
    return fields


def test_values_stay_bytes_whatever_their_charset():
    body = urlencode(
        [("subject", "Caffè".encode("cp1252")), ("body-plain", "Perché?".encode()), ("a", b"")]
    ).encode()

    fields, files = parse_form(body, URLENCODED)

    assert fields == {"subject": b"Caff\xe8", "body-plain": "Perché?".encode(), "a": b""}
    assert files == []


def test_the_first_value_of_a_repeated_field_wins():
    assert parse_form(b"token=one&token=two", URLENCODED)[0] == {"token": b"one"}


def test_too_many_fields_is_malformed():
    with pytest.raises(MalformedEmail):
        parse_form(b"&".join([b"f=1"] * (MAX_FIELDS + 1)), URLENCODED)


@given(st.binary(max_size=300))
def test_any_body_reads_as_the_standard_library_reads_it(body):
    assert parse_form(body, URLENCODED)[0] == standard_library(body)


@given(st.lists(st.tuples(st.text(max_size=20), st.binary(max_size=40)), max_size=20))
def test_any_encoded_form_round_trips(pairs):
    body = urlencode(pairs).encode()

    assert parse_form(body, URLENCODED)[0] == standard_library(body)


def multipart(fields, files=()) -> tuple[bytes, str]:
    """A body as a browser encodes it (RFC 7578), and its Content-Type."""
    boundary = b"----formboundary7MA4YWxkTrZu0gW"
    parts = [
        b'Content-Disposition: form-data; name="%s"\r\n\r\n%s' % (name.encode(), value.encode())
        for name, value in fields.items()
    ]
    parts += [
        b'Content-Disposition: form-data; name="%s"; filename="%s"\r\nContent-Type: %s\r\n\r\n'
        % (name.encode(), filename.encode(), media_type.encode())
        + data
        for name, (filename, data, media_type) in files
    ]
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    return body + b"--" + boundary + b"--\r\n", f"multipart/form-data; boundary={boundary.decode()}"


def test_multipart_values_stay_bytes_and_files_keep_name_type_and_content():
    body, content_type = multipart(
        {"subject": "Caffè", "token": "one"},
        [("attachments", ("fattura ré.pdf", b"%PDF\r\n--not-the-boundary", "application/pdf"))],
    )

    fields, files = parse_form(body, content_type)

    assert fields == {"subject": "Caffè".encode(), "token": b"one"}
    assert files == [
        UploadedFile(
            field_name="attachments",
            filename="fattura ré.pdf",
            content_type="application/pdf",
            data=b"%PDF\r\n--not-the-boundary",
        )
    ]


def test_the_first_value_of_a_repeated_multipart_field_wins():
    body = (
        b'--b\r\nContent-Disposition: form-data; name="token"\r\n\r\none\r\n'
        b'--b\r\nContent-Disposition: form-data; name="token"\r\n\r\ntwo\r\n--b--\r\n'
    )

    assert parse_form(body, 'multipart/form-data; boundary="b"')[0] == {"token": b"one"}


def test_a_file_name_is_text_whatever_its_bytes():
    body = (
        b'--b\r\nContent-Disposition: form-data; name="f"; filename="caff\xe8.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nx\r\n--b--\r\n"
    )

    (upload,) = parse_form(body, "multipart/form-data; boundary=b")[1]

    assert upload.filename == "caffè.txt"  # not UTF-8: read as Windows-1252, like mail


def test_a_part_sent_in_base64_or_quoted_printable_is_decoded():
    body = (
        b'--b\r\nContent-Disposition: form-data; name="a"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nY2Fm\r\nZsOo\r\n"
        b'--b\r\nContent-Disposition: form-data; name="q"\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nperch=C3=A9\r\n--b--\r\n"
    )

    assert parse_form(body, "multipart/form-data; boundary=b")[0] == {
        "a": "caffè".encode(),
        "q": "perché".encode(),
    }


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"--b\r\n\r\nx\r\n--b--\r\n", "multipart/form-data"),  # no boundary
        (b"not a form at all", "multipart/form-data; boundary=b"),
        (
            b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\ncut',
            "multipart/form-data; boundary=b",
        ),
        (b"", "multipart/form-data; boundary=b"),
        (b"a=1", "text/plain"),
    ],
)
def test_a_body_that_is_not_a_whole_form_is_malformed(body, content_type):
    with pytest.raises(MalformedEmail):
        parse_form(body, content_type)


def test_too_many_multipart_fields_is_malformed():
    body, content_type = multipart({f"f{n}": "1" for n in range(MAX_FIELDS + 1)})

    with pytest.raises(MalformedEmail):
        parse_form(body, content_type)


@given(
    st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_-]{0,9}", fullmatch=True), st.text(max_size=30), max_size=5
    ),
    st.lists(st.binary(max_size=60), max_size=3),
    st.integers(min_value=1, max_value=64),
)
def test_a_multipart_body_fed_in_pieces_reads_as_when_fed_whole(fields, contents, size):
    files = [
        ("attachments", (f"f{n}.bin", data, "application/octet-stream"))
        for n, data in enumerate(contents)
    ]
    body, content_type = multipart(fields, files)
    reader = FormReader(content_type)

    for start in range(0, len(body), size):
        reader.feed(body[start : start + size])

    assert reader.close() == parse_form(body, content_type)
    read_fields, read_files = parse_form(body, content_type)
    assert {name: value.decode() for name, value in read_fields.items()} == fields
    assert [upload.data for upload in read_files] == contents
