"""Consent to billable work: the ticket's `consent` (pending, given, declined, not_needed) and
`consent_record`, the customer's answer, one per ticket, kept as it was given.

Billable tickets stored before this revision have no answer: they are `pending`.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "consent_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("decided_at", UTC, nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("status_link_id", sa.Integer(), nullable=True),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("rate_text", sa.String(), nullable=False),
        sa.Column("rate_version", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("note", sa.String(), nullable=False),
        sa.Column("reasons", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["status_link_id"],
            ["status_link.id"],
            name=op.f("fk_consent_record_status_link_id_status_link"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
            name=op.f("fk_consent_record_ticket_id_ticket"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_record")),
    )
    op.create_index(
        op.f("ix_consent_record_ticket_id"), "consent_record", ["ticket_id"], unique=False
    )
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "consent", sa.String(length=16), nullable=False, server_default="not_needed"
            )
        )
    op.execute("UPDATE ticket SET consent = 'pending' WHERE billable")
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.alter_column("consent", existing_type=sa.String(length=16), server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_column("consent")
    op.drop_table("consent_record")
