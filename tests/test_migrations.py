"""Migrations are code: up, down and up again on both databases, and no drift from the models."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, pool, text
from sqlmodel import SQLModel

import app.models  # noqa: F401
from app import migrations


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, fresh_database):
    return fresh_database(request.param)


def _diff(url: str) -> list:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    return diff


def _tables(url: str) -> set[str]:
    engine = create_engine(url, poolclass=pool.NullPool)
    names = set(inspect(engine).get_table_names())
    engine.dispose()
    return names


def test_upgrade_downgrade_upgrade(empty_database):
    migrations.upgrade(empty_database)
    assert set(SQLModel.metadata.tables) <= _tables(empty_database)
    migrations.downgrade(empty_database, "base")
    assert _tables(empty_database) <= {"alembic_version"}
    migrations.upgrade(empty_database)
    engine = create_engine(empty_database, poolclass=pool.NullPool)
    with engine.connect() as connection:
        names = connection.execute(text("SELECT name FROM calendar")).scalars().all()
    engine.dispose()
    assert names == ["default"]  # R8: seeded once, again after a round trip


def test_models_and_migrations_do_not_drift(empty_database):
    migrations.upgrade(empty_database)
    assert _diff(empty_database) == []
