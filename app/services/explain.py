"""Why a deadline is what it is: the open time consumed day by day, and the days skipped.

PURE, like the engine it explains (no I/O, no clock, no settings): a calendar, a start and a
target in, an explanation out. It is built from the engine's own day intervals and always ends
where `BusinessCalendar.add_business_time` does; its segments sum to the target.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from babel.dates import format_date

from app.models.calendar import ExplanationRead, SegmentRead, SkippedDayRead
from app.services.business_hours import BusinessCalendar

_ONE_DAY = timedelta(days=1)
HOLIDAY_LANGUAGES = {"it": "it_IT", "en": "en_US"}
_WORDS = {
    "it": {"received": "ricevuta", "closed": "chiuso"},
    "en": {"received": "received", "closed": "closed"},
}


@dataclass(frozen=True)
class Segment:
    """Open time consumed on one local day: [start, end), UTC instants."""

    day: date
    start: datetime
    end: datetime

    @property
    def seconds(self) -> int:
        return round((self.end - self.start).total_seconds())


@dataclass(frozen=True)
class SkippedDay:
    """A local day without open time, and why: weekend, closed_weekday, holiday, closure.

    `name` is the holiday's name (in Italian and in English) or the closure's label."""

    day: date
    reason: str
    name_it: str | None = None
    name_en: str | None = None


@dataclass(frozen=True)
class Explanation:
    """From `start` to `due_at`: the clock's start, each open segment, each day skipped."""

    start: datetime
    clock_started_at: datetime
    due_at: datetime
    target: timedelta
    timezone: str
    segments: tuple[Segment, ...]
    skipped: tuple[SkippedDay, ...]

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
    day, last = start.astimezone(zone).date(), due.astimezone(zone).date()
    while day <= last:
        intervals = calendar.open_intervals(day)
        if not intervals:
            skipped.append(_skipped(calendar, day, calendar.closed_because(day) or ""))
        for opening, closing in intervals:
            begin, end = max(opening, start), min(closing, due)
            if begin < end:
                segments.append(Segment(day, begin, end))
        day += _ONE_DAY
    return Explanation(
        start=start,
        # The clock starts where the first open time is spent (R9: at the next opening).
        clock_started_at=segments[0].start if segments else start,
        due_at=due,
        target=target,
        timezone=calendar.spec.timezone,
        segments=tuple(segments),
        skipped=tuple(skipped),
    )


def _skipped(calendar: BusinessCalendar, day: date, reason: str) -> SkippedDay:
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

    def weekday(day: date) -> str:
        return format_date(day, "EEE", locale=language).rstrip(".")

    def moment(instant: datetime) -> str:
        local = instant.astimezone(zone)
        return f"{weekday(local.date())} {local:%d/%m %H:%M}"

    parts = [f"{words['received']} {moment(explanation.start)}"]
    seconds_by_day: dict[date, int] = {}
    for segment in explanation.segments:
        seconds_by_day[segment.day] = seconds_by_day.get(segment.day, 0) + segment.seconds
    events: list[tuple[date, str]] = [
        (day, f"{_duration(seconds)} {weekday(day)} {day.day}")
        for day, seconds in seconds_by_day.items()
    ]
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
            events.append(
                (skipped.day, f"{weekday(skipped.day)} {skipped.day.day} {words['closed']}")
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


def read_explanation(explanation: Explanation) -> ExplanationRead:
    """The API view of an explanation."""
    return ExplanationRead(
        segments=[
            SegmentRead(day=s.day, start=s.start, end=s.end, seconds=s.seconds)
            for s in explanation.segments
        ],
        skipped=[
            SkippedDayRead(day=d.day, reason=d.reason, name=d.name_it, name_en=d.name_en)
            for d in explanation.skipped
        ],
        summary=explanation.summary("it"),
        summary_en=explanation.summary("en"),
    )
