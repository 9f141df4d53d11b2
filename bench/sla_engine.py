"""Benchmark the take-charge deadline engine against the `businesstimedelta` package.

Usage: .venv/bin/python bench/sla_engine.py [--n N] [--seed SEED]

Random receipt instants (seeded) in 2026-2030 on the default calendar (R8: Mon-Fri 15:00-18:00,
Europe/Rome, Italian holidays). Measures deadlines per second for 4 h (R9) and 400 h targets,
runs the same inputs through businesstimedelta, and checks that both give the same instants.
Targets: ours >= 25x businesstimedelta at 4 h; ours at 400 h >= 0.5x ours at 4 h.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from datetime import time as wall_time

import businesstimedelta
import holidays
import pytz

from app.services.business_hours import DEFAULT_CALENDAR_SPEC, BusinessCalendar
from app.services.explain import explain

SHORT, LONG = timedelta(hours=4), timedelta(hours=400)
FIRST, LAST = datetime(2026, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC)


def random_instants(count: int, *, seed: int) -> list[datetime]:
    """Uniformly random UTC instants, to the second, in 2026-2030."""
    rng = random.Random(seed)
    span = int((LAST - FIRST).total_seconds())
    return [FIRST + timedelta(seconds=rng.randrange(span)) for _ in range(count)]


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
    # The server keeps its calendars warm: the figures compared are warm, best of 3 runs.
    ours_short, short_rate = measure(
        lambda s: calendar.add_business_time(s, SHORT), starts, repeat=3
    )
    ours_long, long_rate = measure(lambda s: calendar.add_business_time(s, LONG), starts, repeat=3)

    # Explanations (app.services.explain) of the same 4 h deadlines, warm, best of 3.
    explanations, explain_rate = measure(lambda s: explain(calendar, s, SHORT), starts, repeat=3)
    explain_mismatches = count_mismatches(
        [e.due_at for e in explanations],  # type: ignore[attr-defined]
        [calendar.add_business_time(calendar.clock_start(s), SHORT) for s in starts],
    )

    rule = businesstimedelta_rule()
    btd_short_delta = businesstimedelta.BusinessTimeDelta(rule, hours=4)
    btd_long_delta = businesstimedelta.BusinessTimeDelta(rule, hours=400)
    btd_short, btd_short_rate = measure(lambda s: s + btd_short_delta, sample)
    btd_long, btd_long_rate = measure(lambda s: s + btd_long_delta, long_sample)

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
    met = (
        short_mismatches == 0 == long_mismatches == explain_mismatches
        and short_ratio >= 25
        and long_ratio >= 0.5
        and explain_rate >= 50_000
    )
    print("targets met" if met else "TARGETS NOT MET")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
