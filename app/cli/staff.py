"""`sportello staff`: the desk's staff members and their console sign-in."""

import sys
from typing import Annotated

import typer
from pydantic import ValidationError

from app.cli.common import echo_table, group
from app.db import get_engine, unit_of_work
from app.errors import DomainError
from app.models.base import utcnow
from app.models.staff import StaffCreate
from app.services.console import sign_in as console_sign_in
from app.services.directory import staff
from app.settings import get_settings

commands = group("Manage the desk's staff members (each holds their own tokens).")


@commands.command("create")
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


@commands.command("set-password")
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


@commands.command("login-link")
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


@commands.command("list")
def staff_list() -> None:
    """List staff members."""
    with unit_of_work(get_engine(get_settings().database_url), read_only=True) as session:
        rows = [
            (m.id, m.role, m.name, m.email or "-", "active" if m.active else "inactive")
            for m in staff.list_staff(session=session)
        ]
    echo_table(
        ("id", "role", "name", "email", "state"),
        rows,
        empty="No staff yet. Add one: sportello staff create --name N --email E --role R",
    )
