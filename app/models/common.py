"""Schemas shared by every router."""

import re
from datetime import UTC, datetime
from typing import Annotated, Generic, TypeVar

from fastapi import Path, Query
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

# Ids are the id columns' values: 1 to the largest INTEGER (PostgreSQL's is 32 bits). An id
# from outside beyond them can name nothing and is refused as invalid (422) wherever it comes
# from (path, query, body, cursor, billing item); one within them that names nothing is a 404.
MAX_ID = 2**31 - 1


def _id_in_range(value: int) -> int:
    if not 1 <= value <= MAX_ID:
        raise ValueError(f"must be an id from 1 to {MAX_ID}")
    return value


Id = Annotated[int, Field(ge=1, le=MAX_ID)]
"""An id in a body: within the id columns' range."""
ResourceId = Annotated[int, Path(ge=1, le=MAX_ID, description="The resource's id.")]
TICKET_NUMBER_PATTERN = r"^[0-9]{4}-[0-9]{6,10}$"


def _ticket_id_in_range(ref: str) -> str:
    if ref.isdigit():
        _id_in_range(int(ref))
    return ref


TicketRef = Annotated[
    str,
    Path(
        pattern=r"^([1-9][0-9]{0,9}|[0-9]{4}-[0-9]{6,10})$",
        description=f"The ticket's id (`42`, at most {MAX_ID}) or its number (`2026-000042`).",
        examples=["2026-000042"],
    ),
    AfterValidator(_ticket_id_in_range),
]
Limit = Annotated[int, Query(ge=1, le=200, description="Items per page.")]
Cursor = Annotated[
    str | None,
    Query(max_length=200, description="The previous page's `next_cursor`; omit for the first."),
]
IdCursor = Annotated[
    int | None,
    Query(ge=1, le=MAX_ID, description="The previous page's `next_cursor`; omit for the first."),
]
CustomerFilter = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this customer's.")]
ContractFilter = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this contract's.")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")]


# Every instant the API accepts lies in these years (wall clock of its own offset), so that
# converting it to UTC or adding business time to it can never leave the calendar.
FIRST_YEAR, LAST_YEAR = 2000, 2099


def _within_years(value: datetime) -> datetime:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must be in the years {FIRST_YEAR} to {LAST_YEAR}")
    return value


def _in_utc(value: datetime) -> datetime:
    # Whatever offset it came with, it goes on in UTC: stored, computed and answered (`Z`).
    return value if value.tzinfo is None else value.astimezone(UTC)


# An instant given with its UTC offset (a body field).
Instant = Annotated[AwareDatetime, AfterValidator(_within_years), AfterValidator(_in_utc)]
# An instant from a query string: the offset is checked where the endpoint can name the field.
QueryInstant = Annotated[datetime, AfterValidator(_within_years), AfterValidator(_in_utc)]


# Control characters (C0, DEL, C1), line and paragraph separators, lone surrogates: whatever
# could break a line in a header, a paragraph in an email, or cannot be encoded at all.
_LINE_BREAKERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]+")


def one_line(text: str) -> str:
    """`text` on one line: each run of control characters or line breaks becomes one space.

    Names and subjects are one line wherever they appear (stored, in a header, in an email).
    """
    return _LINE_BREAKERS.sub(" ", text)


# A one-line text field from outside (a name, a subject): line breaks become spaces.
OneLine = Annotated[str, AfterValidator(one_line)]


def _no_nul(value: object) -> object:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain NUL characters (\\u0000)")
    if isinstance(value, list | tuple):
        for item in value:
            _no_nul(item)
    return value


class Schema(BaseModel):
    """Every API schema: a field's docstring is its description in the OpenAPI document."""

    model_config = ConfigDict(use_attribute_docstrings=True)


class Input(Schema):
    """Every request body: text never carries a NUL character, on either database.

    PostgreSQL cannot store one and SQLite would keep it verbatim, so the API refuses it with a
    422 naming the field. (Inbound email, which must not be lost, has NULs stripped instead.)
    """

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_nul(cls, value: object) -> object:
        return _no_nul(value)


# A query parameter of free text (no NUL, as in bodies).
NO_NUL_PATTERN = r"^[^\x00]*$"

T = TypeVar("T")


class Items(Schema, Generic[T]):
    """A whole, short list (a ticket's events or messages): `{"items": [...]}` like every list."""

    items: list[T] = Field(description="Oldest first.")


class Page(Schema, Generic[T]):
    """A page of a list: the items, how many there are in all, and where this page starts."""

    items: list[T]
    """This page's items."""
    total: int
    """How many there are in all."""
    limit: int
    """The page size asked for."""
    offset: int
    """How many were skipped before this page."""
