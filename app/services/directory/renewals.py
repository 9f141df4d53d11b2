"""The renewal watch: a contract's end never passes unseen (R1, R2; P4).

A periodic scan (the outbox worker runs it, next to the SLA alerts) finds the contracts not yet
renewed that reached a reminder step: some days before their last day
(SPORTELLO_RENEWAL_STEPS_DAYS, 60 and 15 by default), then `lapsed` the day after it. Each step
is recorded once per contract and last day (`contract_reminder`), so that a restart or a second
runner never tells it again, and a webhook event is published for it (`contract.ending`,
`contract.lapsed`). Staff are told in the default calendar's hours (R8), in one digest a day at
most: the contracts that reached a step since the last one. A contract is renewed in one call
(`renew_contract`): the next year starts the day after, with no gap and no overlap.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlmodel import Session, col, select

from app.engine import renewals
from app.engine.business_hours import calendar_for
from app.enums import EventType
from app.errors import Conflict, NotFound, Unprocessable
from app.models.contract import Contract, ContractCreate, OnCall
from app.models.customer import Customer
from app.models.renewal import ContractReminder, ContractRenew
from app.models.webhook import ContractData, EventContract
from app.services.directory.calendars import get_default_calendar, spec_of
from app.services.directory.contracts import create_contract, has_successor
from app.services.knobs import MailKnobs
from app.services.notifications import notify
from app.services.webhooks import events

# A lapse found later than this is no longer news (a runner down for a month, or the first
# scan of contracts that ended long ago): they stay in `GET /contracts?lapsed=true`.
LOOKBACK_DAYS = 31


@dataclass(frozen=True)
class Reached:
    """A contract that reached a step, with what staff and receivers are told of it."""

    contract: Contract
    customer_name: str
    step: renewals.Step


def today_of(now: datetime, *, session: Session) -> date:
    """The day it is at `now` in the default calendar's zone (R8): contracts are dated there."""
    return now.astimezone(ZoneInfo(get_default_calendar(session=session).timezone)).date()


def scan(*, session: Session, mail: MailKnobs, now: datetime, steps_days: tuple[int, ...]) -> int:
    """Record and tell the reminder steps reached by `now`; how many contracts were told of."""
    if session.get_bind().dialect.name == "postgresql":
        # One scan at a time across runners (SQLite writers take turns anyway).
        locked = session.execute(text("SELECT pg_try_advisory_xact_lock(7413)")).scalar_one()
        if not locked:
            return 0
    calendar = get_default_calendar(session=session)
    if not calendar_for(spec_of(calendar)).is_open(now):
        return 0  # told in business hours only (R8)
    zone = ZoneInfo(calendar.timezone)
    today = now.astimezone(zone).date()
    if _told_since(datetime.combine(today, time(0), tzinfo=zone), session=session):
        return 0  # one digest a day at most: the rest waits for tomorrow's
    reached = _reached(today, steps_days=steps_days, session=session)
    if not reached:
        return 0
    for item in reached:
        _record(item, session=session, now=now)
    _tell_staff(reached, today=today, session=session, mail=mail, now=now)
    return len(reached)


def _told_since(instant: datetime, *, session: Session) -> bool:
    told = session.execute(
        select(col(ContractReminder.id))
        .where(col(ContractReminder.told_at) >= instant.astimezone(UTC))
        .limit(1)
    ).first()
    return told is not None


def _reached(today: date, *, steps_days: tuple[int, ...], session: Session) -> list[Reached]:
    """The contracts not renewed whose latest step reached by `today` was not told yet."""
    furthest = max(steps_days, default=0)
    rows = session.execute(
        select(Contract, col(Customer.name))
        .join(Customer, col(Customer.id) == Contract.customer_id)
        .where(
            col(Contract.starts_on) <= today,
            col(Contract.ends_on) >= today - timedelta(days=LOOKBACK_DAYS),
            col(Contract.ends_on) <= today + timedelta(days=furthest),
            ~has_successor(),
        )
        .order_by(col(Contract.ends_on), col(Contract.id))
    ).all()
    told = _told(tuple(contract.id for contract, _ in rows if contract.id), session=session)
    reached = []
    for contract, customer_name in rows:
        step = renewals.reached_step(
            contract.ends_on, today=today, steps_days=steps_days, lookback_days=LOOKBACK_DAYS
        )
        if step is not None and (contract.id, contract.ends_on, step.name) not in told:
            reached.append(Reached(contract, customer_name, step))
    return reached


def _told(contract_ids: tuple[int, ...], *, session: Session) -> set[tuple[int, date, str]]:
    if not contract_ids:
        return set()
    rows = session.execute(
        select(
            col(ContractReminder.contract_id),
            col(ContractReminder.ends_on),
            col(ContractReminder.step),
        ).where(col(ContractReminder.contract_id).in_(contract_ids))
    )
    return {(contract_id, ends_on, step) for contract_id, ends_on, step in rows}


