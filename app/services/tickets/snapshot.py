"""The SLA snapshot a ticket carries, the queue columns derived from it, and its SLA block."""

import operator
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import reduce
from types import UnionType
from typing import Any, Protocol, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter
from sqlalchemy import ColumnElement, Row, String, cast
from typing_extensions import TypedDict  # pydantic reads only this one before Python 3.12

from app.engine import sla
from app.engine.business_hours import calendar_for
from app.engine.calendar_spec import CalendarSpec
from app.engine.explain import Explanation, explain
from app.enums import BillingReason, Policy
from app.models.base import table_of
from app.models.calendar import ExplanationRead
from app.models.ticket import SlaBlock, SlaExplained, Ticket, TicketPage, TicketRead
from app.services.directory.calendars import snapshot_spec, snapshot_spec_of_text

# Tickets without a deadline sort after every ticket with one.
NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)


def decision_columns(decision: sla.SlaDecision) -> dict[str, Any]:
    """The ticket's SLA snapshot and billing, as the engine decided them."""
    return {
        "contract_id": decision.contract_id,
        "coverage": decision.coverage,
        "urgent": decision.urgent,
        "urgency": decision.urgency,
        "billable": decision.billable,
        "billing_reasons": list(decision.billing_reasons),
        "sla_policy": decision.policy,
        "sla_calendar": decision.calendar.to_dict(),
        "sla_target_seconds": decision.target_seconds,
        "clock_started_at": decision.clock_started_at,
        "take_charge_due_at": decision.take_charge_due_at,
        "on_call_alert": decision.on_call_alert,
    }


def derived_columns(
    *,
    urgent: bool,
    take_charge_due_at: datetime | None,
    clock_started_at: datetime | None,
    target_seconds: int | None,
    taken_in_charge_at: datetime | None,
    calendar: CalendarSpec,
    fraction: float,
) -> dict[str, Any]:
    """The queue and SLA-state columns that follow from the snapshot and taking in charge.

    They turn the work queue's order and its SLA-state filters into plain comparisons with
    `now` that an index can serve (see app.services.tickets.queue).
    """
    due = take_charge_due_at
    derived: dict[str, Any] = {
        "priority": 0 if urgent else 1,  # R12: urgent first
        "queue_due_at": due or NO_DEADLINE,
        "at_risk_at": None,
        "breach_at": None,
        "take_charge_business_seconds": None,
    }
    taken = taken_in_charge_at
    if taken is not None and clock_started_at is not None:
        # What the monthly statement aggregates, on the snapshot's calendar (R9).
        spent = calendar_for(calendar).business_time_between(clock_started_at, taken)
        derived["take_charge_business_seconds"] = int(spent.total_seconds())
    if due is None or clock_started_at is None or target_seconds is None:
        return derived
    derived["breach_at"] = None if taken is not None and taken <= due else due
    if taken is None:
        derived["at_risk_at"] = at_risk_from(
            calendar,
            clock_started_at=clock_started_at,
            target_seconds=target_seconds,
            fraction=fraction,
        )
    return derived


def at_risk_from(
    spec: CalendarSpec, *, clock_started_at: datetime, target_seconds: int, fraction: float
) -> datetime:
    """The instant after which less than `fraction` of the target is left (SPEC: at_risk).

    It is the next opening after (1 - fraction) of the target has elapsed, so that the state
    does not turn at_risk while the calendar is closed at a closing edge.
    """
    calendar = calendar_for(spec)
    used = timedelta(seconds=target_seconds * (1 - fraction))
    return calendar.next_opening(calendar.add_business_time(clock_started_at, used))


def apply_decision(ticket: Ticket, decision: sla.SlaDecision, *, fraction: float) -> None:
    """Store a new decision on the ticket, with the columns derived from it."""
    for column, value in decision_columns(decision).items():
        setattr(ticket, column, value)
    refresh_derived(ticket, fraction=fraction)


