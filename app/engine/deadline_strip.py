"""The picture of a deadline: a strip from receipt to the take-charge deadline, its open
business hours shaded and the holidays and closures on the way named (the status page draws it
as inline SVG).

PURE, like the explanation it draws: an `Explanation` in, geometry out. Positions are percents
of the strip's width, on the wall clock from `start` (0) to `due_at` (100): each shaded band is
as wide as the open time it stands for, so the shaded bands together are `target` and what is
left blank is the time the desk was closed. Everything is clipped to the window.
"""

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
    window = _Window(start, due, ZoneInfo(explanation.timezone), language)
    opened = [
        Band(
            "open",
            *window.span(segment.start, segment.end),
            f"{words['open']} {window.hours(segment.day, segment.start, segment.end)}",
        )
        for segment in explanation.segments
    ]
    named = _named_bands(explanation, window)
    labels = [
        Label("end", 0.0, "start", ENDS_Y, f"{words['received']} {window.moment(start)}"),
        Label("end", 100.0, "end", ENDS_Y, f"{words['due']} {window.moment(due)}"),
        *_day_labels(window),
        *(
            _placed("name", band.x, band.width, NAMES_Y + ROW * (index % 2), name, edge=30)
            for index, (band, name) in enumerate(named)
        ),
    ]
    rows = min(len(named), 2)
    return Strip(
        bands=tuple(sorted([*opened, *(band for band, _ in named)], key=lambda band: band.x)),
        midnights=tuple(window.at(midnight) for midnight in _midnights(window)),
        labels=tuple(labels),
        height=(NAMES_Y + ROW * (rows - 1) if rows else DAYS_Y) + 6,
        description=f"{words['alt']}: {explanation.summary(language)}",
    )


class _Window(NamedTuple):
    """The strip's window, [start, due], and how its instants are placed and said."""

    start: datetime
    due: datetime
    zone: ZoneInfo
    language: str

    def at(self, instant: datetime) -> float:
        """The instant's position in percent of the window, clipped to it."""
        share = (instant - self.start) / (self.due - self.start)
        return round(100 * min(max(share, 0.0), 1.0), 3)

    def span(self, begin: datetime, end: datetime) -> tuple[float, float]:
        """Where [begin, end) starts on the strip and how wide it is, clipped to the window."""
        x = self.at(begin)
        return x, round(self.at(end) - x, 3)

    def hours(self, day: date, begin: datetime, end: datetime) -> str:
        """`lun 30/11 15:00-18:00`."""
        local = f"{begin.astimezone(self.zone):%H:%M}-{end.astimezone(self.zone):%H:%M}"
        return f"{_day_words(day, self.language)} {local}"

    def moment(self, instant: datetime) -> str:
        local = instant.astimezone(self.zone)
        return f"{_day_words(local.date(), self.language)} {local:%H:%M}"


def _named_bands(explanation: Explanation, window: _Window) -> list[tuple[Band, str]]:
    """The holidays and closures on the way, each band with the name written under it, in
    order along the strip; weekends and closed weekdays are the blank between the bands."""
    words = _WORDS[window.language]
    named = []
    for skipped in explanation.skipped:
        if skipped.reason not in ("holiday", "closure"):
            continue
        english = window.language == "en"
        name = (skipped.name_en if english else skipped.name_it) or words[skipped.reason]
        place = window.span(*_local_day(skipped.day, window.zone))
        named.append((Band(skipped.reason, *place, f"{skipped.day:%d/%m} {name}"), name))
    for closed in explanation.closed:  # R8: part of a day's hours closed
        hours = window.hours(closed.day, closed.start, closed.end)
        text = f"{hours} {closed.label or words['closure']}"
        named.append((Band("closure", *window.span(closed.start, closed.end), text), text))
    return sorted(named, key=lambda pair: pair[0].x)


def _local_day(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """A local day as UTC instants [midnight, next midnight): 23 or 25 hours on DST days."""
    begin = datetime.combine(day, time(), zone)
    end = datetime.combine(day + timedelta(days=1), time(), zone)
    return begin.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


def _midnights(window: _Window) -> list[datetime]:
    """The local midnights strictly inside the window."""
    day = window.start.astimezone(window.zone).date() + timedelta(days=1)
    found = []
    while (midnight := _local_day(day, window.zone)[0]) < window.due:
        found.append(midnight)
        day += timedelta(days=1)
    return found


def _day_labels(window: _Window) -> list[Label]:
    """The local days' names under the bar, for the days wide enough to hold one."""
    labels = []
    day = window.start.astimezone(window.zone).date()
    while (span := _local_day(day, window.zone))[0] < window.due:
        x, width = window.span(*span)
        if width >= DAY_LABEL_MIN:
            labels.append(_placed("day", x, width, DAYS_Y, _weekday(day, window.language)))
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
