"""The monthly SLA statement (R1, R9, R10, R12-R16), aggregated in SQL from the tickets' stored
SLA snapshots.

Every figure comes from what each ticket stored when its terms were decided and when it was
taken in charge (deadline, target, calendar, business time to take charge), never from the
contract or calendar as they are today: regenerating a past month gives the same statement.
Only the figures that depend on the report time (pending, still open, breaches not taken in
charge yet) move with it. Counts and the chart's buckets are computed by the database in one
pass over the month; so are the percentiles (nearest rank: `percentile_disc` in that pass on
PostgreSQL, window functions on SQLite, the same figures). Python reads one row per contract,
plus one per breach.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, and_, case, cast, func, or_, select
from sqlmodel import Session

from app.engine.business_hours import calendar_for
from app.engine.months import Month
from app.enums import OPEN_STATUSES, Policy, Urgency
from app.errors import NotFound
from app.models.base import table_of
from app.models.contract import Contract
from app.models.customer import Customer
from app.models.report import (
    Breach,
    Bucket,
    Compliance,
    ContractStatement,
    SlaStatement,
    TakeChargeTimes,
    Urgent,
)
from app.models.ticket import Ticket
from app.services.directory.calendars import snapshot_spec_of_text

_T, _CONTRACT, _CUSTOMER = table_of(Ticket), table_of(Contract), table_of(Customer)
_DUE, _TAKEN = _T.c.take_charge_due_at, _T.c.taken_in_charge_at
_SPENT, _TARGET = _T.c.take_charge_business_seconds, _T.c.sla_target_seconds
BASIS = (
    "requests received in the month with a take-charge deadline that were taken in charge, "
    "or were past their deadline, at the report time"
)
# The chart's bars: take-charge time as a share of the request's own target.
BUCKETS = ("0-25%", "25-50%", "50-75%", "75-100%", "100-150%", ">150%")


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """How many of the group's rows meet `condition` (`count(*) FILTER (WHERE ...)`)."""
    return func.count().filter(condition)


def _within() -> ColumnElement[bool]:
    return and_(_TAKEN.is_not(None), _DUE.is_not(None), _TAKEN <= _DUE)


def _breached(now: datetime) -> ColumnElement[bool]:
    """Taken in charge late, or not taken in charge and past the deadline at `now`. Written
    as the late-or-waiting predicate of the index `ix_ticket_late` (models/ticket.py), narrowed
    by `now`, so that the breach list reads that index instead of the whole month."""
    late_or_waiting = and_(_DUE.is_not(None), or_(_TAKEN.is_(None), _TAKEN > _DUE))
    return and_(late_or_waiting, or_(_TAKEN.is_not(None), now > _DUE))


def sla_statement(
    month: Month, *, session: Session, now: datetime, contract_id: int | None = None
) -> SlaStatement:
    """The statement of `month` as of `now`, for every contract or one."""
    where: list[ColumnElement[bool]] = [
        _T.c.received_at >= month.start,
        _T.c.received_at < month.end,
    ]
    if contract_id is not None:
        where.append(_T.c.contract_id == contract_id)
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    figures = {
        row["contract_id"]: row
        for row in connection.execute(_figures(where, now, percentiles=postgres)).mappings()
    }
    percentiles = (
        {key: _present(row) for key, row in figures.items()}
        if postgres
        else _percentiles(connection, where)
    )
    breaches = _breaches(connection, where, now)
    waiting = _ongoing_waits(connection, where, now)
    contracts = _contracts(connection, month, figures, contract_id)
    if contract_id is not None and not contracts:
        raise NotFound(
            f"No contract with id {contract_id} in force in {month.name}, and no ticket of it then."
        )
    statements = [
        _statement(info, figures.get(info["contract_id"]), percentiles, breaches, waiting)
        for info in contracts
    ]
    return SlaStatement(
        month=month.name,
        first_day=month.first_day,
        last_day=month.last_day,
        timezone=month.timezone,
        generated_at=now,
        contracts=statements,
    )


def _figures(
    where: Sequence[ColumnElement[bool]], now: datetime, *, percentiles: bool = False
) -> Any:
    """One row of counts per contract; with `percentiles` (PostgreSQL), also the median and
    the 90th percentile of the business seconds to take charge, in the same pass."""
    nearest_rank = nearest_rank_columns() if percentiles else []
    return (
        select(_T.c.contract_id, *figure_columns(now), *nearest_rank)
        .where(*where)
        .group_by(_T.c.contract_id)
    )


