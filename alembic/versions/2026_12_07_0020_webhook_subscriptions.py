"""Webhook subscriptions: events are outbox rows of the channel `event`, one per subscription.

A `webhook_subscription` table, and the outbox's `subscription_id` (deleting a subscription
deletes its deliveries) with the index that lists them and keeps one ticket's events in order,
and `ix_outbox_due`, the claim's whole order, so that finding the next row never sorts them all.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhook_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("events", JSON, nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("previous_secret", sa.String(length=200), nullable=True),
        sa.Column("previous_secret_until", UTC, nullable=True),
        sa.Column("disabled_reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscription")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subscription_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_subscription_id_webhook_subscription"),
            "webhook_subscription",
            ["subscription_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index(
            "ix_outbox_subscription_ticket", ["subscription_id", "ticket_id", "id"], unique=False
        )
        batch_op.create_index("ix_outbox_due", ["state", "available_at", "id"], unique=False)


def downgrade() -> None:
    # Events have nowhere to go before 0017: their rows go with their subscriptions.
    op.execute(sa.text("DELETE FROM outbox WHERE channel = 'event'"))
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_due")
        batch_op.drop_index("ix_outbox_subscription_ticket")
        batch_op.drop_constraint(
            batch_op.f("fk_outbox_subscription_id_webhook_subscription"), type_="foreignkey"
        )
        batch_op.drop_column("subscription_id")
    op.drop_table("webhook_subscription")
