"""The year of a contract (R1, P4): requests by month and category, SLA compliance, business
time to take charge, time recorded covered and billable, amounts billed and open, against the
annual fee: what a renewal proposal needs on one page.

A contract year runs from a `starts_on` anniversary to the day before the next one (or to the
contract's end); its months are the calendar months of Europe/Rome, cut at the year's ends.
Each month's figures are the monthly statement's (statement.figure_columns) and the billing
report's (billing.py): the same rows, counted the same way, so the year is exactly the sum of
its months. Everything is aggregated by the database in one pass per kind of fact, grouped by
month; Python reads a row per month (and per recorded time, for the open amounts).

Every figure comes from stored facts. The report time of a past year is the year's end, never
the time of asking: a past year regenerates the same whenever it is asked for. Only what is
stored later about its requests (taken in charge, closed, billed, time recorded) moves it.
"""

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    case,
    cast,
    func,
    or_,
    select,
    text,
    tuple_,
)
from sqlmodel import Session

from app.engine.months import REPORT_TIMEZONE
from app.engine.rates import Rates
from app.enums import BillingReason, Category, Policy
from app.errors import Unprocessable, field_error
from app.models.base import table_of
from app.models.billing import BilledItem, TimeEntry
from app.models.contract import Contract
from app.models.customer import Customer
from app.models.report import Compliance, TakeChargeTimes, Urgent
from app.models.review import (
    AgainstFee,
    Amounts,
    ContractReview,
    RecordedTime,
    ReviewFigures,
    ReviewMonth,
)
from app.models.ticket import Ticket
from app.services.directory.contracts import get_contract
from app.services.reports.statement import (
    BASIS,
    figure_columns,
    nearest_rank_columns,
    take_charge_percentiles,
)

_T, _ENTRY, _BILLED = table_of(Ticket), table_of(TimeEntry), table_of(BilledItem)
_ZONE = ZoneInfo(REPORT_TIMEZONE)
_PERIOD = text("period")  # grouped by its name: the CASE's bound instants are not comparable
NO_CATEGORY = "none"


@dataclass(frozen=True)
class Span:
    """Days `first_day` to `last_day` in Europe/Rome, as the half-open UTC span [start, end)."""

    name: str
    first_day: date
    last_day: date
    start: datetime
    end: datetime

    @classmethod
    def of(cls, name: str, first_day: date, last_day: date) -> "Span":
        return cls(name, first_day, last_day, _midnight(first_day), _midnight(last_day, 1))


def _midnight(day: date, days_after: int = 0) -> datetime:
    following = day + timedelta(days=days_after)
    return datetime(following.year, following.month, following.day, tzinfo=_ZONE).astimezone(UTC)


def _anniversary(starts_on: date, years: int) -> date:
    """`starts_on` `years` later; 29 February's is 1 March in other years (as one_year_from)."""
    try:
        return starts_on.replace(year=starts_on.year + years)
    except ValueError:
        return date(starts_on.year + years, 3, 1)


def contract_year(contract: Contract, *, year: int | None, today: date) -> Span:
    """The contract year starting in calendar year `year`; by default the one running `today`
    (the last one once the contract has ended). 422 for a year the contract does not have,
    or one that has not begun."""
    starts_on, ends_on = contract.starts_on, contract.ends_on
    runs = (
        f"The contract runs from {starts_on} to {ends_on}; "
        f"its years start on the anniversary of {starts_on}."
    )
    if year is None:
        if today < starts_on:
            raise Unprocessable(
                f"{runs} It has not begun: no year to review yet.",
                errors=[field_error("year", "the contract has not begun")],
            )
        offset = _years_into(starts_on, min(today, ends_on))
    else:
        offset = year - starts_on.year
    first_day = _anniversary(starts_on, offset) if offset >= 0 else None
    if first_day is None or first_day > ends_on:
        raise Unprocessable(
            f"{runs} It has no year starting in {year}.",
            errors=[field_error("year", "not a year of the contract")],
        )
    if first_day > today:
        raise Unprocessable(
            f"{runs} Its year starting {first_day} has not begun.",
            errors=[field_error("year", "not begun yet")],
        )
    last_day = min(_anniversary(starts_on, offset + 1) - timedelta(days=1), ends_on)
    return Span.of(str(first_day.year), first_day, last_day)


