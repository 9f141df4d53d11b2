"""The monthly statement and billing: business time to take charge and time waiting on third
parties stored per ticket; time entries; billing lines marked billed; indexes of the open
tickets waiting to be taken in charge (the SLA alerts' scan), of the late ones (the
statement's breaches) and of those waiting on a provider.

Existing tickets get both figures computed from what they already hold: the business time
from their SLA snapshot (its calendar, clock start and taking in charge), the waits from their
audit trail's status changes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 04:30:00
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import sqlalchemy as sa
import sqlmodel

import app.models.base
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AutoString = sqlmodel.sql.sqltypes.AutoString
UTC_DATETIME = app.models.base.UTCDateTime(timezone=True)
WAITING = "waiting_third_party"
LATE = (
    "take_charge_due_at IS NOT NULL"
    " AND (taken_in_charge_at IS NULL OR taken_in_charge_at > take_charge_due_at)"
)
UNTAKEN = (
    "status NOT IN ('resolved', 'closed') AND taken_in_charge_at IS NULL"
    " AND take_charge_due_at IS NOT NULL"
)

ticket = sa.table(
    "ticket",
    sa.column("id", sa.Integer()),
    sa.column("sla_calendar", app.models.base.JSONType),
    sa.column("clock_started_at", UTC_DATETIME),
    sa.column("taken_in_charge_at", UTC_DATETIME),
    sa.column("take_charge_business_seconds", sa.Integer()),
    sa.column("waiting_seconds", sa.Integer()),
    sa.column("waiting_since", UTC_DATETIME),
)
ticket_event = sa.table(
    "ticket_event",
    sa.column("id", sa.Integer()),
    sa.column("ticket_id", sa.Integer()),
    sa.column("at", UTC_DATETIME),
    sa.column("from_status", sa.String()),
    sa.column("to_status", sa.String()),
)


def upgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.add_column(sa.Column("take_charge_business_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("waiting_seconds", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("waiting_since", UTC_DATETIME, nullable=True))
    _backfill_business_seconds()
    _backfill_waits()
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ticket_untaken",
            ["take_charge_due_at"],
            postgresql_where=sa.text(UNTAKEN),
            sqlite_where=sa.text(UNTAKEN),
        )
        batch_op.create_index(
            "ix_ticket_late",
            ["received_at"],
            postgresql_where=sa.text(LATE),
            sqlite_where=sa.text(LATE),
        )
        batch_op.create_index(
            "ix_ticket_waiting",
            ["received_at"],
            postgresql_where=sa.text("waiting_since IS NOT NULL"),
            sqlite_where=sa.text("waiting_since IS NOT NULL"),
        )

    op.create_table(
        "time_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("author", AutoString(length=200), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("note", AutoString(length=2000), nullable=False),
        sa.Column("billable", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
            name=op.f("fk_time_entry_ticket_id_ticket"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_time_entry")),
    )
    with op.batch_alter_table("time_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_time_entry_ticket_id"), ["ticket_id"])

    op.create_table(
        "billed_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", AutoString(length=64), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("reason", AutoString(length=32), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("invoice_ref", AutoString(length=100), nullable=False),
        sa.Column("billed_by", AutoString(length=200), nullable=False),
        sa.Column("billed_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
            name=op.f("fk_billed_item_ticket_id_ticket"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billed_item")),
        sa.UniqueConstraint("item_id", name=op.f("uq_billed_item_item_id")),
    )
    with op.batch_alter_table("billed_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_billed_item_ticket_id"), ["ticket_id"])


def _backfill_business_seconds() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(
            ticket.c.id,
            ticket.c.sla_calendar,
            ticket.c.clock_started_at,
            ticket.c.taken_in_charge_at,
        ).where(ticket.c.taken_in_charge_at.is_not(None), ticket.c.clock_started_at.is_not(None))
    ).all()
    for row in rows:
        if not row.sla_calendar:
            continue
        spent = _business_seconds(
            row.sla_calendar, _utc(row.clock_started_at), _utc(row.taken_in_charge_at)
        )
        connection.execute(
            ticket.update().where(ticket.c.id == row.id).values(take_charge_business_seconds=spent)
        )


# The migration's own copy of the business-time rule as it stood at 0009 (R8): open time is
# the weekly hours in the calendar's time zone, less the country's public holidays and the
# closures (a whole day, or a span of a day). An old migration keeps its meaning whatever the
# engine later becomes.
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _business_seconds(snapshot: dict[str, Any], start: datetime, end: datetime) -> int:
    """Open seconds between two UTC instants on a calendar snapshot's hours."""
    if end <= start:
        return 0
    zone = ZoneInfo(snapshot["timezone"])
    weekly = snapshot["weekly"]
    country = snapshot.get("holiday_country", "IT")
    subdivision = snapshot.get("holiday_subdivision")
    first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    years = list(range(first.year, last.year + 1))
    closed_days = (
        set(holidays.country_holidays(country, subdiv=subdivision, years=years))
        if country
        else set()
    )
    closed_spans: dict[date, list[tuple[str, str]]] = {}
    for item in snapshot.get("closures") or ():
        if isinstance(item, str):
            closed_days.add(date.fromisoformat(item))
        else:
            span = (item.get("start") or "00:00", item.get("end") or "24:00")
            closed_spans.setdefault(date.fromisoformat(item["date"]), []).append(span)
    total = 0
    day = first
    while day <= last:
        if day not in closed_days:
            for opens, closes in weekly.get(_WEEKDAYS[day.weekday()], ()):
                spans = [(_at(day, opens, zone), _at(day, closes, zone))]
                for c_start, c_end in closed_spans.get(day, ()):
                    cut = (_at(day, c_start, zone), _at(day, c_end, zone))
                    spans = [part for span in spans for part in _minus(span, cut)]
                for a, b in spans:
                    total += max(0, int((min(b, end) - max(a, start)).total_seconds()))
        day += timedelta(days=1)
    return total


