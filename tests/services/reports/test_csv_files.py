"""CSV cells: outside text is never a formula, whatever it starts with (CSV injection)."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.services.reports.csv_files import FORMULA_STARTS, cell, csv_text

# OWASP's list, and the full-width forms East Asian Excel also takes as a formula.
HOSTILE_STARTS = ["=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠"]


@pytest.mark.parametrize("start", HOSTILE_STARTS)
def test_text_starting_like_a_formula_is_quoted_as_text(start):
    value = f'{start}HYPERLINK("http://evil.example","x")'
    assert cell(value) == "'" + value
    (row,) = list(csv.reader(io.StringIO(csv_text(["a"], [{"a": value}]))))[1:]
    assert row == ["'" + value]


def test_numbers_and_instants_are_written_as_they_are():
    assert [cell(-5), cell(Decimal("-12.50")), cell(0.5), cell(None)] == ["-5", "-12.50", "0.5", ""]
    assert cell(datetime(2026, 10, 5, 15, tzinfo=UTC)) == "2026-10-05T15:00:00Z"


def test_control_characters_are_removed_before_the_check():
    assert cell("\x00\x07=1+1") == "'=1+1"
    assert cell("Rossi\x1b[31m S.r.l.") == "Rossi[31m S.r.l."


@given(st.text())
def test_no_text_cell_ever_starts_like_a_formula(value):
    kept = "".join(c for c in value if c in "\t\r\n" or not (c < " " or "\x7f" <= c <= "\x9f"))
    written = cell(value)
    assert written[:1] not in FORMULA_STARTS
    assert written == ("'" + kept if kept[:1] in FORMULA_STARTS else kept)