def _years_into(starts_on: date, day: date) -> int:
    """Which contract year `day` falls in (0 for the first)."""
    offset = day.year - starts_on.year
    return offset if _anniversary(starts_on, offset) <= day else offset - 1


def months_of(year: Span) -> list[Span]:
    """The calendar months the year touches, each cut at the year's ends."""
    months, first = [], year.first_day
    while first <= year.last_day:
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        last = min(following - timedelta(days=1), year.last_day)
        months.append(Span.of(f"{first:%Y-%m}", first, last))
        first = following
    return months


def contract_review(
    contract_id: int, *, session: Session, rates: Rates, now: datetime, year: int | None = None
) -> ContractReview:
    """The review of a contract's year as of `now` (the year's end, for a past year)."""
    contract = get_contract(contract_id, session=session)  # NotFound for an unknown contract
    customer = session.get(Customer, contract.customer_id)
    assert customer is not None  # a contract's customer is kept (ondelete RESTRICT)
    try:
        span = contract_year(contract, year=year, today=now.astimezone(_ZONE).date())
        months = months_of(span)
    except (OverflowError, ValueError):  # a day before year 1 or after 9999 in UTC or Rome
        raise Unprocessable(
            f"The contract runs from {contract.starts_on} to {contract.ends_on}: "
            "its year cannot be reviewed, its days are at the ends of the calendar."
        ) from None
    as_of = min(now, span.end)
    period = case(
        *((_T.c.received_at < month.end, index) for index, month in enumerate(months)), else_=-1
    ).label("period")
    where = [_T.c.contract_id == contract_id, _T.c.received_at >= span.start]
    where.append(_T.c.received_at < span.end)
    connection = session.connection()
    counts, spent = _month_counts(connection, months, period, where, as_of=as_of, rates=rates)
    figures = [_figures(month_counts) for month_counts in counts]
    total = _figures(_summed(counts))
    covered = Decimal(total.time.covered_minutes) / 60
    language = customer.language if customer.language in ("it", "en") else "it"
    return ContractReview(
        contract_id=contract_id,
        contract_code=contract.code,
        proposal_ref=contract.proposal_ref,
        customer_id=contract.customer_id,
        customer_name=customer.name,
        language=language,
        year=span.first_day.year,
        first_day=span.first_day,
        last_day=span.last_day,
        timezone=REPORT_TIMEZONE,
        complete=as_of == span.end,
        as_of=as_of,
        currency="EUR",
        total=total,
        take_charge_times=TakeChargeTimes(
            count=spent.get("n", 0),
            median_business_minutes=_minutes(spent.get("median")),
            p90_business_minutes=_minutes(spent.get("p90")),
        ),
        against_fee=AgainstFee(
            annual_fee=contract.annual_fee,
            covered_hours=covered.quantize(Decimal("0.01")),
            covered_at_support_rates=rates.time_amount(total.time.covered_minutes),
            billed=total.amounts.billed,
            open=total.amounts.open,
            total=contract.annual_fee + total.amounts.billed + total.amounts.open,
        ),
        months=[
            ReviewMonth(month=m.name, first_day=m.first_day, last_day=m.last_day, **f.model_dump())
            for m, f in zip(months, figures, strict=True)
        ],
    )


