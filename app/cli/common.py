"""What the commands share: plain help, logging, one-line failures, the secret keys."""

import logging
from collections.abc import Sequence
from typing import NoReturn

import typer
from sqlalchemy.engine import make_url

from app import logs, sealing
from app.db import get_engine
from app.settings import get_settings

log = logging.getLogger("sportello")


def group(help: str | None = None) -> typer.Typer:
    """A Typer of commands with plain help (no rich boxes, no "<bool>" after flags) and no
    shell-completion installers; without `help`, its commands join the top level."""
    return typer.Typer(help=help, no_args_is_help=True, add_completion=False, rich_markup_mode=None)


def setup_logging() -> None:
    """Log as the settings say."""
    settings = get_settings()
    logs.setup(settings.log_level, settings.log_format)


def fail(message: str, *, code: int = 2) -> NoReturn:
    """Stop with one line on stderr (2: a configuration problem; never a traceback)."""
    typer.echo(f"sportello: {message}", err=True)
    raise typer.Exit(code)


def use_keys(*, make: bool = False) -> sealing.Keyring:
    """The keys of the settings become the process's; with `make`, a first run on SQLite
    makes its local key file (app.sealing.make_local_key)."""
    settings = get_settings()
    try:
        made = sealing.make_local_key(settings) if make else None
        if made is not None:
            log.info("made a secret key in %s: keep it with the database", made)
        return sealing.configure(sealing.keys_from(settings))
    except sealing.KeyProblem as exc:
        fail(str(exc))


def check_keys() -> None:
    """Refuse to start when a stored secret cannot be opened (a wrong or missing key)."""
    try:
        sealing.check_at_start(get_engine(get_settings().database_url))
    except sealing.KeyProblem as exc:
        fail(str(exc))


def safe_url(url: str) -> str:
    """The database URL without its password, for logs."""
    return make_url(url).render_as_string(hide_password=True)


def echo_table(header: Sequence[str], rows: Sequence[Sequence[object]], *, empty: str) -> None:
    """Rows as tab-separated lines under their header (easy to cut or sort), or `empty`."""
    if not rows:
        typer.echo(empty)
        return
    typer.echo("\t".join(header))
    for row in rows:
        typer.echo("\t".join(str(value) for value in row))
