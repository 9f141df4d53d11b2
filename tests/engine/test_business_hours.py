"""Business-hours engine: worked deadlines, edges, DST, holidays, properties against an oracle."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.engine.business_hours import BusinessCalendar, calendar_for
from app.engine.calendar_spec import DAYS, DEFAULT_CALENDAR_SPEC, CalendarSpec, Closure

ROME = ZoneInfo("Europe/Rome")
NEW_YORK = ZoneInfo("America/New_York")
FOUR_HOURS = timedelta(hours=4)
DEFAULT = BusinessCalendar(DEFAULT_CALENDAR_SPEC)


def rome(*args: int) -> datetime:
    return datetime(*args, tzinfo=ROME)  # type: ignore[misc]


def every_day(start: str, end: str, **options: object) -> CalendarSpec:
    return CalendarSpec(weekly={day: ((start, end),) for day in DAYS}, **options)  # type: ignore[arg-type]


def deadline(calendar: BusinessCalendar, received_at: datetime, target: timedelta) -> datetime:
    return calendar.add_business_time(calendar.clock_start(received_at), target)


# --- SPEC.md worked deadlines ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "due"),
    [
        pytest.param(rome(2026, 11, 23, 16), rome(2026, 11, 24, 17), id="R9 2h Mon + 2h Tue"),
        pytest.param(rome(2026, 11, 27, 17, 30), rome(2026, 12, 1, 15, 30), id="R9 across weekend"),
        pytest.param(rome(2026, 11, 28, 10), rome(2026, 12, 1, 16), id="R9 Sat starts Mon 15"),
        pytest.param(rome(2026, 12, 24, 17), rome(2026, 12, 28, 18), id="R8 R9 Christmas, 18:00"),
    ],
)
def test_worked_deadlines_r8_r9(received: datetime, due: datetime) -> None:
    """R8 default calendar, R9 four business hours: the four deadlines worked out in SPEC.md."""
    result = deadline(DEFAULT, received, FOUR_HOURS)
    assert result == due
    assert result.tzinfo is UTC
    assert DEFAULT.business_time_between(DEFAULT.clock_start(received), result) == FOUR_HOURS


def test_r9_received_exactly_at_friday_closing_starts_monday() -> None:
    friday_closing = rome(2026, 11, 27, 18)
    assert not DEFAULT.is_open(friday_closing)
    assert DEFAULT.is_open(friday_closing - timedelta(microseconds=1))
    assert DEFAULT.clock_start(friday_closing) == rome(2026, 11, 30, 15)
    assert deadline(DEFAULT, friday_closing, FOUR_HOURS) == rome(2026, 12, 1, 16)


def test_r9_deadline_on_closing_edge_stays_at_closing() -> None:
    assert DEFAULT.add_business_time(rome(2026, 11, 23, 15), timedelta(hours=3)) == rome(
        2026, 11, 23, 18
    )
    assert DEFAULT.add_business_time(rome(2026, 11, 23, 17), timedelta(hours=1)) == rome(
        2026, 11, 23, 18
    )


def test_open_at_opening_instant_closed_at_closing_instant() -> None:
    assert DEFAULT.is_open(rome(2026, 11, 23, 15))
    assert not DEFAULT.is_open(rome(2026, 11, 23, 15) - timedelta(microseconds=1))
    assert not DEFAULT.is_open(rome(2026, 11, 23, 18))


def test_next_opening_is_the_instant_itself_when_open() -> None:
    instant = datetime(2026, 11, 23, 15, 30, 12, 345678, tzinfo=ROME)
    assert DEFAULT.next_opening(instant) == instant
    assert DEFAULT.next_opening(instant).tzinfo is UTC


def test_zero_duration_returns_the_start_even_when_closed() -> None:
    saturday = rome(2026, 11, 28, 10)
    assert DEFAULT.add_business_time(saturday, timedelta(0)) == saturday


def test_sub_second_precision_is_kept() -> None:
    start = datetime(2026, 11, 23, 15, 0, 0, 1, tzinfo=ROME)
    assert DEFAULT.add_business_time(start, timedelta(microseconds=7)) == start + timedelta(
        microseconds=7
    )


def test_business_time_between_is_zero_when_end_not_after_start() -> None:
    assert DEFAULT.business_time_between(rome(2026, 11, 23, 17), rome(2026, 11, 23, 16)) == (
        timedelta(0)
    )
    assert DEFAULT.business_time_between(rome(2026, 11, 23, 17), rome(2026, 11, 23, 17)) == (
        timedelta(0)
    )


def test_naive_datetimes_and_negative_durations_are_refused() -> None:
    with pytest.raises(ValueError, match="must be timezone-aware"):
        DEFAULT.is_open(datetime(2026, 11, 23, 16))
    with pytest.raises(ValueError, match="must be timezone-aware"):
        DEFAULT.add_business_time(datetime(2026, 11, 23, 16), FOUR_HOURS)
    with pytest.raises(ValueError, match="must be timezone-aware"):
        DEFAULT.business_time_between(rome(2026, 11, 23, 16), datetime(2026, 11, 24, 16))
    with pytest.raises(ValueError, match="negative"):
        DEFAULT.add_business_time(rome(2026, 11, 23, 16), timedelta(seconds=-1))


def test_a_calendar_without_hours_never_opens() -> None:
    closed = BusinessCalendar(CalendarSpec(timezone="Europe/Rome", weekly={}))
    assert not closed.is_open(rome(2026, 11, 23, 16))
    assert closed.business_time_between(rome(2026, 1, 1), rome(2027, 1, 1)) == timedelta(0)
    assert closed.add_business_time(rome(2026, 11, 23, 16), timedelta(0)) == rome(2026, 11, 23, 16)
    with pytest.raises(ValueError, match="no opening hours"):
        closed.next_opening(rome(2026, 11, 23, 16))
    with pytest.raises(ValueError, match="no opening hours"):
        closed.add_business_time(rome(2026, 11, 23, 16), FOUR_HOURS)


# --- Daylight saving ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sunday", [date(2026, 3, 29), date(2026, 10, 25)], ids=["March", "October"]
)
def test_rome_dst_sundays_keep_15_local(sunday: date) -> None:
    """R8: DST moves the UTC offset, never the business hours (last Sunday of March/October)."""
    calendar = BusinessCalendar(every_day("15:00", "18:00", timezone="Europe/Rome"))
    saturday_opening = rome(sunday.year, sunday.month, sunday.day - 1, 15)
    opening = calendar.next_opening(saturday_opening + timedelta(hours=3))
    assert opening.astimezone(ROME) == rome(sunday.year, sunday.month, sunday.day, 15)
    assert calendar.add_business_time(saturday_opening, timedelta(hours=4)).astimezone(ROME) == (
        rome(sunday.year, sunday.month, sunday.day, 16)
    )
    assert calendar.business_time_between(saturday_opening, opening) == timedelta(hours=3)


def test_rome_default_deadline_across_spring_forward_ends_at_local_closing() -> None:
    """R8 R9: Fri 27 Mar 2026 17:00 +01:00 + 4 h = Mon 30 Mar 18:00 +02:00 (16:00 UTC)."""
    due = deadline(DEFAULT, rome(2026, 3, 27, 17), FOUR_HOURS)
    assert due == datetime(2026, 3, 30, 16, tzinfo=UTC)
    assert due.astimezone(ROME).hour == 18


def test_new_york_24_7_counts_real_elapsed_time_across_dst() -> None:
    always = BusinessCalendar(
        every_day("00:00", "24:00", timezone="America/New_York", holiday_country=None)
    )
    spring_sunday = datetime(2026, 3, 8, tzinfo=NEW_YORK)
    fall_sunday = datetime(2026, 11, 1, tzinfo=NEW_YORK)
    assert always.business_time_between(spring_sunday, spring_sunday + timedelta(days=1)) == (
        timedelta(hours=23)
    )
    assert always.business_time_between(fall_sunday, fall_sunday + timedelta(days=1)) == (
        timedelta(hours=25)
    )
    for start in (spring_sunday, fall_sunday):
        for hours in (1, 3, 24, 30, 200):
            # Aware datetime + timedelta is wall-clock arithmetic in Python; elapsed time is UTC.
            elapsed = start.astimezone(UTC) + timedelta(hours=hours)
            assert always.add_business_time(start, timedelta(hours=hours)) == elapsed


def test_new_york_wall_times_skipped_or_repeated_by_dst() -> None:
    """A skipped wall time opens at the end of the gap; a repeated one counts twice."""
    spring = BusinessCalendar(
        CalendarSpec(
            timezone="America/New_York", weekly={"sun": (("02:30", "05:00"),)}, holiday_country=None
        )
    )
    # 8 Mar 2026: 02:00 EST jumps to 03:00 EDT, so 02:30 never happens; open 03:00-05:00 EDT.
    assert spring.next_opening(datetime(2026, 3, 8, tzinfo=NEW_YORK)) == datetime(
        2026, 3, 8, 7, tzinfo=UTC
    )
    sunday = datetime(2026, 3, 8, tzinfo=NEW_YORK)
    assert spring.business_time_between(sunday, sunday + timedelta(days=1)) == timedelta(hours=2)

    fall = BusinessCalendar(
        CalendarSpec(
            timezone="America/New_York", weekly={"sun": (("01:00", "01:45"),)}, holiday_country=None
        )
    )
    # 1 Nov 2026: 01:00-02:00 happens twice (EDT, then EST): open twice 45 minutes.
    sunday = datetime(2026, 11, 1, tzinfo=NEW_YORK)
    assert fall.business_time_between(sunday, sunday + timedelta(days=1)) == timedelta(minutes=90)
    assert fall.add_business_time(sunday, timedelta(minutes=60)) == datetime(
        2026, 11, 1, 6, 15, tzinfo=UTC
    )


# --- Holidays, closures, intervals -------------------------------------------------------------


def test_r8_san_francesco_4_october_is_a_national_holiday_from_2026() -> None:
    every_day_it = BusinessCalendar(every_day("15:00", "18:00", timezone="Europe/Rome"))
    assert date(2026, 10, 4) in holidays.country_holidays("IT", years=2026)
    assert not every_day_it.is_open(rome(2026, 10, 4, 16))  # Sunday 4 Oct 2026
    assert every_day_it.is_open(rome(2025, 10, 4, 16))  # not yet a holiday in 2025
    # Mon 4 Oct 2027 on the default calendar: Fri 1 Oct 17:00 + 4 h skips to Tue 5 Oct.
    assert deadline(DEFAULT, rome(2027, 10, 1, 17), FOUR_HOURS) == rome(2027, 10, 5, 18)


def test_r8_milan_adds_sant_ambrogio_7_december() -> None:
    milan = BusinessCalendar(
        CalendarSpec(
            timezone="Europe/Rome",
            weekly=DEFAULT_CALENDAR_SPEC.weekly,
            holiday_country="IT",
            holiday_subdivision="MI",
        )
    )
    monday_7_december = rome(2026, 12, 7, 16)
    assert DEFAULT.is_open(monday_7_december)
    assert not milan.is_open(monday_7_december)
    # Fri 4 Dec 17:00: 1 h Friday; Milan closes Mon 7 (Sant'Ambrogio) and Tue 8 (Immacolata).
    assert deadline(DEFAULT, rome(2026, 12, 4, 17), FOUR_HOURS) == rome(2026, 12, 7, 18)
    assert deadline(milan, rome(2026, 12, 4, 17), FOUR_HOURS) == rome(2026, 12, 9, 18)


def test_r8_company_closures_close_whole_days() -> None:
    spec = CalendarSpec(
        timezone="Europe/Rome",
        weekly=DEFAULT_CALENDAR_SPEC.weekly,
        closures=frozenset({date(2026, 8, 13), date(2026, 8, 14)}),
    )
    closed_in_august = BusinessCalendar(spec)
    assert not closed_in_august.is_open(rome(2026, 8, 13, 16))
    assert DEFAULT.is_open(rome(2026, 8, 13, 16))
    # Wed 12 Aug 17:00: 1 h Wednesday, Thu-Fri closed, weekend, Assumption is a Saturday.
    assert deadline(closed_in_august, rome(2026, 8, 12, 17), FOUR_HOURS) == rome(2026, 8, 17, 18)


def test_r8_a_closure_for_part_of_a_day_takes_only_that_part() -> None:
    spec = CalendarSpec(
        timezone="Europe/Rome",
        weekly=DEFAULT_CALENDAR_SPEC.weekly,
        closures=[
            Closure(date(2026, 12, 16), "15:00", "16:30", "Riunione aziendale"),
            Closure(date(2026, 12, 23), "13:00", "24:00", "Vigilia"),
        ],
    )
    calendar = BusinessCalendar(spec)
    assert not calendar.is_open(rome(2026, 12, 16, 16))
    assert calendar.is_open(rome(2026, 12, 16, 16, 30))
    assert calendar.next_opening(rome(2026, 12, 16, 15)) == rome(2026, 12, 16, 16, 30)
    # Tue 15 Dec 17:00: 1 h Tuesday, 1 h 30 min on Wednesday after the meeting, then 1 h 30 Thu.
    assert deadline(calendar, rome(2026, 12, 15, 17), FOUR_HOURS) == rome(2026, 12, 17, 16, 30)
    # From 13:00 Wed 23 is closed, all its hours: Tue 22 17:00 + 4 h is 1 h Tue, 3 h Thu 24.
    assert deadline(calendar, rome(2026, 12, 22, 17), FOUR_HOURS) == rome(2026, 12, 24, 18)
    assert calendar.closed_because(date(2026, 12, 23)) == "closure"
    assert calendar.closed_because(date(2026, 12, 16)) is None
    assert calendar.business_time_between(rome(2026, 12, 16, 0), rome(2026, 12, 17, 0)) == (
        timedelta(hours=1, minutes=30)
    )


@pytest.mark.parametrize(
    ("times", "message"),
    [
        (("16:00", "15:00"), "must end after it starts"),
        (("15:00", "15:00"), "must end after it starts"),
        (("9:00", "12:00"), "is not a time HH:MM"),
        (("15:00", "24:01"), "is not a time HH:MM"),
    ],
)
def test_a_closure_with_bad_times_is_refused(times: tuple[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Closure(date(2026, 8, 14), *times)


def test_r8_a_partial_closure_outside_the_hours_changes_nothing() -> None:
    spec = CalendarSpec(
        timezone="Europe/Rome",
        weekly=DEFAULT_CALENDAR_SPEC.weekly,
        closures=[Closure(date(2026, 12, 16), "09:00", "13:00"), Closure(date(2026, 12, 19))],
    )
    calendar = BusinessCalendar(spec)
    assert calendar.open_intervals(date(2026, 12, 16)) == DEFAULT.open_intervals(date(2026, 12, 16))
    assert calendar.closed_hours(date(2026, 12, 16)) == ()
    assert calendar.closed_because(date(2026, 12, 19)) == "closure"  # a whole day, a Saturday


def test_r8_several_intervals_a_day() -> None:
    split = BusinessCalendar(
        CalendarSpec(
            timezone="Europe/Rome",
            weekly={"mon": (("09:00", "13:00"), ("14:00", "18:00"))},
            holiday_country=None,
        )
    )
    monday = (2026, 11, 23)
    assert not split.is_open(rome(*monday, 13, 30))
    assert split.next_opening(rome(*monday, 13, 30)) == rome(*monday, 14)
    assert split.add_business_time(rome(*monday, 12), timedelta(hours=3)) == rome(*monday, 16)
    assert split.add_business_time(rome(*monday, 12), timedelta(hours=1)) == rome(*monday, 13)
    assert split.business_time_between(rome(*monday, 10), rome(*monday, 15)) == timedelta(hours=4)
    assert split.add_business_time(rome(*monday, 17), timedelta(hours=2)) == rome(2026, 11, 30, 10)


def test_r8_interval_ending_at_24_00_runs_into_the_next_day() -> None:
    night = BusinessCalendar(
        CalendarSpec(
            timezone="Europe/Rome",
            weekly={"mon": (("20:00", "24:00"),), "tue": (("00:00", "02:00"),)},
            holiday_country=None,
        )
    )
    assert night.is_open(datetime(2026, 11, 23, 23, 59, 59, 999999, tzinfo=ROME))
    assert night.is_open(rome(2026, 11, 24, 0))
    assert night.add_business_time(rome(2026, 11, 23, 23), timedelta(hours=2)) == rome(
        2026, 11, 24, 1
    )
    assert night.add_business_time(rome(2026, 11, 23, 20), timedelta(hours=4)) == rome(
        2026, 11, 24, 0
    )
    assert night.business_time_between(rome(2026, 11, 23, 20), rome(2026, 11, 24, 2)) == (
        timedelta(hours=6)
    )


# --- CalendarSpec ------------------------------------------------------------------------------


def test_default_calendar_is_r8() -> None:
    spec = DEFAULT_CALENDAR_SPEC
    assert spec.timezone == "Europe/Rome"
    assert spec.holiday_country == "IT"
    assert [spec.hours_on(day) for day in DAYS] == [(("15:00", "18:00"),)] * 5 + [()] * 2


def test_spec_json_round_trip_and_hashable() -> None:
    spec = CalendarSpec(
        timezone="Europe/Rome",
        weekly={"mon": [["09:00", "13:00"], ["14:00", "24:00"]], "sat": [("10:00", "12:00")]},
        holiday_subdivision="MI",
        closures=frozenset({date(2026, 8, 14)}),
    )
    data = spec.to_dict()
    assert data["weekly"]["mon"] == [["09:00", "13:00"], ["14:00", "24:00"]]
    assert data["weekly"]["sun"] == []
    assert data["closures"] == ["2026-08-14"]
    partial = CalendarSpec(
        timezone="Europe/Rome",
        weekly=spec.weekly,
        closures=[date(2026, 8, 14), Closure(date(2026, 12, 24), "13:00", label="Vigilia")],
    )
    assert partial.to_dict()["closures"] == [
        "2026-08-14",
        {"date": "2026-12-24", "start": "13:00", "end": "24:00", "label": "Vigilia"},
    ]
    assert CalendarSpec.from_dict(partial.to_dict()) == partial
    assert CalendarSpec.from_dict(data) == spec
    assert hash(CalendarSpec.from_dict(data)) == hash(spec)
    assert (
        CalendarSpec(
            timezone="Europe/Rome",
            weekly=spec.weekly,
            holiday_subdivision="MI",
            closures=spec.closures,
        )
        == spec
    )
    assert calendar_for(spec) is calendar_for(CalendarSpec.from_dict(data))


@pytest.mark.parametrize(
    ("weekly", "message"),
    [
        ({"mon": [("15:00", "25:00")]}, "not a time"),
        ({"mon": [("9:00", "12:00")]}, "not a time"),
        ({"mon": [("15:00", "15:00")]}, "must end after it starts"),
        ({"mon": [("18:00", "15:00")]}, "must end after it starts"),
        ({"mon": [("24:00", "24:00")]}, "cannot start at 24:00"),
        ({"mon": [("09:00", "13:00"), ("12:00", "18:00")]}, "sorted and must not overlap"),
        ({"mon": [("14:00", "18:00"), ("09:00", "13:00")]}, "sorted and must not overlap"),
        ({"monday": [("15:00", "18:00")]}, "unknown weekday"),
        ({"mon": ["15:00-18:00"]}, "not a \\[start, end\\] pair"),
        ({"mon": "15:00-18:00"}, "list of \\[start, end\\] pairs"),
    ],
)
def test_spec_rejects_bad_weekly_hours(weekly: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CalendarSpec(timezone="Europe/Rome", weekly=weekly)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timezone": "Europe/Atlantis"}, "unknown time zone"),
        ({"holiday_country": "XX"}, "not available for country"),
        ({"holiday_subdivision": "ZZ"}, "unknown subdivision"),
        ({"holiday_country": None, "holiday_subdivision": "MI"}, "needs a holiday_country"),
        ({"closures": frozenset({datetime(2026, 8, 14, tzinfo=UTC)})}, "closures must be dates"),
    ],
)
def test_spec_rejects_bad_options(options: dict, message: str) -> None:
    arguments = {"timezone": "Europe/Rome", "weekly": {"mon": [("15:00", "18:00")]}} | options
    with pytest.raises(ValueError, match=message):
        CalendarSpec(**arguments)


def test_spec_from_dict_rejects_unknown_or_missing_fields() -> None:
    with pytest.raises(ValueError, match="unknown calendar fields: zone"):
        CalendarSpec.from_dict({"zone": "Europe/Rome", "timezone": "Europe/Rome", "weekly": {}})
    with pytest.raises(ValueError, match="missing calendar fields: weekly"):
        CalendarSpec.from_dict({"timezone": "Europe/Rome"})
    with pytest.raises(ValueError, match=r"Invalid isoformat|ISO"):
        CalendarSpec.from_dict({"timezone": "UTC", "weekly": {}, "closures": ["14/08/2026"]})


# --- Long spans: the year index agrees with a plain day-by-day walk -------------------------


class WalkingCalendar(BusinessCalendar):
    """The same engine, made to walk every span day by day: the reference for its jumps."""

    _max_walk_days = 10**9

    def __init__(self, spec: CalendarSpec) -> None:
        super().__init__(spec)
        self._walk_limit_us = math.inf


@pytest.mark.parametrize("hours", [15, 16, 400, 2000, 9000])
def test_long_targets_jump_to_the_same_deadline_as_walking(hours: int) -> None:
    walking = WalkingCalendar(DEFAULT_CALENDAR_SPEC)
    for received in (rome(2026, 11, 23, 16), rome(2026, 12, 31, 17), rome(2027, 6, 5, 9)):
        due = DEFAULT.add_business_time(received, timedelta(hours=hours))
        assert due == walking.add_business_time(received, timedelta(hours=hours))
        assert DEFAULT.business_time_between(received, due) == timedelta(hours=hours)
        assert walking.business_time_between(received, due) == timedelta(hours=hours)


# --- Properties against a brute-force oracle ---------------------------------------------------

TIMEZONES = ("Europe/Rome", "America/New_York", "Australia/Sydney", "UTC")
# Midnight, the DST change hours (02:00, 02:30, 03:00), R8's 15:00 and 18:00, and 24:00.
EDGE_MINUTES = (0, 120, 150, 180, 900, 1080, 1440)
# 2026 DST changes: Rome, New York, Sydney (April ends, October starts).
DST_DAYS = tuple(
    date(2026, month, day) for month, day in ((3, 29), (10, 25), (3, 8), (11, 1), (4, 5), (10, 4))
)
MINUTE = timedelta(minutes=1)


def hh_mm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@cache
def oracle_holidays(country: str | None, subdivision: str | None) -> frozenset[date]:
    if country is None:
        return frozenset()
    return frozenset(
        holidays.country_holidays(country, subdiv=subdivision, years=range(2024, 2031))
    )


class Oracle:
    """Open or closed minute by minute, read off the local wall clock: slow, obviously right."""

    def __init__(self, spec: CalendarSpec) -> None:
        self.zone = ZoneInfo(spec.timezone)
        self.closed_dates = oracle_holidays(spec.holiday_country, spec.holiday_subdivision)
        self.closed_minutes: dict[date, list[tuple[int, int]]] = {}
        for closure in spec.closed:
            self.closed_minutes.setdefault(closure.day, []).append(
                (minutes_of(closure.start), minutes_of(closure.end))
            )
        self.weekly_minutes = [
            [(minutes_of(start), minutes_of(end)) for start, end in spec.hours_on(day)]
            for day in DAYS
        ]

    def is_open(self, instant: datetime) -> bool:
        local = instant.astimezone(self.zone)
        if local.date() in self.closed_dates:
            return False
        minute = local.hour * 60 + local.minute
        if any(start <= minute < end for start, end in self.closed_minutes.get(local.date(), ())):
            return False
        return any(start <= minute < end for start, end in self.weekly_minutes[local.weekday()])

    def deadline(self, start: datetime, minutes: int) -> tuple[datetime | None, datetime]:
        """(first open minute at or after start, end of the minutes-th open minute)."""
        first_open, instant, remaining = None, start, minutes
        while remaining:
            if self.is_open(instant):
                first_open = first_open or instant
                remaining -= 1
            instant += MINUTE
        return first_open, instant

    def open_minutes(self, start: datetime, end: datetime) -> int:
        count, instant = 0, start
        while instant < end:
            count += self.is_open(instant)
            instant += MINUTE
        return count


def minutes_of(hh_mm_text: str) -> int:
    hours, minutes = hh_mm_text.split(":")
    return int(hours) * 60 + int(minutes)


@st.composite
def day_hours(draw: st.DrawFn) -> tuple[tuple[str, str], ...]:
    """0-3 sorted, disjoint intervals aligned to minutes, often on DST hours or 24:00."""
    minute = st.one_of(st.integers(0, 1440), st.sampled_from(EDGE_MINUTES))
    points = sorted(set(draw(st.lists(minute, max_size=6))))
    pairs = zip(points[::2], points[1::2], strict=False)  # an odd last point is dropped
    return tuple((hh_mm(start), hh_mm(end)) for start, end in pairs)


@st.composite
def starts(draw: st.DrawFn) -> datetime:
    """A UTC minute in 2025-2028, often within a few days of a DST change."""
    anywhere = st.integers(0, 4 * 366 * 1440).map(
        lambda minute: datetime(2025, 1, 1, tzinfo=UTC) + minute * MINUTE
    )
    near_dst = st.tuples(st.sampled_from(DST_DAYS), st.integers(-3 * 1440, 2 * 1440)).map(
        lambda pair: datetime.combine(pair[0], datetime.min.time(), UTC) + pair[1] * MINUTE
    )
    return draw(st.one_of(anywhere, near_dst))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[CalendarSpec, datetime]:
    """A random calendar with some open time, and a start near which closures fall."""
    weekly = {day: draw(day_hours()) for day in DAYS}
    week_minutes = sum(minutes_of(e) - minutes_of(s) for ivs in weekly.values() for s, e in ivs)
    assume(week_minutes >= 60)
    start = draw(starts())
    spec = CalendarSpec(
        timezone=draw(st.sampled_from(TIMEZONES)),
        weekly=weekly,
        holiday_country=draw(st.sampled_from(["IT", None])),
        closures=draw(st.lists(closures_near(start.date()), max_size=5)),
    )
    return spec, start


@st.composite
def closures_near(draw: st.DrawFn, day: date) -> Closure:
    """A closure within two weeks of `day`: a whole day, or part of one (often on DST hours)."""
    closed_day = day + timedelta(days=draw(st.integers(-1, 14)))
    if draw(st.booleans()):
        return Closure(closed_day)
    minute = st.one_of(st.integers(0, 1440), st.sampled_from(EDGE_MINUTES))
    start, end = sorted(draw(st.lists(minute, min_size=2, max_size=2, unique=True)))
    return Closure(closed_day, hh_mm(start), hh_mm(end), draw(st.sampled_from([None, "Riunione"])))


def week_minutes(spec: CalendarSpec) -> int:
    return sum(minutes_of(e) - minutes_of(s) for day in DAYS for s, e in spec.hours_on(day))


ORACLE_SETTINGS = settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@ORACLE_SETTINGS
@given(scenario=scenarios(), data=st.data())
def test_deadline_matches_minute_walking_oracle(scenario, data) -> None:
    spec, start = scenario
    minutes = data.draw(st.integers(0, min(30 * 60, week_minutes(spec))), label="minutes")
    calendar, oracle = BusinessCalendar(spec), Oracle(spec)

    first_open, expected = oracle.deadline(start, minutes)
    result = calendar.add_business_time(start, minutes * MINUTE)

    assert result == expected
    assert calendar.business_time_between(start, result) == minutes * MINUTE
    assert calendar.is_open(start) == oracle.is_open(start)
    if minutes:
        assert calendar.next_opening(start) == first_open
        # Never inside closed time: the instant just before the deadline is open.
        assert calendar.is_open(result - timedelta(microseconds=1))
        assert oracle.is_open(result - MINUTE)


@ORACLE_SETTINGS
@given(scenario=scenarios(), span_minutes=st.integers(0, 6 * 1440))
def test_business_time_between_matches_oracle(scenario, span_minutes: int) -> None:
    spec, start = scenario
    end = start + span_minutes * MINUTE
    calendar, oracle = BusinessCalendar(spec), Oracle(spec)
    assert calendar.business_time_between(start, end) == oracle.open_minutes(start, end) * MINUTE


microseconds = st.integers(0, 10**6 * 3600 * 24 * 7)  # any instant within a week, to the µs


@settings(max_examples=300, deadline=None)
@given(
    scenario=scenarios(),
    shift=microseconds,
    first=st.integers(0, 200 * 3600 * 10**6),
    second=st.integers(0, 200 * 3600 * 10**6),
)
def test_arithmetic_laws(scenario, shift: int, first: int, second: int) -> None:
    """Additive, inverse of business_time_between, monotone in duration and in start."""
    spec, start = scenario
    calendar = BusinessCalendar(spec)
    start += timedelta(microseconds=shift)
    a, b = timedelta(microseconds=first), timedelta(microseconds=second)

    after_a = calendar.add_business_time(start, a)
    after_both = calendar.add_business_time(start, a + b)
    assert calendar.add_business_time(after_a, b) == after_both
    assert calendar.business_time_between(start, after_both) == a + b
    assert after_a <= after_both
    later_start = start + timedelta(microseconds=second)
    assert calendar.add_business_time(later_start, a) >= after_a


@settings(max_examples=100, deadline=None)
@given(scenario=scenarios(), hours=st.integers(1, 600))
def test_jumping_agrees_with_walking_on_random_calendars(scenario, hours: int) -> None:
    spec, start = scenario
    jumping, walking = BusinessCalendar(spec), WalkingCalendar(spec)
    due = jumping.add_business_time(start, timedelta(hours=hours))
    assert due == walking.add_business_time(start, timedelta(hours=hours))
    later = due + timedelta(days=40)
    assert jumping.business_time_between(start, later) == walking.business_time_between(
        start, later
    )
