"""The loop guard's index leaves out held rows: counting a recipient's emails of the last hour
no longer reads every email held back from a loop.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOT_HELD = sa.text("state <> 'held'")


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_recipient_created_at")
        batch_op.create_index(
            "ix_outbox_recipient_created_at_not_held",
            ["recipient", "created_at"],
            sqlite_where=NOT_HELD,
            postgresql_where=NOT_HELD,
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_recipient_created_at_not_held")
        batch_op.create_index("ix_outbox_recipient_created_at", ["recipient", "created_at"])
