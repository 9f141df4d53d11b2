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
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import sqlmodel

import app.models.base
from alembic import op
from app.services.business_hours import calendar_for
from app.services.calendar_spec import CalendarSpec

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
        calendar = calendar_for(CalendarSpec.from_dict(row.sla_calendar))
        spent = calendar.business_time_between(row.clock_started_at, row.taken_in_charge_at)
        connection.execute(
            ticket.update()
            .where(ticket.c.id == row.id)
            .values(take_charge_business_seconds=int(spent.total_seconds()))
        )


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
