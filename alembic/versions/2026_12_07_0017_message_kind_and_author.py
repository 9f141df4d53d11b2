"""Each message says what it is (inbound, reply, note, automatic) and which staff member wrote
it (replies and notes).

Messages already stored are the customer's (`inbound`) or our form letters (`automatic`).
Going back, notes stay in the conversation as messages of direction `internal`: older code
never emails nor shows anything but inbound and outbound messages to the customer.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 07:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default fills the column without rewriting the table (PostgreSQL 11+); only
    # our own emails, far fewer, are then updated.
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="inbound")
        )
        batch_op.add_column(sa.Column("author_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_message_author_id_staff_member"),
            "staff_member",
            ["author_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.execute("UPDATE message SET kind = 'automatic' WHERE direction = 'outbound'")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.alter_column("kind", existing_type=sa.String(length=16), server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_message_author_id_staff_member"), type_="foreignkey"
        )
        batch_op.drop_column("author_id")
        batch_op.drop_column("kind")