def refresh_derived(ticket: Ticket, *, fraction: float) -> None:
    """Keep the queue and SLA-state columns in step with the snapshot and taking in charge."""
    derived = derived_columns(
        urgent=ticket.urgent,
        take_charge_due_at=ticket.take_charge_due_at,
        clock_started_at=ticket.clock_started_at,
        target_seconds=ticket.sla_target_seconds,
        taken_in_charge_at=ticket.taken_in_charge_at,
        calendar=calendar_of(ticket),
        fraction=fraction,
    )
    for column, value in derived.items():
        setattr(ticket, column, value)


def calendar_of(ticket: Ticket) -> CalendarSpec:
    """The calendar the ticket's clock runs on, as snapshotted when its terms were decided."""
    return snapshot_spec(ticket.sla_calendar)


class SlaFacts(Protocol):
    """What the SLA block is computed from: a Ticket, or a row of `VIEW_COLUMNS`."""

    @property
    def sla_policy(self) -> Policy: ...
    @property
    def clock_started_at(self) -> datetime | None: ...
    @property
    def take_charge_due_at(self) -> datetime | None: ...
    @property
    def taken_in_charge_at(self) -> datetime | None: ...
    @property
    def sla_target_seconds(self) -> int | None: ...
    @property
    def on_call_alert(self) -> bool: ...


def sla_block(ticket: Ticket, *, now: datetime, fraction: float) -> SlaBlock:
    """The SLA block, computed for `now` by the pure engine from the stored snapshot."""
    return sla_block_on(calendar_of(ticket), ticket, now=now, fraction=fraction)


def sla_block_on(
    calendar: CalendarSpec, facts: SlaFacts, *, now: datetime, fraction: float
) -> SlaBlock:
    """The SLA block of `facts` on the snapshot's `calendar`, computed for `now`."""
    return SlaBlock.model_construct(**sla_values(calendar, facts, now=now, fraction=fraction))


def sla_values(
    calendar: CalendarSpec, facts: SlaFacts, *, now: datetime, fraction: float
) -> dict[str, Any]:
    """The SLA block's fields, in its order, computed for `now` by the pure engine."""
    status = sla.sla_status(
        calendar=calendar,
        clock_started_at=facts.clock_started_at,
        take_charge_due_at=facts.take_charge_due_at,
        target_seconds=facts.sla_target_seconds,
        taken_in_charge_at=facts.taken_in_charge_at,
        now=now,
        at_risk_fraction=fraction,
    )
    return {
        "policy": facts.sla_policy,
        "state": status.state,
        "clock_started_at": facts.clock_started_at,
        "take_charge_due_at": facts.take_charge_due_at,
        "taken_in_charge_at": facts.taken_in_charge_at,
        "business_seconds_elapsed": status.business_seconds_elapsed,
        "business_seconds_remaining": status.business_seconds_remaining,
        "target_seconds": facts.sla_target_seconds,
        "on_call_alert": facts.on_call_alert,
    }


def explain_deadline(ticket: Ticket) -> Explanation | None:
    """Why the ticket's deadline is what it is, from its snapshot; None without a commitment."""
    if ticket.take_charge_due_at is None or ticket.sla_target_seconds is None:
        return None
    return explain(
        calendar_for(calendar_of(ticket)),
        ticket.received_at,
        timedelta(seconds=ticket.sla_target_seconds),
    )


def explained_sla(ticket: Ticket, *, now: datetime, fraction: float) -> SlaExplained:
    """The SLA block with the explanation of its deadline, from the stored snapshot."""
    block = sla_block(ticket, now=now, fraction=fraction)
    explanation = explain_deadline(ticket)
    return SlaExplained(
        **block.model_dump(),
        explanation=ExplanationRead.of(explanation) if explanation is not None else None,
    )