def figure_columns(now: datetime) -> list[ColumnElement[Any]]:
    """The statement's counts over a group of tickets, each labelled; `now` is the report time
    (pending, breached). The contract review groups them by month."""
    within = _within()
    return [
        func.count().label("received"),
        *(_count(_T.c.sla_policy == policy).label(f"policy_{policy}") for policy in Policy),
        _count(_DUE.is_not(None)).label("with_target"),
        _count(_TAKEN.is_not(None)).label("taken_in_charge"),
        _count(within).label("within_target"),
        _count(_breached(now)).label("breached"),
        _count(and_(_DUE.is_not(None), _TAKEN.is_(None), now <= _DUE)).label("pending"),
        _count(_T.c.status.in_(list(OPEN_STATUSES))).label("still_open"),
        _count(_T.c.urgent.is_(True)).label("urgent"),
        _count(_T.c.urgency == Urgency.CONFIRMED).label("confirmed"),
        _count(_T.c.urgency == Urgency.REJECTED).label("rejected"),
        _count(and_(_T.c.sla_policy == Policy.ON_CALL, within)).label("on_call_within"),
        _count(_T.c.on_call_alert.is_(True)).label("on_call_alerts"),
        func.coalesce(func.sum(_T.c.waiting_seconds), 0).label("waiting_seconds"),
        *(_count(_bucket() == index).label(f"bucket_{index}") for index in range(len(BUCKETS))),
    ]


def _bucket() -> ColumnElement[int]:
    """The chart's bar of a request taken in charge with a deadline (-1 otherwise): its
    take-charge time as a share of its own target, in integer arithmetic."""
    return case(
        (or_(_SPENT.is_(None), _DUE.is_(None), _TARGET.is_(None), _TARGET <= 0), -1),
        (_SPENT * 4 <= _TARGET, 0),
        (_SPENT * 2 <= _TARGET, 1),
        (_SPENT * 4 <= _TARGET * 3, 2),
        (_SPENT <= _TARGET, 3),
        (_SPENT * 2 <= _TARGET * 3, 4),
        else_=5,
    )


def _present(row: Any) -> dict[str, int]:
    return {name: row[name] for name in ("n", "median", "p90") if row[name] is not None}


def take_charge_percentiles(
    connection: Any, where: Sequence[ColumnElement[bool]]
) -> dict[Any, dict[str, int]]:
    """Per contract, of the tickets `where` selects: `n` taken in charge with a deadline, and
    the `median` and `p90` business seconds they took (nearest rank, on either database)."""
    if connection.dialect.name != "postgresql":
        return _percentiles(connection, where)
    query = (
        select(_T.c.contract_id, *nearest_rank_columns()).where(*where).group_by(_T.c.contract_id)
    )
    return {row["contract_id"]: _present(row) for row in connection.execute(query).mappings()}


def nearest_rank_columns() -> list[ColumnElement[Any]]:
    """`n`, `median` and `p90` of the business seconds to take charge (PostgreSQL's
    `percentile_disc`: nearest rank)."""
    timed = and_(_DUE.is_not(None), _SPENT.is_not(None))
    return [
        _count(timed).label("n"),
        *(
            func.percentile_disc(fraction).within_group(_SPENT).filter(timed).label(name)
            for name, fraction in (("median", 0.5), ("p90", 0.9))
        ),
    ]


def _percentiles(
    connection: Any, where: Sequence[ColumnElement[bool]]
) -> dict[Any, dict[str, int]]:
    """Median and 90th percentile business seconds per contract where the database has no
    `percentile_disc` (SQLite): the same nearest rank, ceil(p * n), found with window functions
    and integer arithmetic, so that both databases give the same figures."""
    timed = [*where, _DUE.is_not(None), _SPENT.is_not(None)]
    ranked = (
        select(
            _T.c.contract_id,
            _SPENT.label("seconds"),
            func.row_number()
            .over(partition_by=_T.c.contract_id, order_by=(_SPENT, _T.c.id))
            .label("rank"),
            func.count().over(partition_by=_T.c.contract_id).label("n"),
        )
        .where(*timed)
        .subquery("ranked")
    )
    median_rank, p90_rank = (ranked.c.n + 1) // 2, (9 * ranked.c.n + 9) // 10
    query = select(
        ranked.c.contract_id,
        ranked.c.n,
        case((ranked.c.rank == median_rank, ranked.c.seconds)).label("median"),
        case((ranked.c.rank == p90_rank, ranked.c.seconds)).label("p90"),
    ).where(or_(ranked.c.rank == median_rank, ranked.c.rank == p90_rank))
    result: dict[Any, dict[str, int]] = {}
    for row in connection.execute(query).mappings():
        entry = result.setdefault(row["contract_id"], {"n": row["n"]})
        for name in ("median", "p90"):
            if row[name] is not None:
                entry[name] = row[name]
    return result


