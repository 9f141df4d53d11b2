"""What the emails say: templates under app/templates/email, filled in a language.

Pure: facts in, subject and text and HTML out (no database, no clock, no settings). Dates and
times are formatted with Babel in Europe/Rome, the way the customer reads them: Italian
`mercoledì 2 dicembre 2026, 17:00`, English `Wednesday 2 December 2026, 17:00`; day names and
lists come from Babel's locale data too.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, get_day_names
from babel.lists import format_list
from markupsafe import Markup

from app.enums import Language
from app.models.common import one_line
from app.models.message import MAX_SUBJECT
from app.rendering import environment, render
from app.services.intake.parsing.content import sanitize_html

ROME = ZoneInfo("Europe/Rome")
LANGUAGES = tuple(Language)
DEFAULT_LANGUAGE = Language.IT
STAFF_LANGUAGE = Language.IT  # staff alerts are for the agency, in Italian
WHEN_PATTERN = "EEEE d MMMM y, HH:mm"
DAY_PATTERN = "d MMMM y"
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # Babel's 0 to 6
SUNDAY = 6
# The facts written as paragraphs: what staff wrote as the resolution, the customer's own text.
MULTILINE_FACTS = frozenset({"resolution", "excerpt", "reply"})
# A staff reply's HTML body (sanitised): the HTML part says it in place of the reply's text.
RICH_REPLY = "reply_html"
_RICH_PLACE = "\ue000reply\ue000"  # where the reply stands in the text (private use)


@dataclass(frozen=True)
class Letter:
    """An email's words: what the template made of the facts."""

    subject: str
    text: str
    html: str


def when(instant: datetime | None, language: str) -> str | None:
    """An instant as the reader says it, in Rome time: `mercoledì 2 dicembre 2026, 17:00`."""
    if instant is None:
        return None
    return format_datetime(instant, WHEN_PATTERN, tzinfo=ROME, locale=language)


def day(iso_day: str, language: str) -> str:
    """A day as the reader says it: `30 novembre 2026`, `30 November 2026`."""
    return format_date(date.fromisoformat(iso_day), DAY_PATTERN, locale=language)


def opening_hours(weekly: dict[str, list[list[str]]], language: str) -> str:
    """The weekly hours in words: `dal lunedì al venerdì, 15:00-18:00`."""
    groups: list[tuple[list[int], str]] = []  # runs of consecutive days with the same hours
    for index, day in enumerate(_DAYS):
        intervals = weekly.get(day) or []
        if not intervals:
            continue
        hours = ", ".join(f"{start}-{end}" for start, end in intervals)
        if groups and groups[-1][1] == hours and groups[-1][0][-1] == index - 1:
            groups[-1][0].append(index)
        else:
            groups.append(([index], hours))
    names = get_day_names("wide", locale=language)
    parts = []
    for days, hours in groups:
        parts.append(f"{_span(names, days[0], days[-1], language)}, {hours}")
    return format_list(parts, locale=language)


def _span(names: Mapping[int, str], first: int, last: int, language: str) -> str:
    """One day, or a run of days: `dal lunedì alla domenica`, `Monday to Sunday`."""
    if first == last:
        return names[first]
    if language == "en":
        return f"{names[first]} to {names[last]}"
    # Locale data names days, not runs of them; domenica alone is feminine.
    return (
        f"{'dalla' if first == SUNDAY else 'dal'} {names[first]} "
        f"{'alla' if last == SUNDAY else 'al'} {names[last]}"
    )


def compose(kind: str, *, language: str, **facts: Any) -> Letter:
    """The email `kind` (a template name under email/<language>/) for these facts.

    Every fact is one line (a name, a subject, an address, an error), except the texts that
    are meant to have paragraphs (`MULTILINE_FACTS`): a name cannot become a paragraph.
    """
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    template = environment().get_template(f"email/{language}/{kind}.txt")
    rich = facts.pop(RICH_REPLY, None)
    values = {
        name: value if name in MULTILINE_FACTS else _one_line(value)
        for name, value in facts.items()
    }
    context = template.new_context(values)
    # The facts are one line already: the subject keeps the customer's words exactly.
    subject = one_line("".join(template.blocks["subject"](context))).strip()
    if len(subject) > MAX_SUBJECT:
        # A customer's 998-character subject plus our "[#number] ..." prefix: cut, so that
        # the email and the stored copy keep to the limit (found by the hostile-input tests).
        subject = subject[: MAX_SUBJECT - 1] + "…"
    text = "".join(template.blocks["body"](context)).strip() + "\n"
    if not rich:
        return Letter(subject=subject, text=text, html=_html(subject, text, language))
    # The HTML part says the reply as its author wrote it, and the rest as the text does.
    placing = template.new_context({**values, "reply": _RICH_PLACE})
    placed = "".join(template.blocks["body"](placing)).strip()
    html = _html(subject, placed, language, rich=Markup(sanitize_html(str(rich))))
    return Letter(subject=subject, text=text, html=html)


def _one_line(value: Any) -> Any:
    """Every text in `value` (a fact, or a list or mapping of them) on one line."""
    if isinstance(value, str):
        return one_line(value)
    if isinstance(value, list | tuple):
        return [_one_line(item) for item in value]
    if isinstance(value, dict):
        return {key: _one_line(item) for key, item in value.items()}
    return value


def _html(subject: str, text: str, language: str, *, rich: Markup | None = None) -> str:
    # The HTML part says exactly what the text says: its paragraphs, escaped by the template;
    # a reply's own HTML (sanitised again here: nothing else leaves) where the text has it.
    paragraphs: list[list[str] | Markup] = [
        rich if rich is not None and block.strip() == _RICH_PLACE else block.split("\n")
        for block in text.strip().split("\n\n")
        if block.strip()
    ]
    return render("email/layout.html", subject=subject, paragraphs=paragraphs, language=language)