def _month_counts(
    connection: Any,
    months: Sequence[Span],
    period: ColumnElement[int],
    where: Sequence[ColumnElement[bool]],
    *,
    as_of: datetime,
    rates: Rates,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Per month, every figure as a plain number: ticket counts, waits, time and amounts; and
    the year's take-charge times (`n`, `median`, `p90`). Two passes over the year's requests
    on PostgreSQL (the year's percentiles in the first, as a grouping set of its own), three
    on SQLite; and one for the waits going on."""
    counts: list[dict[str, Any]] = [_empty() for _ in months]
    # The statement's counts but its chart's buckets (the review draws months).
    counted = [c for c in figure_columns(as_of) if not c.name.startswith("bucket_")]
    postgres = connection.dialect.name == "postgresql"
    query = select(period, *counted, *_category_columns())
    if postgres:
        whole_year = func.grouping_sets(tuple_(_PERIOD), tuple_())
        query = query.add_columns(*nearest_rank_columns()).group_by(whole_year)
    else:
        query = query.group_by(_PERIOD)
    spent: dict[str, int] = {}
    for row in connection.execute(query.where(*where)).mappings():
        if row["period"] is None:  # the year's own row (PostgreSQL): its percentiles
            spent = {name: row[name] for name in ("n", "median", "p90") if row[name] is not None}
            continue
        counted_row = {k: v for k, v in row.items() if k not in ("period", "n", "median", "p90")}
        counts[row["period"]].update(counted_row)
    if not postgres:
        spent = next(iter(take_charge_percentiles(connection, where).values()), {})
    ends = [month.end for month in months]
    for received, since in connection.execute(
        select(_T.c.received_at, _T.c.waiting_since).where(*where, _T.c.waiting_since.is_not(None))
    ):
        # R10: a wait still going on counts up to the report time, as in the statement.
        seconds = max(int((as_of - since).total_seconds()), 0)
        counts[bisect.bisect_right(ends, received)]["ongoing_waits"] += seconds
    for row in connection.execute(_work_query(period, where)).mappings():
        month = counts[row["period"]]
        for name in ("covered", "billable", "billed_lines", "billed"):
            month[name] += row[name]
        for reason in BillingReason:
            lines = row[reason.value]
            if lines:
                month["open_lines"] += lines
                month["open"] += lines * rates.line(reason, row["recorded"])[1]
    for month in counts:
        # Rounded to the minute month by month, as each monthly statement does.
        month["waiting_minutes"] = _minutes(month["waiting_seconds"] + month["ongoing_waits"])
    return counts, spent


def _empty() -> dict[str, Any]:
    counts: dict[str, Any] = {
        name: 0
        for name in (
            "received",
            "with_target",
            "taken_in_charge",
            "within_target",
            "breached",
            "pending",
            "still_open",
            "urgent",
            "confirmed",
            "rejected",
            "on_call_within",
            "on_call_alerts",
            "waiting_seconds",
            "ongoing_waits",
            "covered",
            "billable",
            "billed_lines",
            "open_lines",
        )
    }
    counts.update({f"policy_{policy}": 0 for policy in Policy})
    counts.update({f"category_{name}": 0 for name in _category_names()})
    counts.update(billed=Decimal("0.00"), open=Decimal("0.00"))
    return counts


def _category_names() -> list[str]:
    return [*(category.value for category in Category), NO_CATEGORY]


def _category_columns() -> list[ColumnElement[Any]]:
    """How many of the group's requests in each category (R3-R5), and without one."""
    return [
        *(
            func.count().filter(_T.c.category == category).label(f"category_{category}")
            for category in Category
        ),
        func.count().filter(_T.c.category.is_(None)).label(f"category_{NO_CATEGORY}"),
    ]


def _work_query(period: ColumnElement[int], where: Sequence[ColumnElement[bool]]) -> Any:
    """Per month, and per billable minutes recorded on a request that bills: the minutes
        recorded (not billable: covered; billable), the lines billed with their invoiced amounts,
        and the lines not billed yet, per reason (a line's amount depends on nothing else:
        Rates.line). The lines are the billing report's: each billing reason of a billable
        request (or of one billed before), the billed ones with the figures they were invoiced
        with (R2, R4, R5, R13). Joins, not correlated look-ups, so that the plan stays small (and
    out of PostgreSQL's JIT, whose compiling would cost more than the query)."""
    year = select(_T.c.id).where(*where)
    billed = (
        select(
            _BILLED.c.ticket_id,
            func.count().label("lines"),
            func.sum(_BILLED.c.amount).label("amount"),
            *(
                func.count().filter(_BILLED.c.reason == reason.value).label(reason.value)
                for reason in BillingReason
            ),
        )
        .where(_BILLED.c.ticket_id.in_(year))
        .group_by(_BILLED.c.ticket_id)
        .subquery("billed")
    )
    bills = or_(_T.c.billable, billed.c.ticket_id.is_not(None))  # billing.py's lines
    reasons = cast(_T.c.billing_reasons, String)

    def open_line(reason: BillingReason) -> ColumnElement[int]:
        not_billed = or_(billed.c[reason.value].is_(None), billed.c[reason.value] == 0)
        return case((and_(bills, reasons.like(f'%"{reason.value}"%'), not_billed), 1), else_=0)

    minutes, billable = _ENTRY.c.minutes, _ENTRY.c.billable
    recorded = func.coalesce(func.sum(minutes).filter(billable), 0)
    rows = (  # a row per request, with its time entries summed
        select(
            period,
            case((bills, recorded)).label("recorded"),
            func.sum(minutes).filter(~billable).label("covered"),
            func.sum(minutes).filter(billable).label("billable"),
            billed.c.lines.label("billed_lines"),
            billed.c.amount.label("billed"),
            *(open_line(reason).label(reason.value) for reason in BillingReason),
        )
        .select_from(
            _T.outerjoin(billed, billed.c.ticket_id == _T.c.id).outerjoin(
                _ENTRY, _ENTRY.c.ticket_id == _T.c.id
            )
        )
        .where(*where)
        .group_by(_T.c.id, *billed.c)
        .subquery("rows")
    )
    return select(
        rows.c.period,
        rows.c.recorded,
        *(
            func.coalesce(func.sum(rows.c[name]), 0).label(name)
            for name in ("covered", "billable", "billed_lines", "billed")
        ),
        *(func.sum(rows.c[reason.value]).label(reason.value) for reason in BillingReason),
    ).group_by(rows.c.period, rows.c.recorded)


def _summed(counts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    total = _empty()
    total["waiting_minutes"] = 0
    for month in counts:
        for name, value in month.items():
            total[name] = total.get(name, 0) + value
    return total


def _figures(counts: dict[str, Any]) -> ReviewFigures:
    within, breached = counts["within_target"], counts["breached"]
    denominator = within + breached
    return ReviewFigures(
        received=counts["received"],
        by_category={name: counts[f"category_{name}"] for name in _category_names()},
        by_policy={policy.value: counts[f"policy_{policy}"] for policy in Policy},
        with_target=counts["with_target"],
        taken_in_charge=counts["taken_in_charge"],
        within_target=within,
        breached=breached,
        pending=counts["pending"],
        still_open=counts["still_open"],
        compliance=Compliance(
            percent=round(100 * within / denominator, 2) if denominator else None,
            within_target=within,
            denominator=denominator,
            basis=BASIS,
        ),
        urgent=Urgent(
            received=counts["urgent"],
            confirmed=counts["confirmed"],
            rejected=counts["rejected"],
            on_call=counts[f"policy_{Policy.ON_CALL}"],
            on_call_within_target=counts["on_call_within"],
            on_call_alerts=counts["on_call_alerts"],
        ),
        waiting_third_party_minutes=counts["waiting_minutes"],
        time=RecordedTime(covered_minutes=counts["covered"], billable_minutes=counts["billable"]),
        amounts=Amounts(
            lines=counts["open_lines"] + counts["billed_lines"],
            billed_lines=counts["billed_lines"],
            billed=Decimal(counts["billed"]).quantize(Decimal("0.01")),
            open=counts["open"],
        ),
    )


def _minutes(seconds: int | None) -> int | None:
    """Seconds to the nearest minute (as the statement rounds them)."""
    return None if seconds is None else (seconds + 30) // 60
