"""One plain unit of work: no terms stamp, and a ticket has its number from the start.

The terms stamp (0004) and its triggers go: terms are read from the database on every request.
Ticket numbers are written with the ticket, so the column becomes NOT NULL.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TERMS_TABLES = ("customer", "contact", "customer_domain", "contract", "calendar")
SQLITE_EVENTS = ("INSERT", "UPDATE", "DELETE")
SQLITE_NEW_STAMP = "lower(hex(randomblob(16)))"
POSTGRESQL_NEW_STAMP = "md5(random()::text || clock_timestamp()::text)"
SQLITE_NUMBER = "strftime('%Y', received_at) || '-' || printf('%06d', id)"
POSTGRESQL_NUMBER = (
    "to_char(received_at AT TIME ZONE 'UTC', 'YYYY') || '-' || lpad(id::text, 6, '0')"
)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in TERMS_TABLES:
        if sqlite:
            for event in SQLITE_EVENTS:
                op.execute(f"DROP TRIGGER {table}_{event.lower()}_terms_stamp")
        else:
            op.execute(f"DROP TRIGGER {table}_terms_stamp ON {table}")
    if not sqlite:
        op.execute("DROP FUNCTION new_terms_stamp()")
    op.drop_table("terms_stamp")
    # Numbers were written at the commit, so none should be missing; if one is, it is the
    # number the ticket would have had.
    op.execute(
        f"UPDATE ticket SET number = {SQLITE_NUMBER if sqlite else POSTGRESQL_NUMBER} "
        "WHERE number IS NULL"
    )
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.alter_column("number", existing_type=sa.String(length=32), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.alter_column("number", existing_type=sa.String(length=32), nullable=True)
    op.create_table(
        "terms_stamp",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stamp", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_terms_stamp")),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"INSERT INTO terms_stamp (id, stamp) VALUES (1, {SQLITE_NEW_STAMP})")
        for table in TERMS_TABLES:
            for event in SQLITE_EVENTS:
                op.execute(
                    f"CREATE TRIGGER {table}_{event.lower()}_terms_stamp AFTER {event} ON {table} "
                    f"BEGIN UPDATE terms_stamp SET stamp = {SQLITE_NEW_STAMP} WHERE id = 1; END"
                )
        return
    op.execute(f"INSERT INTO terms_stamp (id, stamp) VALUES (1, {POSTGRESQL_NEW_STAMP})")
    op.execute(
        "CREATE FUNCTION new_terms_stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"UPDATE terms_stamp SET stamp = {POSTGRESQL_NEW_STAMP} WHERE id = 1; RETURN NULL; "
        "END $$"
    )
    for table in TERMS_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_terms_stamp "
            f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION new_terms_stamp()"
        )
