"""The deadline's picture: a strip from receipt to deadline, drawn to scale from the
explanation's segments, clipped to its window, the holidays and closures named (R8, R9)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.engine.business_hours import calendar_for
from app.engine.calendar_spec import DEFAULT_CALENDAR_SPEC, CalendarSpec, Closure
from app.engine.deadline_strip import deadline_strip
from app.engine.explain import explain
from tests.engine.test_explain import DEFAULT, FOUR_HOURS, closures, rome


def test_christmas_eve_is_drawn_to_scale_with_both_holidays_named():
    """Thu 24 Dec 17:00 -> Mon 28 Dec 18:00 (97 h): 1 h Thursday, 3 h Monday shaded."""
    strip = deadline_strip(explain(DEFAULT, rome(2026, 12, 24, 17, 0), FOUR_HOURS), "it")

    assert strip is not None
    assert [(b.kind, b.title) for b in strip.bands] == [
        ("open", "aperto gio 24/12 17:00-18:00"),
        ("holiday", "25/12 Natale"),
        ("holiday", "26/12 Santo Stefano"),
        ("open", "aperto lun 28/12 15:00-18:00"),
    ]
    # In percent of the 97 hours: 1 h shaded, two days of 24 h, 3 h shaded at the end.
    assert [(b.x, b.width) for b in strip.bands] == [
        pytest.approx((0, 100 / 97), abs=0.002),
        pytest.approx((700 / 97, 2400 / 97), abs=0.002),
        pytest.approx((3100 / 97, 2400 / 97), abs=0.002),
        pytest.approx((9400 / 97, 300 / 97), abs=0.002),
    ]
    # A line at each midnight between: 25, 26, 27 and 28 December.
    assert strip.midnights == tuple(round((700 + 2400 * n) / 97, 3) for n in range(4))
    texts = [(label.kind, label.anchor, label.text) for label in strip.labels]
    assert texts[:2] == [
        ("end", "start", "ricevuta gio 24/12 17:00"),
        ("end", "end", "entro lun 28/12 18:00"),
    ]
    assert [t for t in texts if t[0] == "day"] == [
        ("day", "middle", "ven 25"),
        ("day", "middle", "sab 26"),
        ("day", "middle", "dom 27"),
        ("day", "end", "lun 28"),  # held to the strip's end, not cut off
    ]
    # Neighbouring holidays' names on two rows, so that they never overlap.
    names = [label for label in strip.labels if label.kind == "name"]
    assert [(n.text, n.y) for n in names] == [("Natale", 84), ("Santo Stefano", 100)]
    assert strip.height == 106
    assert strip.description == (
        "Tempo lavorativo dalla ricezione alla presa in carico: ricevuta gio 24/12 17:00; "
        "1 h gio 24; 25/12 Natale; 26/12 Santo Stefano; dom chiuso; 3 h lun 28 "
        "-> lun 28/12 18:00"
    )


def test_in_english_the_words_are_english():
    strip = deadline_strip(explain(DEFAULT, rome(2026, 12, 24, 17, 0), FOUR_HOURS), "en")

    assert strip is not None
    assert strip.bands[0].title == "open Thu 24/12 17:00-18:00"
    assert [label.text for label in strip.labels if label.kind == "name"] == [
        "Christmas Day",
        "Saint Stephen's Day",
    ]
    assert strip.description.startswith("Business time from receipt to taking in charge: ")


def test_a_window_within_one_afternoon_is_all_shaded_and_has_no_days_or_names():
    strip = deadline_strip(explain(DEFAULT, rome(2026, 12, 15, 15, 0), timedelta(hours=2)), "it")

    assert strip is not None
    assert [(b.kind, b.x, b.width) for b in strip.bands] == [("open", 0.0, 100.0)]
    assert strip.midnights == ()
    assert strip.height == 72  # no row of names


def test_a_closure_in_the_afternoon_is_drawn_and_named():
    """R8: the meeting's 15:00-16:30 is a band of its own, with its label."""
    spec = CalendarSpec(
        timezone="Europe/Rome",
        weekly=DEFAULT_CALENDAR_SPEC.weekly,
        closures=[Closure(date(2026, 12, 16), "15:00", "16:30", "Riunione aziendale")],
    )
    explanation = explain(calendar_for(spec), rome(2026, 12, 15, 17, 0), FOUR_HOURS)
    strip = deadline_strip(explanation, "it")

    assert strip is not None
    closed = [b for b in strip.bands if b.kind == "closure"]
    assert [b.title for b in closed] == ["mer 16/12 15:00-16:30 Riunione aziendale"]
    assert "mer 16/12 15:00-16:30 Riunione aziendale" in [label.text for label in strip.labels]


def test_across_the_end_of_summer_time_the_days_are_as_long_as_they_were():
    """Sat 24 Oct 2026 lasts 24 h, Sun 25 Oct 25 h (clocks go back): the strip is wall clock."""
    strip = deadline_strip(explain(DEFAULT, rome(2026, 10, 23, 17, 0), FOUR_HOURS), "it")

    assert strip is not None
    # Fri 17:00 CEST -> Mon 18:00 CET is 74 h: midnights after 7 h, 31 h and 56 h.
    assert strip.midnights == (round(700 / 74, 3), round(3100 / 74, 3), round(5600 / 74, 3))


def test_an_empty_window_has_no_strip():
    start = rome(2026, 12, 15, 16, 0)
    assert deadline_strip(explain(DEFAULT, start, timedelta(0)), "it") is None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
    ),
    minutes=st.integers(min_value=1, max_value=40 * 60),
    language=st.sampled_from(["it", "en"]),
    data=st.data(),
)
def test_every_band_is_within_the_window_and_the_shaded_ones_are_the_business_time(
    start, minutes, language, data
):
    closed = data.draw(st.lists(closures(near=start.date()), max_size=6), label="closures")
    spec = CalendarSpec(
        timezone="Europe/Rome", weekly=DEFAULT_CALENDAR_SPEC.weekly, closures=closed
    )
    explanation = explain(calendar_for(spec), start, timedelta(minutes=minutes))

    strip = deadline_strip(explanation, language)

    assert strip is not None
    window = (explanation.due_at - explanation.start).total_seconds()
    for band in strip.bands:
        assert band.x >= 0 and band.width >= 0 and band.x + band.width <= 100.001
    opened = [band for band in strip.bands if band.kind == "open"]
    assert len(opened) == len(explanation.segments)
    for band, segment in zip(opened, explanation.segments, strict=True):
        # Each shaded band is as wide as its segment's business time (to the rounding).
        assert abs(band.width - 100 * segment.seconds / window) < 0.002
    shaded = sum(band.width for band in opened)
    assert abs(shaded - 100 * minutes * 60 / window) < 0.002 * len(opened)
    named = [s for s in explanation.skipped if s.reason in ("holiday", "closure")]
    assert len([b for b in strip.bands if b.kind != "open"]) == len(named) + len(explanation.closed)
    assert all(0 <= label.x <= 100 for label in strip.labels)
    assert all(0 <= x <= 100 for x in strip.midnights)
