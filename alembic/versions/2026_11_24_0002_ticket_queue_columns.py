"""Ticket columns for the work queue order and SLA-state filters (indexable).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 20:01:31.427895
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy import Text  # noqa: F401  (autogenerate renders JSONB(astext_type=Text()))

import app.models.base
from alembic import op

# The far-future deadline of tickets without one (app.services.tickets.NO_DEADLINE).
NO_DEADLINE = "9999-12-31 00:00:00"

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(
            sa.Column(
                "queue_due_at",
                app.models.base.UTCDateTime(timezone=True),
                nullable=False,
                server_default=NO_DEADLINE,
            )
        )
        batch_op.add_column(
            sa.Column("at_risk_at", app.models.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("breach_at", app.models.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.drop_index(batch_op.f("ix_ticket_status_urgent_due"))
        batch_op.create_index("ix_ticket_queue", ["priority", "queue_due_at", "id"], unique=False)
        batch_op.create_index(
            "ix_ticket_queue_open",
            ["priority", "queue_due_at", "id"],
            unique=False,
            postgresql_where=sa.text("status NOT IN ('resolved', 'closed')"),
            sqlite_where=sa.text("status NOT IN ('resolved', 'closed')"),
        )
        batch_op.create_index("ix_ticket_received_at", ["received_at"], unique=False)

    # Existing tickets: derive the new columns from what they store. at_risk_at needs the
    # calendar, so it stays empty (such tickets read as pending until recomputed).
    op.execute("UPDATE ticket SET priority = CASE WHEN urgent THEN 0 ELSE 1 END")
    op.execute(
        "UPDATE ticket SET queue_due_at = take_charge_due_at WHERE take_charge_due_at IS NOT NULL"
    )
    op.execute(
        "UPDATE ticket SET breach_at = take_charge_due_at "
        "WHERE take_charge_due_at IS NOT NULL AND (taken_in_charge_at IS NULL "
        "OR taken_in_charge_at > take_charge_due_at)"
    )
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.alter_column("priority", server_default=None)
        batch_op.alter_column("queue_due_at", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_received_at")
        batch_op.drop_index(
            "ix_ticket_queue_open",
            postgresql_where=sa.text("status NOT IN ('resolved', 'closed')"),
            sqlite_where=sa.text("status NOT IN ('resolved', 'closed')"),
        )
        batch_op.drop_index("ix_ticket_queue")
        batch_op.create_index(
            batch_op.f("ix_ticket_status_urgent_due"),
            ["status", "urgent", "take_charge_due_at", "id"],
            unique=False,
        )
        batch_op.drop_column("breach_at")
        batch_op.drop_column("at_risk_at")
        batch_op.drop_column("queue_due_at")
        batch_op.drop_column("priority")
