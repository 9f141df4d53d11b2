"""Benchmark the take-charge deadline engine against the `businesstimedelta` package.

Usage: .venv/bin/python bench/sla_engine.py [--n N] [--seed SEED]

Random receipt instants (seeded) in 2026-2030 on the default calendar (R8: Mon-Fri 15:00-18:00,
Europe/Rome, Italian holidays). Measures deadlines per second for 4 h (R9) and 400 h targets,
runs the same inputs through businesstimedelta, and checks that both give the same instants.
Targets: ours >= 25x businesstimedelta at 4 h; ours at 400 h >= 0.5x ours at 4 h;
explanations >= 50,000/s. The same targets are checked again on the default calendar with
company closures (summer weeks, Christmas Eve afternoons, a monthly meeting 15:00-16:30).
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time

import businesstimedelta
import holidays
import pytz

from app.engine.business_hours import BusinessCalendar
from app.engine.calendar_spec import DEFAULT_CALENDAR_SPEC, CalendarSpec, Closure
from app.engine.explain import explain

SHORT, LONG = timedelta(hours=4), timedelta(hours=400)
REPEAT = 7  # warm runs per figure, the best kept: the machines this runs on are noisy
FIRST, LAST = datetime(2026, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC)


def random_instants(count: int, *, seed: int) -> list[datetime]:
    """Uniformly random UTC instants, to the second, in 2026-2030."""
    rng = random.Random(seed)
    span = int((LAST - FIRST).total_seconds())
    return [FIRST + timedelta(seconds=rng.randrange(span)) for _ in range(count)]


def with_closures() -> CalendarSpec:
    """The default calendar plus, each year of 2026-2030: 10-21 August closed, 24 December from
    13:00, 31 December, and a meeting 15:00-16:30 on the first Wednesday of every month."""
    closures: list[Closure] = []
    for year in range(2026, 2031):
        closures += [Closure(date(year, 8, day), label="Ferie") for day in range(10, 22)]
        closures += [Closure(date(year, 12, 24), "13:00", label="Vigilia")]
        closures += [Closure(date(year, 12, 31), label="Ponte")]
        for month in range(1, 13):
            first = date(year, month, 1)
            wednesday = first + timedelta(days=(2 - first.weekday()) % 7)
            closures.append(Closure(wednesday, "15:00", "16:30", "Riunione"))
    return CalendarSpec(
        timezone="Europe/Rome", weekly=DEFAULT_CALENDAR_SPEC.weekly, closures=closures
    )


@dataclass
class Rates:
    """One calendar's figures: deadlines (4 h and 400 h) and explanations per second, warm."""

    short: list[datetime]
    short_rate: float
    long: list[datetime]
    long_rate: float
    explain_rate: float
    explain_mismatches: int


def rates(calendar: BusinessCalendar, starts: Sequence[datetime]) -> Rates:
    """The server keeps its calendars warm: each figure is the best of REPEAT warm runs."""
    short, short_rate = measure(
        lambda s: calendar.add_business_time(s, SHORT), starts, repeat=REPEAT
    )
    long, long_rate = measure(lambda s: calendar.add_business_time(s, LONG), starts, repeat=REPEAT)
    explanations, explain_rate = measure(
        lambda s: explain(calendar, s, SHORT), starts, repeat=REPEAT
    )
    mismatches = count_mismatches(
        [e.due_at for e in explanations],  # type: ignore[attr-defined]
        [calendar.add_business_time(calendar.clock_start(s), SHORT) for s in starts],
    )
    return Rates(short, short_rate, long, long_rate, explain_rate, mismatches)


def businesstimedelta_rule() -> businesstimedelta.Rules:
    """The default calendar expressed with businesstimedelta (pytz, as that package requires)."""
    rome = pytz.timezone("Europe/Rome")
    workdays = businesstimedelta.WorkDayRule(
        start_time=wall_time(15), end_time=wall_time(18), working_days=[0, 1, 2, 3, 4], tz=rome
    )
    # A plain set of dates keeps its day-by-day holiday lookups as cheap as they can be.
    italian_holidays = set(holidays.country_holidays("IT", years=range(2025, 2034)))
    closed_on_holidays = businesstimedelta.HolidayRule(italian_holidays, tz=rome)
    return businesstimedelta.Rules([workdays, closed_on_holidays])


def measure(
    deadline: Callable[[datetime], datetime], starts: Sequence[datetime], *, repeat: int = 1
) -> tuple[list[datetime], float]:
    """(results, deadlines per second) of `deadline` over `starts`, best of `repeat` runs."""
    best = float("inf")
    gc.disable()  # as timeit does: collections would land on whichever run happens to trigger them
    try:
        for _ in range(repeat):
            began = time.perf_counter()
            results = [deadline(start) for start in starts]
            best = min(best, time.perf_counter() - began)
    finally:
        gc.enable()
    return results, len(starts) / best


