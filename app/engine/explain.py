"""Why a deadline is what it is: the open time consumed day by day, and the days skipped.

PURE, like the engine it explains (no I/O, no clock, no settings): a calendar, a start and a
target in, an explanation out. It is built from the engine's own day intervals and always ends
where `BusinessCalendar.add_business_time` does; its segments sum to the target.
"""

from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

import holidays
from babel.dates import get_day_names

from app.engine.business_hours import BusinessCalendar

HOLIDAY_LANGUAGES = {"it": "it_IT", "en": "en_US"}
_WORDS = {
    "it": {"received": "ricevuta", "closed": "chiuso"},
    "en": {"received": "received", "closed": "closed"},
}


class Segment(NamedTuple):
    """Open time consumed on one local day: [start, end), UTC instants."""

    day: date
    start: datetime
    end: datetime

    @property
    def seconds(self) -> int:
        return round((self.end - self.start).total_seconds())


class SkippedDay(NamedTuple):
    """A local day without open time, and why: weekend, closed_weekday, holiday, closure.

    `name` is the holiday's name (in Italian and in English) or the closures' labels."""

    day: date
    reason: str
    name_it: str | None = None
    name_en: str | None = None


class ClosedSpan(NamedTuple):
    """Opening hours of a day that stays open otherwise, taken away by a closure (R8):
    [start, end), UTC instants, and the closure's label."""

    day: date
    start: datetime
    end: datetime
    label: str | None


class Explanation(NamedTuple):
    """From `start` to `due_at`: the clock's start, each open segment, each day skipped, and
    each part of a day's hours closed on the way."""

    start: datetime
    clock_started_at: datetime
    due_at: datetime
    target: timedelta
    timezone: str
    segments: tuple[Segment, ...]
    skipped: tuple[SkippedDay, ...]
    closed: tuple[ClosedSpan, ...] = ()

    def summary(self, language: str) -> str:
        """One line, e.g. `ricevuta gio 24/12 17:00; 1 h gio 24; 25/12 Natale; sab-dom chiuso;
        3 h lun 28 -> lun 28/12 18:00`."""
        return _summary(self, language if language in _WORDS else "it")


def explain(calendar: BusinessCalendar, start: datetime, target: timedelta) -> Explanation:
    """Explain the deadline `target` of business time after `start` on `calendar`."""
    due = calendar.add_business_time(start, target)
    zone = ZoneInfo(calendar.spec.timezone)
    segments: list[Segment] = []
    skipped: list[SkippedDay] = []
    closed: list[ClosedSpan] = []
    first = start.astimezone(zone).toordinal()
    for ordinal in range(first, due.astimezone(zone).toordinal() + 1):
        day, intervals, closed_day, closed_hours = _day(calendar, ordinal)
        if closed_day is not None:
            skipped.append(closed_day)
        for opening, closing in intervals:
            if opening < due and closing > start:
                begin = opening if opening > start else start
                segments.append(Segment(day, begin, closing if closing < due else due))
        # R8: a closure for part of a day; say so when it falls between start and deadline.
        for opening, closing, label in closed_hours:
            if opening < due and closing > start:
                begin = opening if opening > start else start
                closed.append(ClosedSpan(day, begin, closing if closing < due else due, label))
    return Explanation(
        start=start,
        # The clock starts where the first open time is spent (R9: at the next opening).
        clock_started_at=segments[0].start if segments else start,
        due_at=due,
        target=target,
        timezone=calendar.spec.timezone,
        segments=tuple(segments),
        skipped=tuple(skipped),
        closed=tuple(closed),
    )


_Hours = tuple[tuple[datetime, datetime], ...]
_ClosedHours = tuple[tuple[datetime, datetime, str | None], ...]


@lru_cache(maxsize=8192)
def _day(
    calendar: BusinessCalendar, ordinal: int
) -> tuple[date, _Hours, SkippedDay | None, _ClosedHours]:
    """What an explanation needs of one local day: its open intervals, why it is closed if it
    is, and the hours that closures take off it (the same for every explanation, so shared)."""
    day = date.fromordinal(ordinal)
    intervals = calendar.open_intervals(day)
    if not intervals:
        return day, intervals, _skipped(calendar, day, calendar.closed_because(day) or ""), ()
    closed_hours = tuple(
        (opening, closing, closure.label)
        for opening, closing, closure in calendar.closed_hours(day)
    )
    return day, intervals, None, closed_hours


