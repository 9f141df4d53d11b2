"""A contract's end is watched: `contract_reminder` records each reminder step told to staff
(once per contract, last day and step), and a ticket records `contract_lapsed_on`, the last day
of the customer's contract when it had lapsed shortly before the request (R2).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "contract_reminder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("told_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contract.id"],
            name=op.f("fk_contract_reminder_contract_id_contract"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_reminder")),
        sa.UniqueConstraint(
            "contract_id",
            "ends_on",
            "step",
            name=op.f("uq_contract_reminder_contract_id_ends_on_step"),
        ),
    )
    with op.batch_alter_table("contract_reminder", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contract_reminder_told_at"), ["told_at"], unique=False)
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contract_lapsed_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_column("contract_lapsed_on")
    with op.batch_alter_table("contract_reminder", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contract_reminder_told_at"))
    op.drop_table("contract_reminder")
