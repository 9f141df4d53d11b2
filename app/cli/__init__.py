"""`sportello`: serve, migrate, run the outbox worker, manage staff members, tokens and the
secret keys, back up and restore a SQLite database. One module per group of commands."""

from importlib.metadata import version
from typing import Annotated

import typer
from pydantic import ValidationError

from app.cli import backups, secrets, serve, staff, tokens
from app.cli.common import group
from app.errors import DomainError
from app.settings import get_settings

cli = group("Sportello, the SLA-aware technical-support desk.")
cli.add_typer(serve.commands)
cli.add_typer(backups.commands)
cli.add_typer(tokens.commands, name="token")
cli.add_typer(staff.commands, name="staff")
cli.add_typer(secrets.commands, name="secrets")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"sportello {version('sportello')}")
        raise typer.Exit()


@cli.callback()
def _main(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Sportello, the SLA-aware technical-support desk."""
    try:
        get_settings()
    except ValidationError as exc:  # one line per bad setting, not a traceback
        for error in exc.errors():
            name = "".join(f"SPORTELLO_{str(part).upper()}: " for part in error["loc"][:1])
            typer.echo(f"sportello: {name}{error['msg'].removeprefix('Value error, ')}", err=True)
        raise typer.Exit(2) from None


def main() -> None:
    """Entry point of the `sportello` script: domain errors are messages, not tracebacks."""
    try:
        cli()
    except DomainError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise SystemExit(1) from None
