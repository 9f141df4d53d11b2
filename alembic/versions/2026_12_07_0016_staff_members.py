"""Staff members: a record of their own (name, address, role, active); tokens belong to one.

Every existing token but a feed token is attached to a staff member made from its name (one
per name, with the highest role among that name's tokens, no address yet), so every token
keeps working with the role it had.

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-07 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

import app.models.base
from alembic import op

revision: str = "0016"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RANK = {"viewer": 1, "agent": 2, "admin": 3}


def upgrade() -> None:
    op.create_table(
        "staff_member",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_member")),
        sa.UniqueConstraint("email", name=op.f("uq_staff_member_email")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("staff_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_api_token_staff_id"), ["staff_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_api_token_staff_id_staff_member"),
            "staff_member",
            ["staff_id"],
            ["id"],
            ondelete="RESTRICT",
        )
    _attach_tokens_to_staff()


def _attach_tokens_to_staff() -> None:
    connection = op.get_bind()
    api_token = sa.table(
        "api_token",
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("role", sa.String),
        sa.column("created_at", app.models.base.UTCDateTime(timezone=True)),
        sa.column("staff_id", sa.Integer),
    )
    tokens = connection.execute(
        sa.select(api_token).where(api_token.c.role != "feed").order_by(api_token.c.id)
    ).all()
    by_name: dict[str, list[sa.Row]] = {}
    for token in tokens:
        by_name.setdefault(token.name, []).append(token)
    staff = sa.table(
        "staff_member",
        sa.column("name", sa.String),
        sa.column("email", sa.String),
        sa.column("role", sa.String),
        sa.column("active", sa.Boolean),
        sa.column("created_at", app.models.base.UTCDateTime(timezone=True)),
        sa.column("id", sa.Integer),
    )
    for name, same in by_name.items():
        staff_id = connection.execute(
            staff.insert()
            .values(
                name=name,
                email=None,
                role=max((t.role for t in same), key=RANK.__getitem__),
                active=True,
                created_at=min(t.created_at for t in same),
            )
            .returning(staff.c.id)
        ).scalar_one()
        connection.execute(
            api_token.update()
            .where(api_token.c.id.in_([t.id for t in same]))
            .values(staff_id=staff_id)
        )


def downgrade() -> None:
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_api_token_staff_id_staff_member"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_api_token_staff_id"))
        batch_op.drop_column("staff_id")
    op.drop_table("staff_member")
