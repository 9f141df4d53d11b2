"""API tokens: issued once in clear, stored as SHA-256, checked in constant time."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from pydantic import SecretStr
from sqlmodel import Session, col, select

from app.enums import ROLE_RANK, Role
from app.errors import Conflict, NotFound, Unauthorized, Unprocessable, field_error
from app.models.api_token import ApiToken, TokenCreate
from app.models.staff import Me, StaffMember, StaffRead
from app.services.directory import staff

TOKEN_PREFIX = "spt_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the staff member behind a token (their name, the role they have now),
    a feed token, or the bootstrap admin token from the settings."""

    name: str
    role: Role
    token_id: int | None = None
    staff_id: int | None = None

    def can(self, role: Role) -> bool:
        """True when this principal's role includes `role` (admin > agent > viewer)."""
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(*, session: Session, name: str, role: str, now: datetime) -> tuple[ApiToken, str]:
    """Issue a token by name and role (the older form): a feed token stands alone; any other
    belongs to the staff member of that name without an address, made now if there is none.
    The clear text is returned once and never stored."""
    if role not in set(Role):
        raise ValueError(f"role must be one of {', '.join(Role)}")
    if role == Role.FEED:
        return _issue(session=session, name=name, role=Role.FEED, staff_id=None, now=now)
    member = staff.staff_named(name, role=Role(role), session=session)
    if ROLE_RANK[Role(role)] > ROLE_RANK[member.role]:
        raise ValueError(
            f"{name} is a staff member with the role {member.role}; "
            "change their role first (PATCH /api/v1/staff/{id})"
        )
    return _issue(session=session, name=member.name, role=Role(role), staff_id=member.id, now=now)


def create_staff_token(staff_id: int, *, session: Session, now: datetime) -> tuple[ApiToken, str]:
    """Issue a token to a staff member, with their name and role; shown once, never stored."""
    member = staff.get_staff(staff_id, session=session)
    if not member.active:
        raise Conflict(f"{member.name} is inactive: their tokens would be refused.")
    return _issue(session=session, name=member.name, role=member.role, staff_id=member.id, now=now)


def create_feed_token(name: str, *, session: Session, now: datetime) -> tuple[ApiToken, str]:
    """Issue a token that reads the deadline feed only (a calendar app, not a person)."""
    return _issue(session=session, name=name, role=Role.FEED, staff_id=None, now=now)


def _issue(
    *, session: Session, name: str, role: Role, staff_id: int | None, now: datetime
) -> tuple[ApiToken, str]:
    clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name[:100],
        role=role,
        staff_id=staff_id,
        token_hash=hash_token(clear),
        prefix=clear[: len(TOKEN_PREFIX) + 6],
        created_at=now,
    )
    session.add(token)
    session.flush()
    return token, clear


def bootstrap_admin(clear: str, *, admin_token: SecretStr | None) -> Principal | None:
    """The bootstrap admin when `clear` is the configured admin token (compared in constant
    time), else None; no database involved."""
    if (
        admin_token is not None
        and admin_token.get_secret_value()
        and hmac.compare_digest(clear.encode(), admin_token.get_secret_value().encode())
    ):
        return Principal(name="bootstrap-admin", role=Role.ADMIN)
    return None


def authenticate(clear: str, *, session: Session, admin_token: SecretStr | None) -> Principal:
    """The principal behind a bearer token, or Unauthorized."""
    admin = bootstrap_admin(clear, admin_token=admin_token)
    if admin is not None:
        return admin
    # The lookup is by hash: the comparison an attacker could time is on a digest
    # of their own input, which reveals nothing about stored tokens.
    found = session.exec(
        select(ApiToken, StaffMember)
        .join(StaffMember, col(StaffMember.id) == col(ApiToken.staff_id), isouter=True)
        .where(ApiToken.token_hash == hash_token(clear))
    ).first()
    if found is None or found[0].revoked_at is not None:
        raise Unauthorized(
            "The bearer token is unknown or revoked.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    token, member = found
    if member is None:
        return Principal(name=token.name, role=token.role, token_id=token.id)
    if not member.active:
        raise Unauthorized(
            "The bearer token belongs to an inactive staff member.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    # A staff member's token never does more than they may now (a demotion applies at once).
    role = min(token.role, member.role, key=ROLE_RANK.__getitem__)
    return Principal(name=member.name, role=role, token_id=token.id, staff_id=member.id)


def list_tokens(*, session: Session) -> list[ApiToken]:
    """Every token ever issued, newest first."""
    return list(session.exec(select(ApiToken).order_by(col(ApiToken.id).desc())))


def revoke_token(token_id: int, *, session: Session, now: datetime) -> ApiToken:
    """Revoke a token; revoking twice keeps the first revocation time."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"No token with id {token_id}.")
    if token.revoked_at is None:
        token.revoked_at = now
        session.add(token)
        session.flush()
    return token


def issue_token(data: TokenCreate, *, session: Session, now: datetime) -> tuple[ApiToken, str]:
    """A token for a staff member (their name and role), or a feed token by name."""
    if data.staff_id is not None:
        if data.name is not None or data.role == Role.FEED:
            raise Unprocessable(
                "A staff member's token takes their name and role; give only staff_id.",
                errors=[field_error("staff_id", "alone")],
            )
        try:
            return create_staff_token(data.staff_id, session=session, now=now)
        except NotFound as exc:  # an id in a body that names nothing: the body is wrong
            raise Unprocessable(exc.detail, errors=[field_error("staff_id", "unknown")]) from exc
    if data.role != Role.FEED or not data.name:
        raise Unprocessable(
            "Give staff_id for a person's token, or name and role 'feed' for a feed token.",
            errors=[field_error("staff_id", "missing")],
        )
    return create_feed_token(data.name, session=session, now=now)


def whoami(principal: Principal, *, session: Session) -> Me:
    """The caller: the staff member behind their token, with the role they have now."""
    member = None if principal.staff_id is None else session.get(StaffMember, principal.staff_id)
    return Me(
        name=principal.name,
        role=principal.role,
        staff=None if member is None else StaffRead.model_validate(member, from_attributes=True),
        token_id=principal.token_id,
    )
