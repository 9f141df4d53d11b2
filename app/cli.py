"""`sportello`: serve, migrate, run the outbox worker, manage staff members, tokens and the
secret keys, back up and restore a SQLite database."""

import asyncio
import atexit
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from app import logs, migrations, sealing
from app.db import get_engine, unit_of_work
from app.enums import ROLE_RANK
from app.errors import DomainError, is_outage
from app.models.base import utcnow
from app.models.staff import StaffCreate
from app.services.console import sign_in as console_sign_in
from app.services.directory import auth, staff
from app.settings import get_settings

# Plain help (no rich boxes, no "<bool>" after flags) and no shell-completion installers.
cli = typer.Typer(
    help="Sportello, the SLA-aware technical-support desk.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
token_cli = typer.Typer(
    help="Manage bearer tokens for the internal API.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
cli.add_typer(token_cli, name="token")
staff_cli = typer.Typer(
    help="Manage the desk's staff members (each holds their own tokens).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
cli.add_typer(staff_cli, name="staff")
secrets_cli = typer.Typer(
    help="Manage the keys that seal mailbox passwords and webhook secrets at rest.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
cli.add_typer(secrets_cli, name="secrets")
log = logging.getLogger("sportello")


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


def _setup_logging() -> None:
    settings = get_settings()
    logs.setup(settings.log_level, settings.log_format)


def _fail(message: str, *, code: int = 2) -> NoReturn:
    """Stop with one line on stderr (2: a configuration problem; never a traceback)."""
    typer.echo(f"sportello: {message}", err=True)
    raise typer.Exit(code)


def _use_keys(*, make: bool = False) -> sealing.Keyring:
    """The keys of the settings become the process's; with `make`, a first run on SQLite
    makes its local key file (app.sealing.make_local_key)."""
    settings = get_settings()
    try:
        made = sealing.make_local_key(settings) if make else None
        if made is not None:
            log.info("made a secret key in %s: keep it with the database", made)
        return sealing.configure(sealing.keys_from(settings))
    except sealing.KeyProblem as exc:
        _fail(str(exc))


def _check_keys() -> None:
    """Refuse to start when a stored secret cannot be opened (a wrong or missing key)."""
    try:
        sealing.check_at_start(get_engine(get_settings().database_url))
    except sealing.KeyProblem as exc:
        _fail(str(exc))


def _safe_url(url: str) -> str:
    """The database URL without its password, for logs."""
    return make_url(url).render_as_string(hide_password=True)


@cli.command()
def migrate() -> None:
    """Bring the database schema up to date (sealing stored secrets with the keys)."""
    _setup_logging()
    _use_keys(make=True)
    url = get_settings().database_url
    log.info("migrating %s", _safe_url(url))
    try:
        migrations.upgrade(url)
    except sealing.KeyProblem as exc:
        _fail(str(exc))
    except Exception as exc:
        if not is_outage(exc):
            raise
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        _fail(f"the database {_safe_url(url)} cannot be reached: {reason}")


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    run_migrations: Annotated[
        bool,
        typer.Option(
            "--migrate/--no-migrate",
            help="Migrate first; --no-migrate where `sportello migrate` runs as its own step.",
        ),
    ] = True,
) -> None:
    """Migrate, then serve the API."""
    import uvicorn

    if run_migrations:
        migrate()
    else:
        _setup_logging()
        _use_keys(make=True)
    _check_keys()
    target: object = "app.main:app"  # each worker process imports it
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker process counts in files here; a scrape adds them all up (app.metrics).
        directory = tempfile.mkdtemp(prefix="sportello-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
    if workers == 1:
        from app.main import app

        target = app
    log.info("serving on http://%s:%d", host, port)
    uvicorn.run(
        target,  # type: ignore[arg-type]
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,
        log_config=logs.config(get_settings().log_level, get_settings().log_format),
        access_log=False,
    )


@cli.command()
def worker() -> None:
    """Run the outbox worker and the mailbox poller alone (run `sportello migrate` first);
    stop them with SIGTERM or Ctrl-C.

    Several workers, and API processes with SPORTELLO_WORKER=false, can share one PostgreSQL:
    each row is sent by one worker, each mailbox read by one poller at a time.
    """
    from app.runners.mailbox_poller import MailPoller
    from app.runners.outbox_worker import Worker
    from app.services.knobs import knobs_from

    _setup_logging()
    _use_keys()
    _check_keys()
    settings = get_settings()
    engine = get_engine(settings.database_url)
    worker = Worker.for_settings(engine, settings)
    poller = MailPoller(engine, settings=settings, knobs=knobs_from(settings))

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await asyncio.gather(worker.run(stop), poller.run(stop))

    asyncio.run(run())


@cli.command()
def openapi() -> None:
    """Print the OpenAPI document as JSON (`make client` generates a Python client from it)."""
    from app.main import create_app

    typer.echo(json.dumps(create_app(get_settings()).openapi(), indent=2, ensure_ascii=False))


@staff_cli.command("create")
def staff_create(
    name: Annotated[str, typer.Option(help="Their name (the display name of their replies).")],
    email: Annotated[str, typer.Option(help="Their address (staff emails go there).")],
    role: Annotated[str, typer.Option(help="admin, agent or viewer.")],
) -> None:
    """Add a staff member; then `sportello token create --staff EMAIL` gives them a token."""
    try:
        data = StaffCreate.model_validate({"name": name, "email": email, "role": role})
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0])
        raise typer.BadParameter(exc.errors()[0]["msg"], param_hint=f"--{field}") from None
    with unit_of_work(get_engine(get_settings().database_url)) as session:
        member = staff.create_staff(data, session=session)
        summary = f"Staff member {member.id} ({member.role}): {member.name} <{member.email}>"
    typer.echo(summary)


@staff_cli.command("set-password")
def staff_set_password(
    email: Annotated[str, typer.Argument(help="The staff member's address.")],
) -> None:
    """Set a staff member's console password (read from stdin, or asked for twice on a
    terminal); their console sessions end."""
    if sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        with unit_of_work(get_engine(get_settings().database_url)) as session:
            member = console_sign_in.set_password(email, password, session=session)
            name = member.name
    except DomainError as exc:
        typer.echo(f"Error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Password set for {name}.")


@staff_cli.command("login-link")
def staff_login_link(
    email: Annotated[str, typer.Argument(help="The staff member's address.")],
) -> None:
    """Print a one-time sign-in link to the console (one use, SPORTELLO_CONSOLE_LINK_MINUTES)."""
    settings = get_settings()
    try:
        with unit_of_work(get_engine(settings.database_url)) as session:
            token = console_sign_in.issue_link(
                email, session=session, now=utcnow(), minutes=settings.console_link_minutes
            )
    except DomainError as exc:
        typer.echo(f"Error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{settings.public_url.rstrip('/')}/console/link/{token}")


@staff_cli.command("list")
def staff_list() -> None:
    """List staff members."""
    with unit_of_work(get_engine(get_settings().database_url), read_only=True) as session:
        rows = [
            (m.id, m.role, m.name, m.email or "-", "active" if m.active else "inactive")
            for m in staff.list_staff(session=session)
        ]
    if not rows:
        typer.echo("No staff yet. Add one: sportello staff create --name N --email E --role R")
        return
    typer.echo("id\trole\tname\temail\tstate")
    for row in rows:
        typer.echo("\t".join(str(value) for value in row))


@token_cli.command("create")
def token_create(
    staff_email: Annotated[
        str | None,
        typer.Option("--staff", help="The staff member's address: the token takes their role."),
    ] = None,
    role: Annotated[
        str | None,
        typer.Option(help="Without --staff: admin, agent, viewer, or feed (the feed only)."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Without --staff: who or what uses it.")] = None,
) -> None:
    """Issue a token and print it (the last word of the output); it is shown only once."""
    if staff_email is None and (role is None or name is None):
        raise typer.BadParameter("give --staff EMAIL, or --role and --name", param_hint="--staff")
    if role is not None and role not in ROLE_RANK:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLE_RANK)}", param_hint="--role")
    with unit_of_work(get_engine(get_settings().database_url)) as session:
        if staff_email is not None:
            member = staff.staff_by_email(staff_email, session=session)
            assert member.id is not None
            token, clear = auth.create_staff_token(member.id, session=session, now=utcnow())
        else:
            assert role is not None and name is not None
            try:
                token, clear = auth.create_token(
                    session=session, name=name, role=role, now=utcnow()
                )
            except ValueError as exc:
                raise typer.BadParameter(str(exc), param_hint="--role") from None
        summary = f"Token {token.id} ({token.role}) for {token.name}: {clear}"
    typer.echo(summary)


@token_cli.command("list")
def token_list() -> None:
    """List tokens (never their secret)."""
    with unit_of_work(get_engine(get_settings().database_url), read_only=True) as session:
        rows = [
            (
                token.id,
                token.role,
                token.name,
                f"{token.created_at:%Y-%m-%d %H:%M}Z",
                f"revoked {token.revoked_at:%Y-%m-%d %H:%M}Z" if token.revoked_at else "active",
            )
            for token in auth.list_tokens(session=session)
        ]
    if not rows:
        typer.echo("No tokens yet. Create one: sportello token create --staff EMAIL")
        return
    typer.echo("id\trole\tname\tcreated\tstate")
    for row in rows:
        typer.echo("\t".join(str(value) for value in row))


@token_cli.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="The token's id.")]) -> None:
    """Revoke a token; requests with it get 401 from now on."""
    with unit_of_work(get_engine(get_settings().database_url)) as session:
        auth.revoke_token(token_id, session=session, now=utcnow())
    typer.echo(f"Token {token_id} revoked.")