def _record(item: Reached, *, session: Session, now: datetime) -> None:
    """The step is told: recorded once (the unique key), and published as an event."""
    contract, step = item.contract, item.step
    assert contract.id is not None
    session.add(
        ContractReminder(
            contract_id=contract.id, ends_on=contract.ends_on, step=step.name, told_at=now
        )
    )
    session.flush()
    lapsed = step.name == renewals.LAPSED
    events.publish(
        EventType.CONTRACT_LAPSED if lapsed else EventType.CONTRACT_ENDING,
        session=session,
        at=now,
        cause=f"contract:{contract.id}:{contract.ends_on}:{step.name}",
        data=lambda: ContractData(
            contract=_event_contract(item), step=step.name, days_left=step.days_left
        ).model_dump(mode="json"),
    )


def _event_contract(item: Reached) -> EventContract:
    contract = item.contract
    assert contract.id is not None
    return EventContract(
        id=contract.id,
        code=contract.code,
        customer_id=contract.customer_id,
        customer_name=item.customer_name,
        starts_on=contract.starts_on.isoformat(),
        ends_on=contract.ends_on.isoformat(),
        annual_fee=f"{contract.annual_fee:.2f}",
        proposal_ref=contract.proposal_ref,
    )


def _tell_staff(
    reached: list[Reached], *, today: date, session: Session, mail: MailKnobs, now: datetime
) -> None:
    """One digest of the contracts that reached a step (by email and the alert webhook)."""
    notify.alert_staff(
        "contract_renewal",
        session=session,
        mail=mail,
        at=now,
        dedup_key=f"contracts:renewal:{today.isoformat()}",  # one a day, whatever happens
        contracts=[
            {
                "id": item.contract.id,
                "code": item.contract.code,
                "customer": item.customer_name,
                "ends_on": item.contract.ends_on.isoformat(),
                "step": item.step.name,
                "days_left": item.step.days_left,
                "annual_fee": f"{item.contract.annual_fee:.2f}",
            }
            for item in reached
        ],
    )


# --- renewing -------------------------------------------------------------------------------


def renew_contract(contract_id: int, data: ContractRenew, *, session: Session) -> Contract:
    """R1: the contract's next year, from the day after its last day to one year later, with
    the same coverage, calendar, target and on-call agreement unless changed. A contract that
    has a successor already is a Conflict: it is renewed once."""
    contract = session.exec(
        select(Contract).where(Contract.id == contract_id).with_for_update()
    ).first()
    if contract is None:
        raise NotFound(f"No contract with id {contract_id}.")
    successor = session.exec(
        select(Contract)
        .where(Contract.customer_id == contract.customer_id, Contract.starts_on > contract.ends_on)
        .order_by(col(Contract.starts_on))
    ).first()
    if successor is not None:
        raise Conflict(
            f"The contract {contract.code!r} has a successor already: {successor.code!r} "
            f"(id {successor.id}) from {successor.starts_on} to {successor.ends_on}.",
            contract_id=successor.id,
        )
    try:
        starts_on, ends_on = renewals.next_year(contract.ends_on)
    except (OverflowError, ValueError):  # a year past 9999: no date can say it
        raise Unprocessable(
            f"The contract {contract.code!r} ends on {contract.ends_on}: "
            "its next year is past the last date there is."
        ) from None
    on_call = None
    if contract.on_call_calendar_id is not None and contract.on_call_take_charge_hours:
        on_call = OnCall(
            calendar_id=contract.on_call_calendar_id,
            take_charge_hours=contract.on_call_take_charge_hours,
        )
    following = ContractCreate(
        customer_id=contract.customer_id,
        code=data.code or next_code(contract.code, contract.starts_on, starts_on),
        starts_on=starts_on,
        ends_on=ends_on,
        annual_fee=data.annual_fee,
        proposal_ref=data.proposal_ref,
        coverage=data.coverage if data.coverage is not None else list(contract.coverage),
        calendar_id=data.calendar_id or contract.calendar_id,
        take_charge_hours=data.take_charge_hours or contract.take_charge_hours,
        on_call=on_call,
    )
    return create_contract(following, session=session)


def next_code(code: str, old_start: date, new_start: date) -> str:
    """The renewed contract's code: the old year replaced by the new one (the last time it
    appears: ASS-2026-001 becomes ASS-2027-001), or the new year added (ASS-7 → ASS-7-2027)."""
    old_year, new_year = str(old_start.year), str(new_start.year)
    head, found, tail = code.rpartition(old_year)
    if found and old_year != new_year:
        return f"{head}{new_year}{tail}"
    return f"{code[: 64 - len(new_year) - 1]}-{new_year}"
