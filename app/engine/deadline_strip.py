"""The picture of a deadline: a strip from receipt to the take-charge deadline, its open
business hours shaded and the holidays and closures on the way named (the status page draws it
as inline SVG).

PURE, like the explanation it draws: an `Explanation` in, geometry out. Positions are percents
of the strip's width, on the wall clock from `start` (0) to `due_at` (100): each shaded band is
as wide as the open time it stands for, so the shaded bands together are `target` and what is
left blank is the time the desk was closed. Everything is clipped to the window.
"""

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from babel.dates import format_date

from app.engine.explain import Explanation

_WORDS = {
    "it": {
        "received": "ricevuta",
        "due": "entro",
        "open": "aperto",
        "holiday": "festivo",
        "closure": "chiuso",
        "alt": "Tempo lavorativo dalla ricezione alla presa in carico",
    },
    "en": {
        "received": "received",
        "due": "by",
        "open": "open",
        "holiday": "holiday",
        "closure": "closed",
        "alt": "Business time from receipt to taking in charge",
    },
}
# The strip's rows, in pixels from the top: the two ends' words, the bar, the days' names,
# then the names of holidays and closures (on two rows, alternately, so that neighbours such as
# Christmas and St Stephen's day do not overlap).
ENDS_Y, BAR_Y, BAR_HEIGHT, DAYS_Y, NAMES_Y, ROW = 14, 22, 28, 66, 84, 16
# A day is named under the bar when it takes at least this share of the strip.
DAY_LABEL_MIN = 14.0


class Band(NamedTuple):
    """A stretch of the bar: `open` (business hours), `holiday` or `closure`; x and width in
    percent of the strip, and its text (the band's own <title>)."""

    kind: str
    x: float
    width: float
    title: str


class Label(NamedTuple):
    """A word on the strip: where (percent), how it is anchored (start, middle, end), at which
    height (pixels) and what it says."""

    kind: str
    x: float
    anchor: str
    y: int
    text: str


class Strip(NamedTuple):
    """Everything the template draws: the bands, the day boundaries (percent), the words, the
    height in pixels and the text alternative of the whole picture."""

    bands: tuple[Band, ...]
    midnights: tuple[float, ...]
    labels: tuple[Label, ...]
    height: int
    description: str
    bar_y: int = BAR_Y
    bar_height: int = BAR_HEIGHT


def deadline_strip(explanation: Explanation, language: str) -> Strip | None:
    """The strip of `explanation` in `language` (it, en); None for an empty window."""
    language = language if language in _WORDS else "it"
    words = _WORDS[language]
    start, due = explanation.start, explanation.due_at
    if due <= start:
        return None
    zone = ZoneInfo(explanation.timezone)

    def at(instant: datetime) -> float:
        """The instant's position in percent of the window, clipped to it."""
        share = (instant - start) / (due - start)
        return round(100 * min(max(share, 0.0), 1.0), 3)

    def hours(begin: datetime, end: datetime) -> str:
        return f"{begin.astimezone(zone):%H:%M}-{end.astimezone(zone):%H:%M}"

    bands = [
        Band(
            "open",
            at(segment.start),
            round(at(segment.end) - at(segment.start), 3),
            f"{words['open']} {_day_words(segment.day, language)} "
            f"{hours(segment.start, segment.end)}",
        )
        for segment in explanation.segments
    ]
    names: list[tuple[float, float, str]] = []
    for skipped in explanation.skipped:
        if skipped.reason not in ("holiday", "closure"):
            continue  # weekends and closed weekdays: the blank between the bands says it
        begin, end = _local_day(skipped.day, zone)
        name = (skipped.name_it if language == "it" else skipped.name_en) or words[skipped.reason]
        x, width = at(begin), round(at(end) - at(begin), 3)
        bands.append(Band(skipped.reason, x, width, f"{skipped.day:%d/%m} {name}"))
        names.append((x, width, name))
    for span in explanation.closed:  # R8: part of a day's hours closed
        label = span.label or words["closure"]
        x, width = at(span.start), round(at(span.end) - at(span.start), 3)
        text = f"{_day_words(span.day, language)} {hours(span.start, span.end)} {label}"
        bands.append(Band("closure", x, width, text))
        names.append((x, width, text))
    labels = [
        Label("end", 0.0, "start", ENDS_Y, f"{words['received']} {_moment(start, zone, language)}"),
        Label("end", 100.0, "end", ENDS_Y, f"{words['due']} {_moment(due, zone, language)}"),
        *_day_labels(start, due, zone, language, at),
        *(
            _placed("name", x, width, NAMES_Y + ROW * (index % 2), text, edge=30)
            for index, (x, width, text) in enumerate(sorted(names))
        ),
    ]
    rows = min(len(names), 2)
    return Strip(
        bands=tuple(sorted(bands, key=lambda band: band.x)),
        midnights=tuple(at(midnight) for midnight in _midnights(start, due, zone)),
        labels=tuple(labels),
        height=(NAMES_Y + ROW * (rows - 1) if rows else DAYS_Y) + 6,
        description=f"{words['alt']}: {explanation.summary(language)}",
    )


def _local_day(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """A local day as UTC instants [midnight, next midnight): 23 or 25 hours on DST days."""
    begin = datetime.combine(day, time(), zone)
    end = datetime.combine(day + timedelta(days=1), time(), zone)
    return begin.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


def _midnights(start: datetime, due: datetime, zone: ZoneInfo) -> list[datetime]:
    """The local midnights strictly inside the window."""
    day = start.astimezone(zone).date() + timedelta(days=1)
    found = []
    while (midnight := _local_day(day, zone)[0]) < due:
        found.append(midnight)
        day += timedelta(days=1)
    return found


def _day_labels(
    start: datetime, due: datetime, zone: ZoneInfo, language: str, at: Callable[[datetime], float]
) -> list[Label]:
    """The local days' names under the bar, for the days wide enough to hold one."""
    labels = []
    day = start.astimezone(zone).date()
    while (span := _local_day(day, zone))[0] < due:
        x, width = at(span[0]), round(at(span[1]) - at(span[0]), 3)
        if width >= DAY_LABEL_MIN:
            labels.append(_placed("day", x, width, DAYS_Y, _weekday(day, language)))
        day += timedelta(days=1)
    return labels


def _placed(kind: str, x: float, width: float, y: int, text: str, *, edge: float = 15) -> Label:
    """A label under the stretch [x, x + width]: centred on it, or held to its inner edge when
    within `edge` percent of either end of the strip, so that it is not cut off there (a
    holiday's name is long: it keeps a wider edge)."""
    middle = x + width / 2
    if middle < edge:
        return Label(kind, x, "start", y, text)
    if middle > 100 - edge:
        return Label(kind, round(x + width, 3), "end", y, text)
    return Label(kind, round(middle, 3), "middle", y, text)


def _weekday(day: date, language: str) -> str:
    """`lun 30`, `Mon 30` (as the explanation names days)."""
    return f"{format_date(day, 'EEE', locale=language).rstrip('.')} {day.day}"


def _day_words(day: date, language: str) -> str:
    """`lun 30/11`, `Mon 30/11`."""
    return f"{format_date(day, 'EEE', locale=language).rstrip('.')} {day:%d/%m}"


def _moment(instant: datetime, zone: ZoneInfo, language: str) -> str:
    local = instant.astimezone(zone)
    return f"{_day_words(local.date(), language)} {local:%H:%M}"
