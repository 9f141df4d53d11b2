"""Business-time arithmetic on a business calendar (R8, R9).

Pure: no I/O, no clock, no settings. Internally an instant is an integer count of microseconds
since the Unix epoch, so arithmetic is exact; local wall time matters only when the open
intervals of one local date are computed, once per date (cached). Long spans jump through
per-year cumulative sums, so the cost of a deadline does not grow with its target. The
calendar itself, as data with its rules, is app.engine.calendar_spec.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import cast
from zoneinfo import ZoneInfo

import holidays

from app.engine.calendar_spec import CalendarSpec, Closure, WeeklyHours

_US = 1_000_000
_DAY_SECONDS = 86_400
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = _EPOCH.toordinal()
# Every instant whose local date is D lies within this margin of D's midnight read as UTC
# (real offsets stay within -12 h .. +14 h; the margin leaves room for historical oddities).
_OFFSET_MARGIN_SECONDS = 26 * 3600
# next_opening gives up after this many days without open time.
_HORIZON_DAYS = 2 * 366


class BusinessCalendar:
    """Business-time arithmetic on one CalendarSpec; every result is a UTC-aware datetime.

    Open intervals are half-open, [opening, closing): open at the opening instant, closed at
    the closing instant. Business hours follow local wall-clock time, so daylight-saving
    changes move UTC offsets, never the hours; a wall time skipped by a spring-forward gap is
    reached at the end of the gap, and a wall time repeated by a fall-back counts twice.
    (Days are walked in date order: this assumes no zone turns its clock back across midnight.)
    """

    # Deadlines up to this many days away are walked day by day; longer ones use the year index.
    _max_walk_days = 31
    # Open time between two instants is summed day by day over at most this many days; longer
    # spans read it off the year index (two lookups a year), e.g. how late an old breach is.
    _max_sum_days = 4

    def __init__(self, spec: CalendarSpec) -> None:
        self.spec = spec
        self._zone = ZoneInfo(spec.timezone)
        # Seconds since local midnight, indexed by weekday (0 = Monday).
        self._weekly_seconds = tuple(
            tuple((_seconds_of_day(start), _seconds_of_day(end)) for start, end in intervals)
            for _, intervals in cast(WeeklyHours, spec.weekly)
        )
        week_open_us = _US * sum(end - start for day in self._weekly_seconds for start, end in day)
        self._has_hours = week_open_us > 0
        self._closures_by_day: dict[int, tuple[Closure, ...]] = {}
        for closure in spec.closed:
            ordinal = closure.day.toordinal()
            self._closures_by_day[ordinal] = (*self._closures_by_day.get(ordinal, ()), closure)
        # A target longer than a nominal week of open time skips the walk and jumps directly.
        self._walk_limit_us: float = week_open_us
        self._intervals_on = lru_cache(maxsize=4096)(self._compute_intervals_on)
        self._open_us_on = lru_cache(maxsize=4096)(self._compute_open_us_on)
        self._year_index = lru_cache(maxsize=32)(self._compute_year_index)
        self._instants_on = lru_cache(maxsize=4096)(self._compute_instants_on)

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.spec!r})"

    def is_open(self, instant: datetime) -> bool:
        """Whether the calendar is open at `instant`."""
        at = _to_us(instant, "instant")
        return any(start <= at < end for start, end in self._intervals_on(self._local_day(instant)))

    def next_opening(self, instant: datetime) -> datetime:
        """`instant` itself if open, else the next opening instant."""
        at = _to_us(instant, "instant")
        self._require_hours()
        first_day = self._local_day(instant)
        for day in range(first_day, first_day + _HORIZON_DAYS):
            for start, end in self._intervals_on(day):
                if at < end:
                    return instant.astimezone(UTC) if start <= at else _from_us(start)
        raise ValueError(f"the calendar has no open time within {_HORIZON_DAYS} days of {instant}")

    def clock_start(self, received_at: datetime) -> datetime:
        """When the SLA clock starts for a request received at `received_at`."""
        # R9: a request received while closed starts its clock at the next opening.
        return self.next_opening(received_at)

    def add_business_time(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant by which `duration` of open time has elapsed since `start`.

        A result that lands exactly on a closing time stays there (it does not roll to the
        next opening); a zero duration returns `start` unchanged.
        """
        at = _to_us(start, "start")
        remaining = _duration_us(duration)
        if remaining == 0:
            return start.astimezone(UTC)
        self._require_hours()
        first_day = self._local_day(start)
        walk_days = self._max_walk_days if remaining <= self._walk_limit_us else 1
        for day in range(first_day, first_day + walk_days):
            for start_us, end_us in self._intervals_on(day):
                if end_us <= at:
                    continue
                begin = start_us if start_us > at else at
                if end_us - begin >= remaining:
                    return _from_us(begin + remaining)
                remaining -= end_us - begin
        return self._jump(first_day + walk_days, remaining)

    def business_time_between(self, start: datetime, end: datetime) -> timedelta:
        """The open time within [start, end); zero when `end` is not after `start`."""
        start_at, end_at = _to_us(start, "start"), _to_us(end, "end")
        if end_at <= start_at:
            return timedelta(0)
        first_day, last_day = self._local_day(start), self._local_day(end)
        total = (
            self._open_us_between_days(first_day, last_day)
            - self._open_us_before(first_day, start_at)
            + self._open_us_before(last_day, end_at)
        )
        return timedelta(microseconds=total)

    def open_intervals(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The open intervals of the local date `day`, as UTC instants [opening, closing)."""
        return self._instants_on(day.toordinal())

    def closed_because(self, day: date) -> str | None:
        """Why the local date `day` has no open time (None when it has some): `holiday`,
        `closure` (a whole-day closure, or closures covering all of the day's hours),
        `weekend` (Saturday or Sunday without hours) or `closed_weekday`."""
        ordinal = day.toordinal()
        if self._intervals_on(ordinal):
            return None
        if self._is_holiday(day):
            return "holiday"
        closures = self._closures_by_day.get(ordinal, ())
        if any(c.whole_day for c in closures) or (closures and self._weekly_seconds[day.weekday()]):
            return "closure"
        return "weekend" if day.weekday() >= 5 else "closed_weekday"

    def closures_on(self, day: date) -> tuple[Closure, ...]:
        """The closures of the local date `day`."""
        return self._closures_by_day.get(day.toordinal(), ())

    def closed_hours(self, day: date) -> tuple[tuple[datetime, datetime, Closure], ...]:
        """The opening hours of `day` that its closures take away, as UTC instants, each with
        the closure that takes it (a day that is a public holiday has none to take)."""
        ordinal = day.toordinal()
        if self._is_holiday(day):
            return ()
        hours = self._weekly_seconds[day.weekday()]
        taken = []
        for closure in self._closures_by_day.get(ordinal, ()):
            span = ((_seconds_of_day(closure.start), _seconds_of_day(closure.end)),)
            for start, end in self._to_utc(ordinal, _intersect(hours, span)):
                taken.append((_from_us(start), _from_us(end), closure))
        return tuple(sorted(taken, key=lambda piece: piece[0]))

    def _is_holiday(self, day: date) -> bool:
        """R8: a public holiday of the calendar's country and region (closed all day)."""
        spec = self.spec
        return day in _public_holidays(spec.holiday_country, spec.holiday_subdivision, day.year)

    def _require_hours(self) -> None:
        if not self._has_hours:
            raise ValueError("the calendar has no opening hours on any weekday")

    def _local_day(self, instant: datetime) -> int:
        """The proleptic ordinal of the local date of `instant`."""
        return instant.astimezone(self._zone).toordinal()

    def _jump(self, day: int, remaining: int) -> datetime:
        """Spend `remaining` open time from the start of `day`, year by year via the index."""
        idle_years = 0
        while True:
            first, cumulative = self._year_index(date.fromordinal(day).year)
            spent_before = cumulative[day - first]
            target = spent_before + remaining
            if target <= cumulative[-1]:
                # The target day is the first whose cumulative open time reaches the target.
                index = bisect_left(cumulative, target, lo=day - first + 1) - 1
                remaining = target - cumulative[index]
                for start_us, end_us in self._intervals_on(first + index):
                    if end_us - start_us >= remaining:
                        return _from_us(start_us + remaining)
                    remaining -= end_us - start_us
                raise AssertionError("the year index disagrees with the day's intervals")
            remaining = target - cumulative[-1]
            idle_years = idle_years + 1 if cumulative[-1] == spent_before else 0
            if idle_years > 2:
                raise ValueError("the calendar has no open time in three consecutive years")
            day = first + len(cumulative) - 1

    def _open_us_before(self, day: int, at: int) -> int:
        """Open time on local `day` before the instant `at`."""
        return sum(min(end, at) - start for start, end in self._intervals_on(day) if start < at)

    def _open_us_between_days(self, first_day: int, stop_day: int) -> int:
        """Open time on the local days [first_day, stop_day)."""
        if stop_day - first_day <= self._max_sum_days:
            return sum(self._open_us_on(day) for day in range(first_day, stop_day))
        total, day = 0, first_day
        while day < stop_day:
            first, cumulative = self._year_index(date.fromordinal(day).year)
            stop = min(stop_day, first + len(cumulative) - 1)
            total += cumulative[stop - first] - cumulative[day - first]
            day = stop
        return total

    def _compute_year_index(self, year: int) -> tuple[int, tuple[int, ...]]:
        """(ordinal of 1 January, cumulative open time before each day of the year and after)."""
        first = date(year, 1, 1).toordinal()
        cumulative, total = [0], 0
        for day in range(first, date(year + 1, 1, 1).toordinal()):
            total += self._open_us_on(day)
            cumulative.append(total)
        return first, tuple(cumulative)

    def _compute_instants_on(self, day: int) -> tuple[tuple[datetime, datetime], ...]:
        return tuple((_from_us(start), _from_us(end)) for start, end in self._intervals_on(day))

    def _compute_open_us_on(self, day: int) -> int:
        return sum(end - start for start, end in self._intervals_on(day))

    def _compute_intervals_on(self, day: int) -> tuple[tuple[int, int], ...]:
        """The open intervals of local `day` as sorted, disjoint UTC microsecond pairs."""
        local_hours = self._weekly_seconds[(day + 6) % 7]  # ordinal 1 is a Monday
        if not local_hours:
            return ()
        if self._is_holiday(date.fromordinal(day)):
            return ()  # R8: public holidays close the whole local day
        closures = self._closures_by_day.get(day)
        if closures:  # R8: a closure takes its span (often the whole day) off the day's hours
            spans = [(_seconds_of_day(c.start), _seconds_of_day(c.end)) for c in closures]
            local_hours = _subtract(local_hours, spans)
        return self._to_utc(day, local_hours)

    def _to_utc(
        self, day: int, local_hours: Sequence[tuple[int, int]]
    ) -> tuple[tuple[int, int], ...]:
        """Wall-clock intervals of local `day` (seconds since midnight) as sorted, disjoint UTC
        microsecond pairs."""
        if not local_hours:
            return ()
        midnight = (day - _EPOCH_ORDINAL) * _DAY_SECONDS  # local midnight read as if UTC
        low = midnight - _OFFSET_MARGIN_SECONDS
        high = midnight + _DAY_SECONDS + _OFFSET_MARGIN_SECONDS
        pieces = sorted(
            (max(seg_start, midnight + start - offset), min(seg_end, midnight + end - offset))
            for seg_start, seg_end, offset in self._offset_segments(low, high)
            for start, end in local_hours
        )
        merged: list[tuple[int, int]] = []
        for start, end in pieces:
            if start >= end:
                continue  # wall time skipped by a spring-forward gap, or outside the segment
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return tuple((start * _US, end * _US) for start, end in merged)

    def _offset_segments(self, low: int, high: int) -> list[tuple[int, int, int]]:
        """Split [low, high) (UTC seconds) into (start, end, utc offset) runs of one offset."""
        middle = (low + high) // 2
        offsets = [self._offset_at(low), self._offset_at(middle), self._offset_at(high)]
        if offsets[0] == offsets[1] == offsets[2]:
            return [(low, high, offsets[0])]  # the usual case: no transition near this day
        transitions = self._transitions(low, offsets[0], middle, offsets[1])
        transitions += self._transitions(middle, offsets[1], high, offsets[2])
        bounds = [low, *(instant for instant, _ in transitions), high]
        run_offsets = [offsets[0], *(offset for _, offset in transitions)]
        return list(zip(bounds[:-1], bounds[1:], run_offsets, strict=True))

    def _transitions(
        self, low: int, low_offset: int, high: int, high_offset: int
    ) -> list[tuple[int, int]]:
        """(instant, new offset) of each offset change in (low, high], found by bisection."""
        if low_offset == high_offset:
            return []
        if high - low == 1:
            return [(high, high_offset)]
        middle = (low + high) // 2
        middle_offset = self._offset_at(middle)
        return self._transitions(low, low_offset, middle, middle_offset) + self._transitions(
            middle, middle_offset, high, high_offset
        )

    def _offset_at(self, instant: int) -> int:
        """The zone's UTC offset in seconds at a UTC instant given in seconds."""
        offset = datetime.fromtimestamp(instant, self._zone).utcoffset()
        assert offset is not None
        return int(offset.total_seconds())


@lru_cache(maxsize=128)
def calendar_for(spec: CalendarSpec) -> BusinessCalendar:
    """The shared, cached BusinessCalendar of a spec."""
    return BusinessCalendar(spec)


@lru_cache(maxsize=256)
def _public_holidays(country: str | None, subdivision: str | None, year: int) -> frozenset[date]:
    """The public holidays of a year, shared by every calendar of the same country/region."""
    if country is None:
        return frozenset()
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


def _to_us(instant: datetime, name: str) -> int:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    delta = instant - _EPOCH
    return (delta.days * _DAY_SECONDS + delta.seconds) * _US + delta.microseconds


def _from_us(instant: int) -> datetime:
    return _EPOCH + timedelta(microseconds=instant)


def _duration_us(duration: timedelta) -> int:
    if duration < timedelta(0):
        raise ValueError(f"duration must not be negative, got {duration}")
    return (duration.days * _DAY_SECONDS + duration.seconds) * _US + duration.microseconds


def _subtract(
    hours: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]
) -> tuple[tuple[int, int], ...]:
    """The parts of the sorted, disjoint `hours` outside every span (spans may overlap)."""
    result = list(hours)
    for cut_start, cut_end in spans:
        result = [
            piece
            for start, end in result
            for piece in ((start, min(end, cut_start)), (max(start, cut_end), end))
            if piece[0] < piece[1]
        ]
    return tuple(result)


def _intersect(
    hours: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]
) -> tuple[tuple[int, int], ...]:
    """The parts of the sorted, disjoint `hours` inside the sorted, disjoint `spans`."""
    return tuple(
        (max(start, span_start), min(end, span_end))
        for start, end in hours
        for span_start, span_end in spans
        if max(start, span_start) < min(end, span_end)
    )


def _seconds_of_day(hh_mm: str) -> int:
    hours, minutes = hh_mm.split(":")
    return int(hours) * 3600 + int(minutes) * 60
