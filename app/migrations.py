"""Run Alembic from code: `sportello migrate`, `sportello serve` and the tests use this.

Alembic is imported when a migration runs, not with the CLI: a server started with
`--no-migrate` (migrations as their own step) never holds it (about 9 MB).
"""

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str) -> "Config":
    """An Alembic config for this database, independent of the working directory."""
    from alembic.config import Config

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
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    """Take the schema down to `revision`."""
    from alembic import command

    command.downgrade(alembic_config(database_url), revision)
