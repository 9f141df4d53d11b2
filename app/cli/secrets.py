"""`sportello secrets`: the keys that seal stored secrets (app.sealing)."""

import typer

from app import sealing
from app.cli.common import fail, group, setup_logging, use_keys
from app.db import get_engine
from app.settings import get_settings

commands = group("Manage the keys that seal mailbox passwords and webhook secrets at rest.")


@commands.command("rotate")
def secrets_rotate() -> None:
    """Seal every stored secret again with the first of SPORTELLO_SECRET_KEYS; then the
    other keys can be dropped."""
    setup_logging()
    ring = use_keys()
    engine = get_engine(get_settings().database_url)
    try:
        with engine.begin() as connection:
            count = sealing.rotate(connection, ring)
    except sealing.KeyProblem as exc:
        fail(str(exc))
    typer.echo(f"Sealed {count} stored secrets with the first key.")


@commands.command("new-key")
def secrets_new_key() -> None:
    """Print a new key for SPORTELLO_SECRET_KEYS (put it first, then rotate)."""
    from cryptography.fernet import Fernet

    typer.echo(Fernet.generate_key().decode())