@cli.command()
def backup(
    path: Annotated[Path, typer.Argument(help="Where the copy goes (replaced if it exists).")],
) -> None:
    """Copy the SQLite database to PATH, consistently, while the server runs."""
    from app import backups

    try:
        copy = backups.backup(get_settings().database_url, path)
    except backups.BackupProblem as exc:
        _fail(str(exc), code=1)
    typer.echo(
        f"Backed up {copy.tickets} tickets (schema {copy.revision}) to {copy.path}. Keep it "
        "with the secret keys (SPORTELLO_SECRET_KEYS or its key file): its mailbox passwords "
        "open only with them."
    )


@cli.command()
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
        _fail(str(exc), code=1)
    typer.echo(
        f"Restored {copy.tickets} tickets (schema {copy.revision}) into {copy.path}; "
        "`sportello serve` migrates it if it is older."
    )


@secrets_cli.command("rotate")
def secrets_rotate() -> None:
    """Seal every stored secret again with the first of SPORTELLO_SECRET_KEYS; then the
    other keys can be dropped."""
    _setup_logging()
    ring = _use_keys()
    engine = get_engine(get_settings().database_url)
    try:
        with engine.begin() as connection:
            count = sealing.rotate(connection, ring)
    except sealing.KeyProblem as exc:
        _fail(str(exc))
    typer.echo(f"Sealed {count} stored secrets with the first key.")


@secrets_cli.command("new-key")
def secrets_new_key() -> None:
    """Print a new key for SPORTELLO_SECRET_KEYS (put it first, then rotate)."""
    from cryptography.fernet import Fernet

    typer.echo(Fernet.generate_key().decode())


def main() -> None:
    """Entry point of the `sportello` script: domain errors are messages, not tracebacks."""
    try:
        cli()
    except DomainError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise SystemExit(1) from None