def _breaches(
    connection: Any, where: Sequence[ColumnElement[bool]], now: datetime
) -> dict[Any, list[Breach]]:
    query = (
        select(
            _T.c.id,
            _T.c.number,
            _T.c.contract_id,
            _T.c.received_at,
            _T.c.sla_policy,
            _T.c.urgent,
            _DUE,
            _TAKEN,
            _SPENT,
            _TARGET,
            # Only a breach not taken in charge yet needs its calendar (how late is it now?),
            # as text: the key of the shared spec, read without decoding.
            case((_TAKEN.is_(None), cast(_T.c.sla_calendar, String))).label("sla_calendar"),
        )
        .where(*where, _breached(now))
        .order_by(_DUE, _T.c.id)
    )
    result: dict[Any, list[Breach]] = {}
    rows = connection.execute(query).all()
    for (
        ticket_id,
        number,
        contract,
        received,
        policy,
        urgent,
        due,
        taken,
        spent,
        target,
        snapshot,
    ) in rows:
        if taken is not None and spent is not None:
            # Business time to take charge, less the target: the business time past the deadline.
            late_business = spent - target
        else:
            calendar = calendar_for(snapshot_spec_of_text(snapshot))
            late_business = int(calendar.business_time_between(due, taken or now).total_seconds())
        result.setdefault(contract, []).append(
            Breach(
                ticket_id=ticket_id,
                ticket_number=number,
                received_at=received,
                policy=policy,
                urgent=urgent,
                take_charge_due_at=due,
                taken_in_charge_at=taken,
                late_business_minutes=_minutes_up(max(late_business, 0)),
                late_minutes=_minutes_up(int(((taken or now) - due).total_seconds())),
                cause="taken_in_charge_late" if taken is not None else "not_taken_in_charge",
            )
        )
    return result


def _ongoing_waits(
    connection: Any, where: Sequence[ColumnElement[bool]], now: datetime
) -> dict[Any, int]:
    """Seconds of the waits on third parties still going on at the report time (R10)."""
    query = select(_T.c.contract_id, _T.c.waiting_since).where(
        *where, _T.c.waiting_since.is_not(None)
    )
    result: dict[Any, int] = {}
    for row in connection.execute(query).mappings():
        seconds = max(int((now - row["waiting_since"]).total_seconds()), 0)
        result[row["contract_id"]] = result.get(row["contract_id"], 0) + seconds
    return result


def _contracts(
    connection: Any, month: Month, figures: dict[Any, Any], contract_id: int | None
) -> list[dict[str, Any]]:
    """The contracts the statement covers: active in the month, or with requests in it."""
    active = and_(_CONTRACT.c.starts_on <= month.last_day, _CONTRACT.c.ends_on >= month.first_day)
    query = (
        select(
            _CONTRACT.c.id.label("contract_id"),
            _CONTRACT.c.code,
            _CONTRACT.c.customer_id,
            _CUSTOMER.c.name,
            _CUSTOMER.c.language,
        )
        .join(_CUSTOMER, _CUSTOMER.c.id == _CONTRACT.c.customer_id)
        .where(or_(active, _CONTRACT.c.id.in_([key for key in figures if key is not None])))
        .order_by(_CUSTOMER.c.name, _CONTRACT.c.code)
    )
    if contract_id is not None:
        query = query.where(_CONTRACT.c.id == contract_id)
    contracts = [dict(row) for row in connection.execute(query).mappings()]
    if contract_id is None and None in figures:
        contracts.append(
            {"contract_id": None, "code": None, "customer_id": None, "name": None, "language": "it"}
        )
    return contracts


def _statement(
    info: dict[str, Any],
    row: Any,
    percentiles: dict[Any, dict[str, int]],
    breaches: dict[Any, list[Breach]],
    waiting: dict[Any, int],
) -> ContractStatement:
    key = info["contract_id"]
    value = (lambda name: row[name]) if row is not None else (lambda name: 0)
    within, breached = value("within_target"), value("breached")
    denominator = within + breached
    spent = percentiles.get(key, {})
    return ContractStatement(
        contract_id=key,
        contract_code=info["code"],
        customer_id=info["customer_id"],
        customer_name=info["name"],
        language=info["language"] or "it",
        received=value("received"),
        by_policy={policy.value: value(f"policy_{policy}") for policy in Policy},
        with_target=value("with_target"),
        taken_in_charge=value("taken_in_charge"),
        within_target=within,
        breached=breached,
        pending=value("pending"),
        still_open=value("still_open"),
        compliance=Compliance(
            percent=round(100 * within / denominator, 2) if denominator else None,
            within_target=within,
            denominator=denominator,
            basis=BASIS,
        ),
        take_charge_times=TakeChargeTimes(
            count=spent.get("n", 0),
            median_business_minutes=_minutes(spent.get("median")),
            p90_business_minutes=_minutes(spent.get("p90")),
        ),
        chart=[
            Bucket(label=label, count=value(f"bucket_{index}"), within_target=index <= 3)
            for index, label in enumerate(BUCKETS)
        ],
        urgent=Urgent(
            received=value("urgent"),
            confirmed=value("confirmed"),
            rejected=value("rejected"),
            on_call=value(f"policy_{Policy.ON_CALL}"),
            on_call_within_target=value("on_call_within"),
            on_call_alerts=value("on_call_alerts"),
        ),
        waiting_third_party_minutes=_minutes(value("waiting_seconds") + waiting.get(key, 0)) or 0,
        breaches=breaches.get(key, []),
    )


def _minutes(seconds: int | None) -> int | None:
    """Seconds to the nearest minute."""
    return None if seconds is None else (seconds + 30) // 60


def _minutes_up(seconds: int) -> int:
    """Seconds to whole minutes, any part of a minute counting as one (how late)."""
    return -(-seconds // 60)
