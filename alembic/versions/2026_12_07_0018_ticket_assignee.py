"""A ticket has an owner: `assignee_id`, a staff member (null: nobody yet), and an index that
serves one staff member's open tickets in the queue's order (`assignee=me`).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 07:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_PREDICATE = "status NOT IN ('resolved', 'closed')"


def upgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assignee_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_ticket_assignee_id_staff_member"),
            "staff_member",
            ["assignee_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(
            "ix_ticket_assignee_open",
            ["assignee_id", "priority", "queue_due_at", "id"],
            unique=False,
            postgresql_where=sa.text(OPEN_PREDICATE),
            sqlite_where=sa.text(OPEN_PREDICATE),
        )


def downgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_ticket_assignee_open",
            postgresql_where=sa.text(OPEN_PREDICATE),
            sqlite_where=sa.text(OPEN_PREDICATE),
        )
        batch_op.drop_constraint(
            batch_op.f("fk_ticket_assignee_id_staff_member"), type_="foreignkey"
        )
        batch_op.drop_column("assignee_id")
