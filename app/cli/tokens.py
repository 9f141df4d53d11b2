"""`sportello token`: bearer tokens for the internal API."""

from typing import Annotated

import typer

from app.cli.common import echo_table, group
from app.db import get_engine, unit_of_work
from app.enums import ROLE_RANK
from app.models.base import utcnow
from app.services.directory import auth, staff
from app.settings import get_settings

commands = group("Manage bearer tokens for the internal API.")


@commands.command("create")
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


@commands.command("list")
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
    echo_table(
        ("id", "role", "name", "created", "state"),
        rows,
        empty="No tokens yet. Create one: sportello token create --staff EMAIL",
    )


@commands.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="The token's id.")]) -> None:
    """Revoke a token; requests with it get 401 from now on."""
    with unit_of_work(get_engine(get_settings().database_url)) as session:
        auth.revoke_token(token_id, session=session, now=utcnow())
    typer.echo(f"Token {token_id} revoked.")
