"""Every CSV file the service writes: outside text in a cell is data, never a formula.

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula, and some also
after a leading TAB or carriage return (OWASP, CSV injection); Excel in East Asian locales
takes the full-width `＝`, `＋`, `－`, `＠` too. A text cell starting with any of these is
written with a leading `'`, which spreadsheets show as text; numbers are written as they are.
Control characters other than TAB, CR and LF are removed (they are never part of a name).
"""

import csv
import io
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

FORMULA_STARTS = frozenset("=+-@\t\r＝＋－＠")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def csv_text(columns: Iterable[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """A CSV document with a header row, CRLF line ends, each cell made safe by `cell`."""
    names = list(columns)
    out = io.StringIO()
    document = csv.writer(out, lineterminator="\r\n")
    document.writerow(names)
    for row in rows:
        unknown = row.keys() - set(names)
        if unknown:
            raise ValueError(f"cells without a column: {', '.join(sorted(unknown))}")
        document.writerow([cell(row.get(name)) for name in names])
    return out.getvalue()


def cell(value: Any) -> str:
    """One cell: instants in UTC (`Z`), numbers as they are, text never a formula."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, int | float | Decimal):
        return str(value)
    text = _CONTROL.sub("", str(value))
    return "'" + text if text[:1] in FORMULA_STARTS else text
