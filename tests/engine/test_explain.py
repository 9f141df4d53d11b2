"""Deadlines that explain themselves: worked examples and properties against the engine."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.engine.business_hours import calendar_for
from app.engine.calendar_spec import DEFAULT_CALENDAR_SPEC, CalendarSpec, Closure
from app.engine.explain import explain

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


def test_a_meeting_and_an_afternoon_closed_are_explained_with_their_labels():
    """R8: a closure for part of a day takes only its span; the explanation says which."""
    spec = CalendarSpec(
        timezone="Europe/Rome",
        weekly=DEFAULT_CALENDAR_SPEC.weekly,
        closures=[
            Closure(date(2026, 12, 16), "15:00", "16:30", "Riunione aziendale"),
            Closure(date(2026, 12, 17), "13:00", label="Festa aziendale"),
        ],
    )
    explanation = explain(calendar_for(spec), rome(2026, 12, 15, 17, 0), FOUR_HOURS)

    assert explanation.due_at == rome(2026, 12, 18, 16, 30)
    assert [(s.day.day, s.seconds) for s in explanation.segments] == [
        (15, 3600),
        (16, 5400),
        (18, 5400),
    ]
    assert [(c.day.day, c.start, c.end, c.label) for c in explanation.closed] == [
        (16, rome(2026, 12, 16, 15), rome(2026, 12, 16, 16, 30), "Riunione aziendale")
    ]
    assert [(d.day.day, d.reason, d.name_it) for d in explanation.skipped] == [
        (17, "closure", "Festa aziendale")
    ]
    assert explanation.summary("it") == (
        "ricevuta mar 15/12 17:00; 1 h mar 15; "
        "1 h 30 min mer 16 (chiuso 15:00-16:30 Riunione aziendale); "
        "gio 17 chiuso Festa aziendale; 1 h 30 min ven 18 -> ven 18/12 16:30"
    )
    assert explanation.summary("en") == (
        "received Tue 15/12 17:00; 1 h Tue 15; "
        "1 h 30 min Wed 16 (closed 15:00-16:30 Riunione aziendale); "
        "Thu 17 closed Festa aziendale; 1 h 30 min Fri 18 -> Fri 18/12 16:30"
    )


def test_a_partial_closure_before_the_start_or_after_the_deadline_is_not_mentioned():
    spec = CalendarSpec(
        timezone="Europe/Rome",
        weekly=DEFAULT_CALENDAR_SPEC.weekly,
        closures=[
            Closure(date(2026, 12, 15), "15:00", "16:00", "before"),
            Closure(date(2026, 12, 16), "17:00", "18:00", "after"),
        ],
    )
    explanation = explain(calendar_for(spec), rome(2026, 12, 15, 16, 0), FOUR_HOURS)

    assert explanation.due_at == rome(2026, 12, 16, 17, 0)
    assert explanation.closed == ()
    assert "chiuso" not in explanation.summary("it")


@st.composite
def closures(draw: st.DrawFn, near: date) -> Closure:
    """Within three weeks of `near`: a whole-day closure, or part of a day, often across the
    15:00-18:00 hours."""
    day = near + timedelta(days=draw(st.integers(-1, 20)))
    if draw(st.booleans()):
        return Closure(day, label=draw(st.sampled_from([None, "Ferie"])))
    quarter = st.one_of(st.integers(0, 96), st.integers(58, 74)).map(lambda q: q * 15)
    start, end = sorted(draw(st.lists(quarter, min_size=2, max_size=2, unique=True)))
    return Closure(day, f"{start // 60:02d}:{start % 60:02d}", f"{end // 60:02d}:{end % 60:02d}")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
    ),
    minutes=st.integers(min_value=1, max_value=40 * 60),
    data=st.data(),
)
def test_the_explanation_sums_to_the_target_and_ends_at_the_engines_deadline(start, minutes, data):
    closed = data.draw(st.lists(closures(near=start.date()), max_size=12), label="closures")
    spec = CalendarSpec(
        timezone="Europe/Rome", weekly=DEFAULT_CALENDAR_SPEC.weekly, closures=closed
    )
    calendar = calendar_for(spec)
    target = timedelta(minutes=minutes)

    explanation = explain(calendar, start, target)

    assert explanation.due_at == calendar.add_business_time(calendar.clock_start(start), target)
    assert sum((s.end - s.start for s in explanation.segments), timedelta(0)) == target
    assert explanation.segments[-1].end == explanation.due_at
    assert explanation.segments[0].start == calendar.clock_start(start)
    italian = holidays.country_holidays("IT", years=range(2026, 2032), language="it_IT")
    for day in explanation.skipped:
        # A closure closes a day when it is whole, or when it covers all of 15:00-18:00 (R8).
        whole = any(c.day == day.day and c.whole_day for c in closed)
        if day.day in italian:
            assert day.reason == "holiday"
            assert day.name_it == italian.get(day.day)
        elif whole or (day.day.weekday() < 5 and not _open_after_closures(closed, day.day)):
            assert day.reason == "closure"
        else:
            assert day.reason == "weekend" and day.day.weekday() >= 5
    # Every segment lies within 15:00-18:00 and outside every closure of its day.
    for segment in explanation.segments:
        local_start, local_end = segment.start.astimezone(ROME), segment.end.astimezone(ROME)
        assert segment.day.weekday() < 5 and segment.day not in italian
        assert f"{local_start:%H:%M}" >= "15:00" and f"{local_end:%H:%M}" <= "18:00"
        for closure in closed:
            if closure.day == segment.day:
                assert (
                    f"{local_end:%H:%M}" <= closure.start or f"{local_start:%H:%M}" >= closure.end
                )
    # Each closed span is taken from the opening hours, inside the explained span.
    for span in explanation.closed:
        assert start <= span.start < span.end <= explanation.due_at
        assert not calendar.is_open(span.start)
    local_days = {s.day for s in explanation.segments} | {d.day for d in explanation.skipped}
    first, last = start.astimezone(ROME).date(), explanation.due_at.astimezone(ROME).date()
    assert all(first <= day <= last for day in local_days)


def _open_after_closures(closed: list[Closure], day: date) -> bool:
    """Whether any minute of 15:00-18:00 on `day` is outside the day's closures."""
    spans = [(c.start, c.end) for c in closed if c.day == day]
    return any(
        not any(start <= f"{minute // 60:02d}:{minute % 60:02d}" < end for start, end in spans)
        for minute in range(15 * 60, 18 * 60)
    )
