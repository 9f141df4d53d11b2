"""When a contract's end is told, what its next year is, and whether a request comes just after
a contract lapsed (R1, R2). PURE: dates and contracts in, values out; no clock."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from app.engine.sla import ContractTerms, active_contract_at

LAPSED = "lapsed"


def one_year_from(starts_on: date) -> date:
    """R1: a contract lasts one year: it ends the day before its anniversary (a year begun on
    29 February ends on the last day of the next February)."""
    try:
        anniversary = starts_on.replace(year=starts_on.year + 1)
    except ValueError:  # 29 February
        anniversary = date(starts_on.year + 1, 3, 1)
    return anniversary - timedelta(days=1)


def next_year(ends_on: date) -> tuple[date, date]:
    """The renewed contract's first and last day: from the day after `ends_on`, one year (R1);
    no day between the two years and none in both."""
    starts_on = ends_on + timedelta(days=1)
    return starts_on, one_year_from(starts_on)


def step_name(days: int) -> str:
    """How a reminder step is named: `60d` for sixty days before the end."""
    return f"{days}d"


@dataclass(frozen=True)
class Step:
    """A reminder step a contract has reached on a day."""

    name: str
    """`60d`, `15d`, ... or `lapsed`."""
    days_left: int
    """Days from that day to the last day in force; negative once it lapsed."""


def reached_step(
    ends_on: date, *, today: date, steps_days: Iterable[int], lookback_days: int
) -> Step | None:
    """The latest step reached by `today`: a number of days before the last day `ends_on`
    (a step passed while another was due is not told late: the nearest one is), or `lapsed`
    from the day after it, for `lookback_days`; None before the first step or after that."""
    days_left = (ends_on - today).days
    if days_left < 0:
        return Step(LAPSED, days_left) if -days_left <= lookback_days else None
    reached = [days for days in steps_days if 0 <= days_left <= days]
    if not reached:
        return None
    return Step(step_name(min(reached)), days_left)


def lapsed_on(
    contracts: Sequence[ContractTerms], *, instant: datetime, within_days: int
) -> date | None:
    """R2: the last day of the customer's contract that lapsed at most `within_days` before
    `instant` (each dated in its calendar's zone), when no contract is in force then."""
    if active_contract_at(contracts, instant=instant) is not None:
        return None
    ended = [
        contract.ends_on
        for contract in contracts
        if 0 < (_local_date(instant, contract) - contract.ends_on).days <= within_days
    ]
    return max(ended, default=None)


def _local_date(instant: datetime, contract: ContractTerms) -> date:
    return instant.astimezone(ZoneInfo(contract.calendar.timezone)).date()
