"""IMAP mailboxes read for requests: connection, where reading stopped, health, lease.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 03:03:10.670234
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

import app.models.base
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mailbox",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("host", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("security", sa.String(length=16), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("folder", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("after_store", sa.String(length=16), nullable=False),
        sa.Column("move_to", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("poll_seconds", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("password", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("messages_stored", sa.Integer(), nullable=False),
        sa.Column("messages_left", sa.Integer(), nullable=False),
        sa.Column("last_success_at", app.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("last_error_at", app.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failing_since", app.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", app.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("lease_until", app.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailbox")),
        sa.UniqueConstraint("name", name=op.f("uq_mailbox_name")),
    )


def downgrade() -> None:
    op.drop_table("mailbox")