def count_mismatches(ours: Sequence[datetime], theirs: Sequence[datetime]) -> int:
    """How many pairs name different instants (aware datetimes compare as instants)."""
    return sum(mine != other for mine, other in zip(ours, theirs, strict=False))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="deadlines per measurement")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    starts = random_instants(args.n, seed=args.seed)
    # businesstimedelta is slow: a sample is enough for its rate and for the cross-check.
    sample = starts[: max(1, args.n // 10)]
    long_sample = starts[: max(1, args.n // 100)]

    calendar = BusinessCalendar(DEFAULT_CALENDAR_SPEC)
    _, cold_short = measure(lambda s: calendar.add_business_time(s, SHORT), starts)
    _, cold_long = measure(lambda s: calendar.add_business_time(s, LONG), starts)
    ours = rates(calendar, starts)
    ours_short, short_rate, ours_long, long_rate = (
        ours.short,
        ours.short_rate,
        ours.long,
        ours.long_rate,
    )
    explain_rate, explain_mismatches = ours.explain_rate, ours.explain_mismatches

    rule = businesstimedelta_rule()
    btd_short_delta = businesstimedelta.BusinessTimeDelta(rule, hours=4)
    btd_long_delta = businesstimedelta.BusinessTimeDelta(rule, hours=400)
    btd_short, btd_short_rate = measure(lambda s: s + btd_short_delta, sample)
    btd_long, btd_long_rate = measure(lambda s: s + btd_long_delta, long_sample)

    closed = with_closures()
    with_closed = rates(BusinessCalendar(closed), starts)
    closed_short, closed_long = with_closed.short_rate, with_closed.long_rate
    closed_explain, closed_mismatches = with_closed.explain_rate, with_closed.explain_mismatches

    short_mismatches = count_mismatches(ours_short, btd_short)
    long_mismatches = count_mismatches(ours_long, btd_long)
    short_ratio = short_rate / btd_short_rate
    long_ratio = long_rate / short_rate

    print(f"inputs: {args.n} random receipts in 2026-2030 (seed {args.seed}), default calendar")
    print(f"ours   4 h : {short_rate:>12,.0f} deadlines/s  (cold caches: {cold_short:,.0f}/s)")
    print(f"ours 400 h : {long_rate:>12,.0f} deadlines/s  (cold caches: {cold_long:,.0f}/s)")
    print(f"btd    4 h : {btd_short_rate:>12,.0f} deadlines/s  ({len(sample)} inputs)")
    print(f"btd  400 h : {btd_long_rate:>12,.0f} deadlines/s  ({len(long_sample)} inputs)")
    print(
        f"mismatches vs businesstimedelta: 4 h {short_mismatches}/{len(sample)}, "
        f"400 h {long_mismatches}/{len(long_sample)}"
    )
    print(
        f"explain 4 h: {explain_rate:>12,.0f} explanations/s  (goal >= 50,000; "
        f"{explain_rate / short_rate:.2f} of the deadline rate; "
        f"{explain_mismatches} deadlines differ)"
    )
    print(f"ratio ours_4h / btd_4h     = {short_ratio:8.1f}  (target >= 25)")
    print(f"ratio ours_400h / ours_4h  = {long_ratio:8.2f}  (target >= 0.5)")
    print(f"with {len(closed.closed)} closures (whole days and parts of days), 2026-2030:")
    print(f"  4 h      : {closed_short:>12,.0f} deadlines/s")
    print(f"  400 h    : {closed_long:>12,.0f} deadlines/s")
    print(
        f"  explain  : {closed_explain:>12,.0f} explanations/s  (goal >= 50,000; "
        f"{closed_mismatches} deadlines differ)"
    )
    closed_short_ratio = closed_short / btd_short_rate
    closed_long_ratio = closed_long / closed_short
    print(f"  ratio closures_4h / btd_4h        = {closed_short_ratio:8.1f}  (target >= 25)")
    print(f"  ratio closures_400h / closures_4h = {closed_long_ratio:8.2f}  (target >= 0.5)")
    met = (
        short_mismatches == 0 == long_mismatches == explain_mismatches == closed_mismatches
        and short_ratio >= 25
        and long_ratio >= 0.5
        and explain_rate >= 50_000
        and closed_short_ratio >= 25
        and closed_long_ratio >= 0.5
        and closed_explain >= 50_000
    )
    print("targets met" if met else "TARGETS NOT MET")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
