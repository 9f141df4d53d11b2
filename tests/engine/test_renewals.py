"""The renewal watch's pure rules: a year after a year (R1), the reminder steps, and a request
just after a lapse (R2). Property tests over dates, leap years included."""

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from app.engine.renewals import LAPSED, lapsed_on, next_year, one_year_from, reached_step
from app.engine.sla import ContractTerms

DAYS = st.dates(min_value=date(1996, 1, 1), max_value=date(2104, 12, 31))
LEAP_DAYS = st.sampled_from([date(y, 2, 29) for y in range(1996, 2100, 4)])
FEB_ENDS = st.sampled_from(
    [date(y, 2, 28) for y in range(1996, 2100)] + [date(y, 2, 29) for y in range(1996, 2100, 4)]
)
STEPS = st.lists(st.integers(min_value=0, max_value=400), max_size=5)


def _a_year(starts_on: date, ends_on: date) -> bool:
    """One calendar year: the day after the last is the anniversary (1 March for 29 Feb)."""
    following = ends_on + timedelta(days=1)
    if (starts_on.month, starts_on.day) == (2, 29):
        return following == date(starts_on.year + 1, 3, 1)
    return following == starts_on.replace(year=starts_on.year + 1)


@given(ends_on=st.one_of(DAYS, LEAP_DAYS, FEB_ENDS, LEAP_DAYS.map(lambda d: d - timedelta(1))))
def test_the_next_year_follows_with_no_gap_and_no_overlap(ends_on):
    """R1: renewed, the next year starts the day after the last one and lasts one year."""
    starts_on, last = next_year(ends_on)
    assert starts_on - ends_on == timedelta(days=1)  # no gap, no overlap
    assert _a_year(starts_on, last)
    assert (last - starts_on).days + 1 in (365, 366)
    # Renewed again and again: each year follows the last.
    again, _ = next_year(last)
    assert again == last + timedelta(days=1)


@given(starts_on=st.one_of(DAYS, LEAP_DAYS))
def test_a_year_from_any_day_including_29_february(starts_on):
    ends_on = one_year_from(starts_on)
    assert ends_on > starts_on and _a_year(starts_on, ends_on)


def test_the_leap_cases_by_hand():
    assert next_year(date(2028, 2, 28)) == (date(2028, 2, 29), date(2029, 2, 28))
    assert next_year(date(2027, 2, 28)) == (date(2027, 3, 1), date(2028, 2, 29))
    assert next_year(date(2028, 2, 29)) == (date(2028, 3, 1), date(2029, 2, 28))
    assert next_year(date(2026, 12, 31)) == (date(2027, 1, 1), date(2027, 12, 31))


@given(ends_on=DAYS, today=DAYS, steps=STEPS, lookback=st.integers(0, 60))
def test_the_step_reached_is_the_nearest_one_passed(ends_on, today, steps, lookback):
    step = reached_step(ends_on, today=today, steps_days=steps, lookback_days=lookback)
    left = (ends_on - today).days
    if step is None:
        assert left < -lookback or (left >= 0 and all(left > days for days in steps))
        return
    assert step.days_left == left
    if step.name == LAPSED:
        assert -lookback <= left < 0
    else:
        days = int(step.name.removesuffix("d"))
        assert 0 <= left <= days and days == min(d for d in steps if d >= left)


def test_steps_by_day():
    ends_on = date(2027, 3, 9)

    def step(today: date) -> str | None:
        found = reached_step(ends_on, today=today, steps_days=(60, 15), lookback_days=31)
        return found.name if found else None

    assert step(date(2027, 1, 7)) is None
    assert step(date(2027, 1, 8)) == "60d"
    assert step(date(2027, 2, 21)) == "60d"
    assert step(date(2027, 2, 22)) == "15d"
    assert step(ends_on) == "15d"  # the last day in force
    assert step(date(2027, 3, 10)) == LAPSED
    assert step(date(2027, 4, 9)) == LAPSED
    assert step(date(2027, 4, 10)) is None  # a lapse a month old is no longer news


def _contract(contract_id: int, starts_on: date, ends_on: date) -> ContractTerms:
    return ContractTerms(id=contract_id, starts_on=starts_on, ends_on=ends_on)


def test_a_request_within_the_days_after_a_lapse_names_its_last_day():
    """R2: dated in Rome; in force means not lapsed; beyond the days, nothing to say."""
    contracts = [_contract(1, date(2025, 12, 1), date(2026, 11, 30))]

    def lapsed(instant: datetime, days: int = 90) -> date | None:
        return lapsed_on(contracts, instant=instant, within_days=days)

    # 30 Nov 23:30 UTC is 1 December in Rome: the day after the last one.
    assert lapsed(datetime(2026, 11, 30, 23, 30, tzinfo=UTC)) == date(2026, 11, 30)
    assert lapsed(datetime(2026, 11, 30, 22, 30, tzinfo=UTC)) is None  # 23:30 on its last day
    assert lapsed(datetime(2027, 2, 28, 12, tzinfo=UTC)) == date(2026, 11, 30)  # 90 days
    assert lapsed(datetime(2027, 3, 1, 12, tzinfo=UTC)) is None  # 91 days
    assert lapsed(datetime(2026, 12, 5, 12, tzinfo=UTC), days=0) is None
    renewed = [*contracts, _contract(2, date(2026, 12, 1), date(2027, 11, 30))]
    assert lapsed_on(renewed, instant=datetime(2026, 12, 5, 12, tzinfo=UTC), within_days=90) is None
    # Renewed after a gap: the gap's requests are told of the lapse, the later ones not.
    late = [*contracts, _contract(2, date(2026, 12, 10), date(2027, 12, 9))]
    gap = datetime(2026, 12, 5, 12, tzinfo=UTC)
    assert lapsed_on(late, instant=gap, within_days=90) == date(2026, 11, 30)
