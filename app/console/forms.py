"""The ticket page's forms made into the API's own input models (ReplyIn, TakeChargeIn, ...):
an estimate is a day and a time in Rome, a ticked box is true, an empty field is none; what
the models refuse is a 422 page naming the fields, never a server error."""

from datetime import date, datetime, time
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from app.console.guard import Refused
from app.services.console.words import words

ROME = ZoneInfo("Europe/Rome")
M = TypeVar("M", bound=BaseModel)


def model_of(model: type[M], values: dict[str, Any], *, language: str) -> M:
    """`model` from a form's values, or a 422 page naming the fields it refused."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        labels = words(language)["fields"]
        fields = (str(error["loc"][0]) if error["loc"] else "" for error in exc.errors())
        named = dict.fromkeys(labels.get(field, field) for field in fields)
        said = words(language)["invalid"].format(fields=", ".join(named))
        raise Refused(422, said, language=language) from None


def rome_instant(day: str, clock: str, *, language: str) -> datetime | None:
    """The instant a day and a time picked in Rome name (none when both are empty)."""
    if not day and not clock:
        return None
    try:
        return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), tzinfo=ROME)
    except ValueError:
        raise Refused(422, words(language)["invalid_estimate"], language=language) from None


def ticked(value: str) -> bool:
    """A checkbox: sent (with any value) when ticked, absent otherwise."""
    return value != ""


def text(value: str) -> str:
    """A textarea's text with the line breaks an API client sends: a browser posts CRLF."""
    return value.replace("\r\n", "\n")


def optional(value: str) -> str | None:
    """An empty field is no value at all (the model's default, or its refusal)."""
    return value if value.strip() else None