def _skipped(calendar: BusinessCalendar, day: date, reason: str) -> SkippedDay:
    if reason == "closure":
        labels = [c.label for c in calendar.closures_on(day) if c.label]
        label = ", ".join(dict.fromkeys(labels)) or None
        return SkippedDay(day, reason, name_it=label, name_en=label)
    if reason != "holiday":
        return SkippedDay(day, reason)
    spec = calendar.spec
    return SkippedDay(
        day,
        reason,
        name_it=_holiday_name(spec.holiday_country, spec.holiday_subdivision, day, "it"),
        name_en=_holiday_name(spec.holiday_country, spec.holiday_subdivision, day, "en"),
    )


@lru_cache(maxsize=512)
def _holiday_name(country: str | None, subdivision: str | None, day: date, language: str) -> str:
    if country is None:
        return ""
    names = _holiday_names(country, subdivision, day.year, HOLIDAY_LANGUAGES[language])
    return names.get(day, "")


@lru_cache(maxsize=64)
def _holiday_names(
    country: str, subdivision: str | None, year: int, language: str
) -> dict[date, str]:
    known = holidays.country_holidays(country, subdiv=subdivision, years=year)
    wanted = language if language in known.supported_languages else None
    return dict(holidays.country_holidays(country, subdiv=subdivision, years=year, language=wanted))


def _summary(explanation: Explanation, language: str) -> str:
    zone = ZoneInfo(explanation.timezone)
    words = _WORDS[language]

    days = get_day_names("abbreviated", locale=language)  # what format_date's "EEE" says

    def weekday(day: date) -> str:
        return days[day.weekday()].rstrip(".")

    def moment(instant: datetime) -> str:
        local = instant.astimezone(zone)
        return f"{weekday(local.date())} {local:%d/%m %H:%M}"

    parts = [f"{words['received']} {moment(explanation.start)}"]
    seconds_by_day: dict[date, int] = {}
    for segment in explanation.segments:
        seconds_by_day[segment.day] = seconds_by_day.get(segment.day, 0) + segment.seconds
    closed_by_day: dict[date, list[str]] = {}
    for span in explanation.closed:
        hours = f"{span.start.astimezone(zone):%H:%M}-{span.end.astimezone(zone):%H:%M}"
        closed_by_day.setdefault(span.day, []).append(
            f"{words['closed']} {hours}" + (f" {span.label}" if span.label else "")
        )
    events: list[tuple[date, str]] = []
    for day in sorted(seconds_by_day.keys() | closed_by_day.keys()):
        text = f"{weekday(day)} {day.day}"
        if day in seconds_by_day:
            text = f"{_duration(seconds_by_day[day])} {text}"
        if day in closed_by_day:
            text += f" ({', '.join(closed_by_day[day])})"
        events.append((day, text))
    weekend_run: list[date] = []

    def close_run() -> None:
        if weekend_run:
            span = weekday(weekend_run[0])
            if len(weekend_run) > 1:
                span += f"-{weekday(weekend_run[-1])}"
            events.append((weekend_run[0], f"{span} {words['closed']}"))
            weekend_run.clear()

    for skipped in explanation.skipped:
        if skipped.reason == "weekend" and (
            not weekend_run or skipped.day - weekend_run[-1] == timedelta(days=1)
        ):
            weekend_run.append(skipped.day)
            continue
        close_run()
        if skipped.reason == "weekend":
            weekend_run.append(skipped.day)
        elif skipped.reason == "holiday":
            name = skipped.name_it if language == "it" else skipped.name_en
            events.append((skipped.day, f"{skipped.day:%d/%m} {name}"))
        else:
            label = f" {skipped.name_it}" if skipped.name_it else ""
            events.append(
                (skipped.day, f"{weekday(skipped.day)} {skipped.day.day} {words['closed']}{label}")
            )
    close_run()
    parts += [text for _, text in sorted(events, key=lambda event: event[0])]
    return "; ".join(parts) + f" -> {moment(explanation.due_at)}"


def _duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes = round(rest / 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"
