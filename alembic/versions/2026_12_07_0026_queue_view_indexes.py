"""Two of the console queue's views served by an index at a million tickets: consent pending
(open tickets by consent, in the queue's order) and at risk (open tickets not taken in charge,
by their breach time: the few not yet breached are found without walking the breached ones).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 12:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_PREDICATE = "status NOT IN ('resolved', 'closed')"
UNTAKEN_BREACH_PREDICATE = (
    f"{OPEN_PREDICATE} AND taken_in_charge_at IS NULL AND breach_at IS NOT NULL"
)
INDEXES = (
    ("ix_ticket_consent_open", ["consent", "priority", "queue_due_at", "id"], OPEN_PREDICATE),
    ("ix_ticket_untaken_breach", ["breach_at"], UNTAKEN_BREACH_PREDICATE),
)


def upgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        for name, columns, predicate in INDEXES:
            batch_op.create_index(
                name,
                columns,
                unique=False,
                postgresql_where=sa.text(predicate),
                sqlite_where=sa.text(predicate),
            )


def downgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        for name, _, predicate in INDEXES:
            batch_op.drop_index(
                name, postgresql_where=sa.text(predicate), sqlite_where=sa.text(predicate)
            )
