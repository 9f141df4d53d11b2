"""`sportello backup` and `restore`: a SQLite database's copy, made and put back
(app.backups)."""

from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import fail, group
from app.settings import get_settings

commands = group()


@commands.command()
def backup(
    path: Annotated[Path, typer.Argument(help="Where the copy goes (replaced if it exists).")],
) -> None:
    """Copy the SQLite database to PATH, consistently, while the server runs."""
    from app import backups

    try:
        copy = backups.backup(get_settings().database_url, path)
    except backups.BackupProblem as exc:
        fail(str(exc), code=1)
    typer.echo(
        f"Backed up {copy.tickets} tickets (schema {copy.revision}) to {copy.path}. Keep it "
        "with the secret keys (SPORTELLO_SECRET_KEYS or its key file): its mailbox passwords "
        "open only with them."
    )


@commands.command()
def restore(
    path: Annotated[Path, typer.Argument(help="A copy made by `sportello backup`.")],
    force: Annotated[
        bool, typer.Option(help="Even if the database seems open (a process was killed).")
    ] = False,
) -> None:
    """Put a backup in the SQLite database's place (stop the server and workers first); the
    copy must pass SQLite's integrity check and carry a schema this release knows."""
    from app import backups

    try:
        copy = backups.restore(path, get_settings().database_url, force=force)
    except backups.BackupProblem as exc:
        fail(str(exc), code=1)
    typer.echo(
        f"Restored {copy.tickets} tickets (schema {copy.revision}) into {copy.path}; "
        "`sportello serve` migrates it if it is older."
    )
