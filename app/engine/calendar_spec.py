"""A business calendar as data (R8): weekly hours in a time zone, public holidays, company
closures of whole days or parts of days, and the rules each part must follow.

Pure: no I/O, no clock, no settings. The arithmetic on a calendar is app.engine.business_hours.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from functools import cache
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Interval = tuple[str, str]
# Normalised weekly hours: one (day, intervals) pair per day, "mon".."sun" in order.
WeeklyHours = tuple[tuple[str, tuple[Interval, ...]], ...]

_HH_MM = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d|24:00")


@dataclass(frozen=True)
class Closure:
    """A company closure on one local date: the whole day, or wall-clock [start, end) of it.

    "24:00" may end a closure; a closure may overlap the opening hours in any way (R8: the
    closed time is removed from that day's hours, the rest of the day stays open).
    """

    day: date
    start: str = "00:00"
    end: str = "24:00"
    label: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.day, date) or isinstance(self.day, datetime):
            raise ValueError(f"closures must be dates, got {self.day!r}")
        for moment in (self.start, self.end):
            if not isinstance(moment, str) or not _HH_MM.fullmatch(moment):
                raise ValueError(f"closure {self.day}: {moment!r} is not a time HH:MM")
        if self.start >= self.end:
            raise ValueError(f"closure {self.day} {self.start}-{self.end} must end after it starts")
        if self.label is not None and (not isinstance(self.label, str) or len(self.label) > 200):
            raise ValueError(f"closure {self.day}: a label is text of 200 characters at most")

    @property
    def whole_day(self) -> bool:
        return self.start == "00:00" and self.end == "24:00"

    def to_json(self) -> str | dict[str, str | None]:
        """A whole day without a label is its ISO date, as calendars always stored it."""
        if self.whole_day and self.label is None:
            return self.day.isoformat()
        return {
            "date": self.day.isoformat(),
            "start": self.start,
            "end": self.end,
            "label": self.label,
        }

    @classmethod
    def from_json(cls, item: Any) -> Closure:
        """The inverse of `to_json`: an ISO date, or {"date", "start"?, "end"?, "label"?}."""
        if isinstance(item, str):
            return cls(date.fromisoformat(item))
        if not isinstance(item, Mapping) or "date" not in item:
            raise ValueError('a closure is an ISO date or {"date": ..., "start": ..., "end": ...}')
        unknown = set(item) - {"date", "start", "end", "label"}
        if unknown:
            raise ValueError(f"unknown closure fields: {', '.join(sorted(unknown))}")
        return cls(
            date.fromisoformat(item["date"]),
            start=item.get("start") or "00:00",
            end=item.get("end") or "24:00",
            label=item.get("label"),
        )


@dataclass(frozen=True)
class CalendarSpec:
    """When a calendar is open: weekly hours in a time zone, minus holidays and closures (R8).

    `weekly` may be given as a mapping {"mon": [("15:00", "18:00")], ...} (missing days are
    closed); it is stored normalised as `WeeklyHours` so that the spec is hashable.
    """

    timezone: str
    weekly: WeeklyHours | Mapping[str, Iterable[Sequence[str]]]
    holiday_country: str | None = "IT"
    holiday_subdivision: str | None = None
    closures: Iterable[date | Closure] = ()

    def __post_init__(self) -> None:
        _check_timezone(self.timezone)
        _check_holidays(self.holiday_country, self.holiday_subdivision)
        object.__setattr__(self, "weekly", _normalize_weekly(self.weekly))
        object.__setattr__(self, "closures", _normalize_closures(self.closures))

    def hours_on(self, day: str) -> tuple[Interval, ...]:
        """The opening intervals of a weekday ("mon".."sun")."""
        return dict(cast(WeeklyHours, self.weekly))[day]

    # The rules of a calendar's parts, one by one, for schemas that name the field at fault.

    @staticmethod
    def check_timezone(timezone: str) -> str:
        """An IANA time zone name, or ValueError."""
        _check_timezone(timezone)
        return timezone

    @staticmethod
    def check_holidays(country: str | None, subdivision: str | None) -> None:
        """Country and subdivision as the `holidays` package knows them, or ValueError."""
        _check_holidays(country, subdivision)

    @staticmethod
    def normalize_weekly(weekly: Mapping[str, Iterable[Sequence[str]]]) -> WeeklyHours:
        """Weekly hours checked ("HH:MM" pairs, sorted, no overlaps), or ValueError."""
        return _normalize_weekly(weekly)

    @staticmethod
    def normalize_closures(closures: Iterable[date | Closure]) -> tuple[Closure, ...]:
        """Closures checked, sorted, duplicates dropped; or ValueError."""
        return _normalize_closures(closures)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CalendarSpec:
        """Build a spec from its JSON form (see `to_dict`)."""
        unknown = set(data) - {spec_field.name for spec_field in fields(cls)}
        if unknown:
            raise ValueError(f"unknown calendar fields: {', '.join(sorted(unknown))}")
        missing = {"timezone", "weekly"} - set(data)
        if missing:
            raise ValueError(f"missing calendar fields: {', '.join(sorted(missing))}")
        if not isinstance(data["weekly"], Mapping):
            raise ValueError('weekly must be an object like {"mon": [["15:00", "18:00"]]}')
        closures = data.get("closures") or ()
        if isinstance(closures, str | Mapping):
            raise ValueError("closures must be a list of ISO dates or closure objects")
        return cls(
            timezone=data["timezone"],
            weekly=data["weekly"],
            holiday_country=data.get("holiday_country", "IT"),
            holiday_subdivision=data.get("holiday_subdivision"),
            closures=tuple(Closure.from_json(item) for item in closures),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored as a snapshot: weekly lists of ["HH:MM", "HH:MM"], ISO closures."""
        return {
            "timezone": self.timezone,
            "weekly": {
                day: [[start, end] for start, end in intervals]
                for day, intervals in cast(WeeklyHours, self.weekly)
            },
            "holiday_country": self.holiday_country,
            "holiday_subdivision": self.holiday_subdivision,
            "closures": [closure.to_json() for closure in self.closed],
        }

    @property
    def closed(self) -> tuple[Closure, ...]:
        """The closures, sorted (normalised by the constructor)."""
        return cast(tuple[Closure, ...], self.closures)


def _check_timezone(timezone: str) -> None:
    if not isinstance(timezone, str) or not timezone:
        raise ValueError("timezone must be an IANA time zone name such as 'Europe/Rome'")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        # OSError: a name that is a folder of the time zone database ("Europe").
        raise ValueError(f"unknown time zone {timezone!r}") from exc


@cache
def _supported_holiday_countries() -> dict[str, list[str]]:
    return holidays.list_supported_countries()


def _check_holidays(country: str | None, subdivision: str | None) -> None:
    if country is None:
        if subdivision is not None:
            raise ValueError("holiday_subdivision needs a holiday_country")
        return
    subdivisions = _supported_holiday_countries().get(country)
    if subdivisions is None:
        raise ValueError(f"holidays are not available for country {country!r}")
    if subdivision is not None and subdivision not in subdivisions:
        raise ValueError(f"unknown subdivision {subdivision!r} for holiday country {country!r}")


def _normalize_weekly(weekly: Any) -> WeeklyHours:
    items = weekly.items() if isinstance(weekly, Mapping) else weekly
    by_day: dict[str, tuple[Interval, ...]] = {}
    for day, intervals in items:
        if day not in DAYS:
            raise ValueError(f"unknown weekday {day!r}: use one of {', '.join(DAYS)}")
        if day in by_day:
            raise ValueError(f"weekday {day!r} is given twice")
        by_day[day] = _normalize_intervals(day, intervals)
    return tuple((day, by_day.get(day, ())) for day in DAYS)


def _normalize_intervals(day: str, intervals: Any) -> tuple[Interval, ...]:
    if isinstance(intervals, str | bytes):
        raise ValueError(f"{day}: intervals must be a list of [start, end] pairs")
    normalized: list[Interval] = []
    previous_end = "00:00"
    for interval in intervals:
        if isinstance(interval, str | bytes) or len(interval) != 2:
            raise ValueError(f"{day}: {interval!r} is not a [start, end] pair")
        start, end = interval
        for moment in (start, end):
            if not isinstance(moment, str) or not _HH_MM.fullmatch(moment):
                raise ValueError(f"{day}: {moment!r} is not a time HH:MM (00:00 to 24:00)")
        if start == "24:00":
            raise ValueError(f"{day}: an interval cannot start at 24:00")
        if start >= end:  # zero-padded HH:MM strings compare like the times they denote
            raise ValueError(f"{day}: interval {start}-{end} must end after it starts")
        if start < previous_end:
            raise ValueError(f"{day}: intervals must be sorted and must not overlap")
        normalized.append((start, end))
        previous_end = end
    return tuple(normalized)


def _normalize_closures(closures: Iterable[date | Closure]) -> tuple[Closure, ...]:
    if isinstance(closures, str | bytes | Mapping):
        raise ValueError("closures must be a list of dates or Closure objects")
    normalized = {item if isinstance(item, Closure) else Closure(item) for item in closures}
    return tuple(sorted(normalized, key=lambda c: (c.day, c.start, c.end, c.label or "")))


# R8: Monday to Friday 15:00-18:00, Europe/Rome, closed on Italian public holidays.
DEFAULT_CALENDAR_SPEC = CalendarSpec(
    timezone="Europe/Rome",
    weekly={day: (("15:00", "18:00"),) for day in DAYS[:5]},
    holiday_country="IT",
)
