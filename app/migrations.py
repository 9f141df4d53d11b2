"""Run Alembic from code: `sportello migrate`, `sportello serve` and the tests use this."""

from pathlib import Path

from alembic.config import Config

from alembic import command

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str) -> Config:
    """An Alembic config for this database, independent of the working directory."""
    ini = ROOT / "alembic.ini"
    if not ini.exists():
        raise RuntimeError(
            f"Migrations not found at {ROOT / 'alembic'}; install Sportello from "
            "its source tree (pip install -e .)."
        )
    config = Config(str(ini))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema up to `revision`."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    """Take the schema down to `revision`."""
    command.downgrade(alembic_config(database_url), revision)
