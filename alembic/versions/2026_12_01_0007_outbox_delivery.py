"""Outbox delivery: state, recipient, Message-ID, a worker's lease, and every attempt recorded.

Rows queued before delivery existed were never sent and hold no rendered email: they become
`held`, with the reason, so that they are seen rather than sent days late.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

import app.models.base
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AutoString = sqlmodel.sql.sqltypes.AutoString
UTC_DATETIME = app.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column("recipient", AutoString(length=320), nullable=True))
        batch_op.add_column(sa.Column("message_id", AutoString(length=998), nullable=True))
        batch_op.add_column(sa.Column("state", AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column("last_attempt_at", UTC_DATETIME, nullable=True))
        batch_op.add_column(sa.Column("lease_until", UTC_DATETIME, nullable=True))
        batch_op.add_column(sa.Column("leased_by", AutoString(length=64), nullable=True))
        batch_op.drop_index("ix_outbox_sent_at_available_at")
    op.execute(
        "UPDATE outbox SET channel = 'email', recipient = '', "
        "message_id = 'legacy.' || CAST(id AS VARCHAR(20)) || '@sportello.invalid', "
        "dedup_key = COALESCE(dedup_key, 'legacy:' || CAST(id AS VARCHAR(20))), "
        "state = CASE WHEN sent_at IS NULL THEN 'held' ELSE 'sent' END, "
        "last_error = CASE WHEN sent_at IS NULL "
        "THEN 'queued before delivery existed; never sent' ELSE last_error END"
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        for column in ("channel", "recipient", "message_id", "state", "dedup_key"):
            batch_op.alter_column(column, nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_outbox_message_id"), ["message_id"])
        batch_op.create_index("ix_outbox_state_available_at", ["state", "available_at"])
        batch_op.create_index("ix_outbox_recipient_created_at", ["recipient", "created_at"])

    op.create_table(
        "outbox_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("worker", AutoString(length=64), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error", AutoString(length=2000), nullable=True),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox.id"],
            name=op.f("fk_outbox_attempt_outbox_id_outbox"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_attempt")),
    )
    with op.batch_alter_table("outbox_attempt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_attempt_outbox_id"), ["outbox_id"])


def downgrade() -> None:
    op.drop_table("outbox_attempt")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_recipient_created_at")
        batch_op.drop_index("ix_outbox_state_available_at")
        batch_op.drop_constraint(batch_op.f("uq_outbox_message_id"), type_="unique")
        batch_op.alter_column("dedup_key", nullable=True)
        for column in ("leased_by", "lease_until", "last_attempt_at", "state", "message_id"):
            batch_op.drop_column(column)
        batch_op.drop_column("recipient")
        batch_op.drop_column("channel")
        batch_op.create_index("ix_outbox_sent_at_available_at", ["sent_at", "available_at"])
