"""Deadlines that explain themselves: worked examples and properties against the engine."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.services.business_hours import DEFAULT_CALENDAR_SPEC, CalendarSpec, calendar_for
from app.services.explain import explain

ROME = ZoneInfo("Europe/Rome")
DEFAULT = calendar_for(DEFAULT_CALENDAR_SPEC)
FOUR_HOURS = timedelta(hours=4)


def rome(*args: int) -> datetime:
    return datetime(*args, tzinfo=ROME)  # type: ignore[misc]


def test_christmas_eve_worked_in_italian_and_english():
    """Thu 24 Dec 17:00: 1 h Thursday, 25 and 26 December holidays, Sunday, 3 h Monday (R8, R9)."""
    explanation = explain(DEFAULT, rome(2026, 12, 24, 17, 0), FOUR_HOURS)

    assert explanation.due_at == rome(2026, 12, 28, 18, 0)
    assert [(s.day, s.seconds) for s in explanation.segments] == [
        (date(2026, 12, 24), 3600),
        (date(2026, 12, 28), 3 * 3600),
    ]
    assert [(d.day, d.reason, d.name_it) for d in explanation.skipped] == [
        (date(2026, 12, 25), "holiday", "Natale"),
        (date(2026, 12, 26), "holiday", "Santo Stefano"),
        (date(2026, 12, 27), "weekend", None),
    ]
    assert explanation.summary("it") == (
        "ricevuta gio 24/12 17:00; 1 h gio 24; 25/12 Natale; 26/12 Santo Stefano; "
        "dom chiuso; 3 h lun 28 -> lun 28/12 18:00"
    )
    assert explanation.summary("en") == (
        "received Thu 24/12 17:00; 1 h Thu 24; 25/12 Christmas Day; "
        "26/12 Saint Stephen's Day; Sun closed; 3 h Mon 28 -> Mon 28/12 18:00"
    )


def test_across_the_end_of_summer_time_the_hours_stay_wall_clock():
    """Fri 23 Oct 2026 17:00 CEST: 1 h Friday, the weekend (clocks go back), 3 h Monday (CET)."""
    explanation = explain(DEFAULT, rome(2026, 10, 23, 17, 0), FOUR_HOURS)

    assert explanation.due_at == datetime(2026, 10, 26, 17, 0, tzinfo=UTC)  # 18:00 CET
    assert explanation.segments[0].start == datetime(2026, 10, 23, 15, 0, tzinfo=UTC)
    assert explanation.summary("it") == (
        "ricevuta ven 23/10 17:00; 1 h ven 23; sab-dom chiuso; 3 h lun 26 -> lun 26/10 18:00"
    )
    assert explanation.summary("en") == (
        "received Fri 23/10 17:00; 1 h Fri 23; Sat-Sun closed; 3 h Mon 26 -> Mon 26/10 18:00"
    )


def test_a_closure_and_a_closed_weekday_are_named():
    spec = CalendarSpec(
        timezone="Europe/Rome",
        weekly={"mon": (("15:00", "18:00"),), "wed": (("15:00", "18:00"),)},
        closures=frozenset({date(2026, 11, 25)}),
    )
    explanation = explain(calendar_for(spec), rome(2026, 11, 23, 17, 0), FOUR_HOURS)

    assert [(d.day.day, d.reason) for d in explanation.skipped] == [
        (24, "closed_weekday"),
        (25, "closure"),
        (26, "closed_weekday"),
        (27, "closed_weekday"),
        (28, "weekend"),
        (29, "weekend"),
    ]
    assert explanation.due_at == rome(2026, 11, 30, 18, 0)
    assert "mer 25 chiuso" in explanation.summary("it")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
    ),
    minutes=st.integers(min_value=1, max_value=40 * 60),
    closures=st.sets(st.dates(min_value=date(2026, 1, 1), max_value=date(2031, 3, 1)), max_size=40),
)
def test_the_explanation_sums_to_the_target_and_ends_at_the_engines_deadline(
    start, minutes, closures
):
    spec = CalendarSpec(
        timezone="Europe/Rome", weekly=DEFAULT_CALENDAR_SPEC.weekly, closures=frozenset(closures)
    )
    calendar = calendar_for(spec)
    target = timedelta(minutes=minutes)

    explanation = explain(calendar, start, target)

    assert explanation.due_at == calendar.add_business_time(calendar.clock_start(start), target)
    assert sum((s.end - s.start for s in explanation.segments), timedelta(0)) == target
    assert explanation.segments[-1].end == explanation.due_at
    assert explanation.segments[0].start == calendar.clock_start(start)
    italian = holidays.country_holidays("IT", years=range(2026, 2032))
    for day in explanation.skipped:
        if day.day in italian:
            assert day.reason == "holiday"
        elif day.day in closures:
            assert day.reason == "closure"
        else:
            assert day.reason == "weekend" and day.day.weekday() >= 5
    local_days = {s.day for s in explanation.segments} | {d.day for d in explanation.skipped}
    first, last = start.astimezone(ROME).date(), explanation.due_at.astimezone(ROME).date()
    assert all(first <= day <= last for day in local_days)