def _at(day: date, hhmm: str, zone: ZoneInfo) -> datetime:
    """A wall-clock time of a local day ("24:00" is the next midnight), in UTC."""
    hours, minutes = (int(part) for part in hhmm.split(":"))
    midnight = datetime.combine(day, time(0), tzinfo=zone)
    return (midnight + timedelta(hours=hours, minutes=minutes)).astimezone(UTC)


def _minus(
    span: tuple[datetime, datetime], cut: tuple[datetime, datetime]
) -> list[tuple[datetime, datetime]]:
    (a, b), (c, d) = span, cut
    return [part for part in ((a, min(b, c)), (max(a, d), b)) if part[0] < part[1]]


def _backfill_waits() -> None:
    connection = op.get_bind()
    events = connection.execute(
        sa.select(
            ticket_event.c.ticket_id,
            ticket_event.c.at,
            ticket_event.c.from_status,
            ticket_event.c.to_status,
        )
        .where(ticket_event.c.to_status.is_not(None))
        .order_by(ticket_event.c.ticket_id, ticket_event.c.at, ticket_event.c.id)
    ).all()
    waits: dict[int, dict[str, Any]] = {}
    for event in events:
        wait = waits.setdefault(event.ticket_id, {"seconds": 0, "since": None})
        if event.from_status == WAITING and wait["since"] is not None:
            wait["seconds"] += int((_utc(event.at) - wait["since"]).total_seconds())
            wait["since"] = None
        if event.to_status == WAITING:
            wait["since"] = _utc(event.at)
    for ticket_id, wait in waits.items():
        if wait["seconds"] or wait["since"] is not None:
            connection.execute(
                ticket.update()
                .where(ticket.c.id == ticket_id)
                .values(waiting_seconds=wait["seconds"], waiting_since=wait["since"])
            )


def _utc(instant: datetime) -> datetime:
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def downgrade() -> None:
    op.drop_table("billed_item")
    op.drop_table("time_entry")
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_waiting")
        batch_op.drop_index("ix_ticket_late")
        batch_op.drop_index("ix_ticket_untaken")
        batch_op.drop_column("waiting_since")
        batch_op.drop_column("waiting_seconds")
        batch_op.drop_column("take_charge_business_seconds")
