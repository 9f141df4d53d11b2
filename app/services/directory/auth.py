"""API tokens: issued once in clear, stored as SHA-256, checked in constant time."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from pydantic import SecretStr
from sqlmodel import Session, col, select

from app.enums import ROLE_RANK, Role
from app.errors import NotFound, Unauthorized
from app.models.api_token import ApiToken

TOKEN_PREFIX = "spt_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's name and role."""

    name: str
    role: Role
    token_id: int | None = None

    def can(self, role: Role) -> bool:
        """True when this principal's role includes `role` (admin > agent > viewer)."""
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(*, session: Session, name: str, role: str, now: datetime) -> tuple[ApiToken, str]:
    """Issue a token; the clear text is returned once and never stored."""
    if role not in set(Role):
        raise ValueError(f"role must be one of {', '.join(Role)}")
    clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        role=Role(role),
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
    token = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(clear))).first()
    if token is None or token.revoked_at is not None:
        raise Unauthorized(
            "The bearer token is unknown or revoked.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return Principal(name=token.name, role=token.role, token_id=token.id)


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
