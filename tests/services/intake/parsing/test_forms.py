"""Form bodies to raw field bytes (what the Mailgun and SendGrid adapters read)."""

from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.services.intake.parsing import MalformedEmail
from app.services.intake.parsing.forms import MAX_FIELDS, parse_form

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
