"""Annual contracts (R1): who, when, for how much, covering what, on which calendar."""

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, not_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from app.errors import Conflict, NotFound, Unprocessable, field_error
from app.models.base import utcnow
from app.models.calendar import Calendar
from app.models.contract import Contract, ContractCreate, ContractRead, ContractUpdate, OnCall
from app.models.customer import Customer
from app.services.directory.calendars import get_default_calendar


def get_contract(contract_id: int, *, session: Session) -> Contract:
    """The contract, or NotFound."""
    contract = session.get(Contract, contract_id)
    if contract is None:
        raise NotFound(f"No contract with id {contract_id}.")
    return contract


def read_contract(contract: Contract) -> ContractRead:
    """The API view of a contract."""
    on_call = None
    if contract.on_call_calendar_id is not None and contract.on_call_take_charge_hours:
        on_call = OnCall(
            calendar_id=contract.on_call_calendar_id,
            take_charge_hours=contract.on_call_take_charge_hours,
        )
    return ContractRead.model_validate({**dict(contract), "on_call": on_call})


def _require(
    model: type[Customer] | type[Calendar], row_id: int, field: str, *, session: Session
) -> None:
    if session.get(model, row_id) is None:
        raise Unprocessable(
            f"{field}: no {model.__tablename__} with id {row_id}.",
            errors=[field_error(field, f"unknown {model.__tablename__}")],
        )


def _check_code_free(code: str, contract_id: int | None, *, session: Session) -> None:
    clash = session.exec(
        select(Contract.id).where(Contract.code == code, Contract.id != contract_id)
    ).first()
    if clash is not None:
        raise Conflict(
            f"A contract with code {code!r} exists already (id {clash}).",
            errors=[field_error("code", "already used")],
        )


def _check_no_overlap(
    customer_id: int, starts_on: date, ends_on: date, contract_id: int | None, *, session: Session
) -> None:
    """R1: one contract in force at a time for a customer; an overlap is refused, not guessed."""
    other = session.exec(
        select(Contract).where(
            Contract.customer_id == customer_id,
            Contract.id != contract_id,
            col(Contract.starts_on) <= ends_on,
            col(Contract.ends_on) >= starts_on,
        )
    ).first()
    if other is not None:
        raise Conflict(
            f"The customer's contract {other.code!r} (id {other.id}) runs from "
            f"{other.starts_on} to {other.ends_on}, overlapping {starts_on} to {ends_on}; "
            "end it first, or start this one after it.",
            errors=[field_error("starts_on", f"overlaps contract {other.code}")],
            contract_id=other.id,
        )


def create_contract(data: ContractCreate, *, session: Session) -> Contract:
    """Record a contract with the defaults of API.md (R1, R3–R5, R8, R9)."""
    _require(Customer, data.customer_id, "customer_id", session=session)
    if data.calendar_id is None:
        calendar_id = get_default_calendar(session=session).id
    else:
        _require(Calendar, data.calendar_id, "calendar_id", session=session)
        calendar_id = data.calendar_id
    if data.on_call is not None:
        _require(Calendar, data.on_call.calendar_id, "on_call.calendar_id", session=session)
    _check_code_free(data.code, None, session=session)
    assert data.ends_on is not None and calendar_id is not None
    _check_no_overlap(data.customer_id, data.starts_on, data.ends_on, None, session=session)
    contract = Contract(
        **data.model_dump(exclude={"calendar_id", "on_call"}),
        calendar_id=calendar_id,
        on_call_calendar_id=data.on_call.calendar_id if data.on_call else None,
        on_call_take_charge_hours=data.on_call.take_charge_hours if data.on_call else None,
    )
    session.add(contract)
    session.flush()
    return contract


def update_contract(contract_id: int, data: ContractUpdate, *, session: Session) -> Contract:
    """Change a contract. Tickets keep the SLA snapshot they were created with."""
    contract = get_contract(contract_id, session=session)
    changes = data.model_dump(exclude_unset=True)
    if "calendar_id" in changes:
        if changes["calendar_id"] is None:
            raise Unprocessable(
                "calendar_id cannot be null.",
                errors=[field_error("calendar_id", "must be a calendar id")],
            )
        _require(Calendar, changes["calendar_id"], "calendar_id", session=session)
    if "code" in changes:
        _check_code_free(changes["code"], contract_id, session=session)
    if "on_call" in changes:
        on_call = data.on_call
        if on_call is not None:
            _require(Calendar, on_call.calendar_id, "on_call.calendar_id", session=session)
        contract.on_call_calendar_id = on_call.calendar_id if on_call else None
        contract.on_call_take_charge_hours = on_call.take_charge_hours if on_call else None
        changes.pop("on_call")
    for field, value in changes.items():
        if value is None:
            raise Unprocessable(
                f"{field} cannot be null.", errors=[field_error(field, "must not be null")]
            )
        setattr(contract, field, list(dict.fromkeys(value)) if field == "coverage" else value)
    if contract.ends_on <= contract.starts_on:
        raise Unprocessable(
            "ends_on must be after starts_on.",
            errors=[field_error("ends_on", "must be after starts_on")],
        )
    _check_no_overlap(
        contract.customer_id, contract.starts_on, contract.ends_on, contract_id, session=session
    )
    contract.updated_at = utcnow()
    session.add(contract)
    session.flush()
    return contract


def has_successor() -> ColumnElement[bool]:
    """Whether the contract has a successor: a later contract of the same customer (a renewal,
    or one recorded by hand)."""
    later = aliased(Contract)
    return (
        select(later.id)
        .where(later.customer_id == Contract.customer_id, later.starts_on > Contract.ends_on)
        .exists()
    )


@dataclass(frozen=True)
class Watch:
    """The renewal watch's filters of the list, on the day `today` (R1, R2)."""

    today: date
    ending_within_days: int | None = None
    """In force today, not renewed, its last day within this many days."""
    lapsed: bool | None = None
    """True: ended before today and not renewed; False: the others."""


def _watched(query: Any, watch: Watch) -> Any:
    today = watch.today
    if watch.ending_within_days is not None:
        query = query.where(
            col(Contract.starts_on) <= today,
            col(Contract.ends_on) >= today,
            col(Contract.ends_on) <= today + timedelta(days=watch.ending_within_days),
            ~has_successor(),
        )
    if watch.lapsed is not None:
        lapsed = and_(col(Contract.ends_on) < today, ~has_successor())
        query = query.where(lapsed if watch.lapsed else not_(lapsed))
    return query


def list_contracts(
    *,
    session: Session,
    limit: int,
    offset: int,
    customer_id: int | None = None,
    active_on: date | None = None,
    watch: Watch | None = None,
) -> tuple[list[Contract], int]:
    """A page of contracts, optionally one customer's, those active on a date, or those the
    renewal watch sees (ending soon, lapsed)."""
    query = select(Contract)
    if customer_id is not None:
        query = query.where(Contract.customer_id == customer_id)
    if active_on is not None:
        query = query.where(Contract.starts_on <= active_on, Contract.ends_on >= active_on)
    if watch is not None:
        query = _watched(query, watch)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(col(Contract.id)).limit(limit).offset(offset)).all()
    return list(rows), total
