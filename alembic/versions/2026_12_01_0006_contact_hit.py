"""The contact form's rate limit lives in the database, shared by every API process.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 21:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

import app.models.base
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contact_hit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("at", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_hit")),
    )
    with op.batch_alter_table("contact_hit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_hit_client"), ["client"], unique=False)
        batch_op.create_index(batch_op.f("ix_contact_hit_at"), ["at"], unique=False)


def downgrade() -> None:
    op.drop_table("contact_hit")
