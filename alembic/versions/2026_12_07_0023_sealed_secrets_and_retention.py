"""Secrets at rest: mailbox passwords and webhook secrets are sealed (app.sealing); and the
retention job's runs, one row per day (services.retention).

The password column widens to hold a sealed password (760 characters for the 500 of a
password); every secret stored in clear is sealed with the first of SPORTELLO_SECRET_KEYS.
With secrets in clear and no key, the migration stops before any change and says so.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 09:00:00
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op
from app import sealing

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UTC = sa.DateTime(timezone=True)


def _stored() -> list[tuple[str, str, int, str]]:
    """Every secret stored: (table, column, row id, value)."""
    found = []
    for table, column in sealing.SEALED_COLUMNS:
        rows = op.get_bind().execute(
            sa.text(f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL")
        )
        found.extend((table, column, row_id, value) for row_id, value in rows)
    return found


def _require_key(stored: list[tuple[str, str, int, str]], doing: str) -> None:
    if stored and not sealing.keyring().ready:
        raise sealing.KeyProblem(
            f"migration 0023 must {doing} {len(stored)} stored secrets (mailbox passwords, "
            f"webhook secrets), but {sealing.NO_KEY}; then migrate again"
        )


def _write(stored: list[tuple[str, str, int, str]], change: Callable[[str], str]) -> None:
    for table, column, row_id, value in stored:
        op.get_bind().execute(
            sa.text(f"UPDATE {table} SET {column} = :value WHERE id = :id"),
            {"value": change(value), "id": row_id},
        )


def upgrade() -> None:
    stored = _stored()
    _require_key(stored, "seal")  # before any change
    with op.batch_alter_table("mailbox", schema=None) as batch_op:
        batch_op.alter_column(
            "password", existing_type=sa.String(length=500), type_=sa.String(length=1000)
        )
    _write(stored, sealing.keyring().seal)
    op.create_table(
        "retention_run",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("ran_by", sa.String(length=64), nullable=False),
        sa.Column("started_at", UTC, nullable=False),
        sa.Column("finished_at", UTC, nullable=True),
        sa.Column("removed", JSON, nullable=True),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_retention_run")),
    )


def downgrade() -> None:
    op.drop_table("retention_run")
    stored = _stored()
    _require_key(stored, "open")
    _write(stored, sealing.keyring().open)
    with op.batch_alter_table("mailbox", schema=None) as batch_op:
        batch_op.alter_column(
            "password", existing_type=sa.String(length=1000), type_=sa.String(length=500)
        )
