"""The outbox keeps the facts of what a row says; the worker writes the email from them once.

A new `facts` column (JSON, null on the rows queued before it), and `payload` (the email as
written) may be empty until the worker writes it. Rows already queued are written out: they
keep their payload and are sent as they were.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UNWRITTEN = "queued as facts by a later version and never written; downgraded"


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("facts", JSON, nullable=True))
        batch_op.alter_column("payload", existing_type=JSON, nullable=True)


def downgrade() -> None:
    # Before 0014 every row carries its email: a row never written cannot be sent by that
    # code, so it is failed for good, visibly, with an empty payload (retry refuses those).
    outbox = sa.table(
        "outbox",
        sa.column("payload", JSON),
        sa.column("state", sa.String),
        sa.column("last_error", sa.String),
    )
    op.execute(
        outbox.update()
        .where(outbox.c.payload.is_(None))
        .values(
            payload=sa.text("'{}'"),
            state=sa.case((outbox.c.state == "sent", "sent"), else_="failed"),
            last_error=UNWRITTEN,
        )
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("payload", existing_type=JSON, nullable=False)
        batch_op.drop_column("facts")
