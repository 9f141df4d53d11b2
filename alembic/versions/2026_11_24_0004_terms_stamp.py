"""The terms stamp: changed by triggers with every write to customers, contacts, domains,
contracts and calendars, so that a process may keep the terms it read while it stays the same.

The stamp is random, not a counter: a transaction that changes the terms and then rolls back
must never leave behind a value that a later change could repeat.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TERMS_TABLES = ("customer", "contact", "customer_domain", "contract", "calendar")
SQLITE_EVENTS = ("INSERT", "UPDATE", "DELETE")
SQLITE_NEW_STAMP = "lower(hex(randomblob(16)))"
POSTGRESQL_NEW_STAMP = "md5(random()::text || clock_timestamp()::text)"


def upgrade() -> None:
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


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in TERMS_TABLES:
            for event in SQLITE_EVENTS:
                op.execute(f"DROP TRIGGER {table}_{event.lower()}_terms_stamp")
    else:
        for table in TERMS_TABLES:
            op.execute(f"DROP TRIGGER {table}_terms_stamp ON {table}")
        op.execute("DROP FUNCTION new_terms_stamp()")
    op.drop_table("terms_stamp")