def read_ticket(ticket: Ticket, *, now: datetime, fraction: float) -> TicketRead:
    """The API view of a ticket, its SLA block computed for `now`."""
    return view_of(ticket, calendar_of(ticket), now=now, fraction=fraction)


# --- the views of reads: only the columns they show, serialised once -------------------------

_SHOWN = tuple(name for name in TicketRead.model_fields if name != "sla")
_SLA_FACTS = (
    "sla_policy",
    "clock_started_at",
    "take_charge_due_at",
    "taken_in_charge_at",
    "sla_target_seconds",
    "on_call_alert",
)
_QUEUE_ORDER = ("priority", "queue_due_at")  # with `id`: the cursor (services.tickets.queue)
_TICKET = table_of(Ticket)
# What a ticket's view reads: TicketRead's columns, its SLA block's and the queue order's, and
# the calendar snapshot as JSON text, the key of its one parsed spec (never decoded per row).
VIEW_COLUMNS: tuple[ColumnElement[Any], ...] = (
    *(_TICKET.c[name] for name in dict.fromkeys(_SHOWN + _SLA_FACTS + _QUEUE_ORDER)),
    cast(_TICKET.c.sla_calendar, String).label("sla_calendar_text"),
)


def view_of(
    ticket: Ticket, calendar: CalendarSpec, *, now: datetime, fraction: float
) -> TicketRead:
    """The API view of a ticket on its snapshot's `calendar`, its SLA block computed for `now`."""
    values = {name: getattr(ticket, name) for name in _SHOWN}
    values["sla"] = sla_block_on(calendar, ticket, now=now, fraction=fraction)
    return TicketRead.model_validate(values)


def json_shape(model: type[BaseModel], **nested: Any) -> Any:
    """A TypedDict of the model's fields (same names, order and types, enums as the strings
    they are; `nested` replaces some): serialising a dict with it writes exactly the model's
    JSON, without building the model."""
    fields = {
        name: nested.get(name, _as_written(field.annotation))
        for name, field in model.model_fields.items()
    }
    return TypedDict(f"{model.__name__}Json", fields)  # type: ignore[operator]


def _as_written(annotation: Any) -> Any:
    """`annotation` with its StrEnums as `str`: a member is the string of its value, so the JSON
    is the same, and pydantic writes a str in C where for an enum it reads `.value`, a Python
    property (0.06 ms of a queue page's 0.19)."""
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return str
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Union or origin is UnionType:
        return reduce(operator.or_, map(_as_written, args))
    if origin is list:
        return list[_as_written(args[0])]  # type: ignore[misc]
    return annotation


_TICKET_SHAPE = json_shape(TicketRead, sla=json_shape(SlaBlock))
_TICKET_JSON = TypeAdapter(_TICKET_SHAPE)
_PAGE_JSON = TypeAdapter(json_shape(TicketPage, items=list[_TICKET_SHAPE]))  # type: ignore[valid-type]


def row_view(row: Row[Any], *, now: datetime, fraction: float) -> dict[str, Any]:
    """The API view of a row of VIEW_COLUMNS as plain values (ticket_json writes it as the
    TicketRead it is), its calendar parsed once per distinct snapshot."""
    calendar = snapshot_spec_of_text(row.sla_calendar_text)
    view = dict(zip(_SHOWN, row, strict=False))  # VIEW_COLUMNS begins with _SHOWN, in order
    view["billing_reasons"] = [BillingReason(reason) for reason in view["billing_reasons"]]
    view["sla"] = sla_values(calendar, row, now=now, fraction=fraction)
    return view


def ticket_json(view: dict[str, Any]) -> bytes:
    """A row_view as the API's JSON: what FastAPI writes for response_model=TicketRead."""
    return _TICKET_JSON.dump_json(view)


def page_json(page: dict[str, Any]) -> bytes:
    """A page of row_views (`items`, `limit`, `next_cursor`) as the API's JSON: what FastAPI
    writes for response_model=TicketPage."""
    return _PAGE_JSON.dump_json(page)
