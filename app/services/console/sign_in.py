"""Signing in to the staff console: passwords (argon2id), one-time links and server-side
sessions, each token stored as a SHA-256 digest and its clear text given out once.

A session ends when its staff member signs out (the row is deleted), after `idle` without use,
or `absolute` after it began, whatever happens; an inactive member's sessions stop at once.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete
from sqlmodel import Session, col, select

from app.enums import Role
from app.errors import NotFound, Unauthorized, Unprocessable, field_error
from app.models.console import ConsoleSession, SignInLink
from app.models.staff import STAFF_ROLES, StaffMember
from app.services.directory import staff
from app.services.directory.auth import Principal, hash_token
from app.services.intake.contact_form import count_hit

# argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane): tens of milliseconds, and a
# sign-in never costs the process 64 MiB as the library's default profile would. A hash made
# with other parameters still verifies: they are written in it.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@cache
def _nobody() -> str:
    """Verified when no staff member has the address, so that the answer takes as long as for
    one; made on the first such sign-in, not when the process starts."""
    return HASHER.hash(secrets.token_urlsafe(16))


MIN_PASSWORD, MAX_PASSWORD = 12, 1024
TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often
REFUSED = "Wrong address or password, or no access to the console."


@dataclass(frozen=True)
class SignedIn:
    """The staff member behind a console session, as its pages need them."""

    principal: Principal
    language: str
    csrf: str


def set_password(email: str, password: str, *, session: Session) -> StaffMember:
    """Give a staff member a password (argon2id); 12 to 1024 characters."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise Unprocessable(
            f"A password has {MIN_PASSWORD} to {MAX_PASSWORD} characters.",
            errors=[field_error("password", "length")],
        )
    member = staff.staff_by_email(email, session=session)
    member.password_hash = HASHER.hash(password)
    session.add(member)
    # Every session they had ends: a new password is often a response to a leak.
    session.execute(delete(ConsoleSession).where(col(ConsoleSession.staff_id) == member.id))
    session.flush()
    return member


@dataclass(frozen=True)
class Account:
    """What a password is checked against: read in one short unit, verified outside it (an
    argon2id verification takes tens of milliseconds and holds no lock)."""

    staff_id: int | None
    password_hash: str | None
    active: bool


def account_of(email: str, *, session: Session) -> Account:
    """The account an address names; an empty one for an unknown address."""
    address = email.strip().lower()[:320]
    if "\x00" in address:  # no one's address; PostgreSQL would refuse it in a query
        return Account(staff_id=None, password_hash=None, active=False)
    member = session.exec(select(StaffMember).where(StaffMember.email == address)).first()
    if member is None:
        return Account(staff_id=None, password_hash=None, active=False)
    return Account(staff_id=member.id, password_hash=member.password_hash, active=member.active)


def verify(account: Account, password: str) -> int:
    """The staff id of an active account whose password this is, or Unauthorized: the same
    answer, in about the same time, whichever part was wrong."""
    nobody = _nobody()
    stored = account.password_hash or nobody
    try:
        HASHER.verify(stored, password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        raise Unauthorized(REFUSED) from None
    if account.staff_id is None or stored is nobody or not account.active:
        raise Unauthorized(REFUSED)
    return account.staff_id


def check_password(email: str, password: str, *, session: Session) -> StaffMember:
    """The active staff member with this address and password, or Unauthorized."""
    staff_id = verify(account_of(email, session=session), password)
    return staff.get_staff(staff_id, session=session)


def count_attempt(
    client: str, email: str, *, session: Session, now: datetime, limit: int, window_seconds: int
) -> None:
    """Count a sign-in attempt against its address and its account (the contact form's
    database counter), or raise TooManyRequests."""
    account = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:40]
    for key in (f"sign-in:{client}"[:64], f"sign-in-account:{account}"):
        count_hit(key, session=session, now=now, limit=limit, window_seconds=window_seconds)


def issue_link(email: str, *, session: Session, now: datetime, minutes: int) -> str:
    """A one-time sign-in link's token for an active staff member (shown once)."""
    member = staff.staff_by_email(email, session=session)
    if not member.active:
        raise Unprocessable(f"{member.name} is inactive: they cannot sign in.")
    assert member.id is not None
    clear = secrets.token_urlsafe(32)
    session.add(
        SignInLink(
            staff_id=member.id,
            token_hash=hash_token(clear),
            created_at=now,
            expires_at=now + timedelta(minutes=minutes),
        )
    )
    session.flush()
    return clear


def redeem_link(token: str, *, session: Session, now: datetime) -> StaffMember:
    """The active staff member a link signs in, once, before it expires; else Unauthorized."""
    link = session.exec(
        select(SignInLink).where(SignInLink.token_hash == hash_token(token)).with_for_update()
    ).first()
    if link is None or link.used_at is not None or link.expires_at <= now:
        raise Unauthorized("This sign-in link is unknown, used or expired.")
    link.used_at = now
    session.add(link)
    member = session.get(StaffMember, link.staff_id)
    if member is None or not member.active:
        raise Unauthorized("This sign-in link is unknown, used or expired.")
    session.flush()
    return member


class TimedOut(NotFound):
    """A session past its idle or absolute timeout: deleted, and the deletion is to be kept
    although the lookup failed (close_session in a unit of work of its own)."""


def open_session(member: StaffMember, *, session: Session, now: datetime) -> str:
    """A new session for `member`; its token (the cookie's value) is returned once."""
    assert member.id is not None
    clear = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            staff_id=member.id, token_hash=hash_token(clear), created_at=now, last_seen_at=now
        )
    )
    session.flush()
    return clear


def signed_in(
    token: str,
    *,
    session: Session,
    now: datetime,
    idle: timedelta,
    absolute: timedelta,
    renew: bool = True,
) -> SignedIn:
    """The staff member behind a session token, renewing its idle time unless `renew` is false
    (a page refreshing itself is not someone at the desk); NotFound when there is no such
    session, it has timed out (then it is deleted) or its member is inactive."""
    found = session.exec(
        select(ConsoleSession, StaffMember)
        .join(StaffMember, col(StaffMember.id) == col(ConsoleSession.staff_id))
        .where(ConsoleSession.token_hash == hash_token(token))
    ).first()
    if found is None:
        raise NotFound("No such session.")
    record, member = found
    if now - record.last_seen_at >= idle or now - record.created_at >= absolute:
        session.delete(record)
        session.flush()
        raise TimedOut("The session has timed out.")
    if not member.active or member.role not in STAFF_ROLES:
        raise NotFound("The session's staff member cannot sign in.")
    if renew and now - record.last_seen_at >= TOUCH_EVERY:
        record.last_seen_at = now
        session.add(record)
        session.flush()
    assert member.id is not None
    return SignedIn(
        principal=Principal(name=member.name, role=Role(member.role), staff_id=member.id),
        language=member.language if member.language in ("it", "en") else "it",
        csrf=csrf_token(token),
    )


def close_session(token: str, *, session: Session) -> None:
    """Sign out: the session's row is deleted (its cookie then names nothing)."""
    session.execute(
        delete(ConsoleSession).where(col(ConsoleSession.token_hash) == hash_token(token))
    )


def csrf_token(session_token: str) -> str:
    """The session's CSRF token: derived from its (HttpOnly) cookie, so only pages served to
    that session hold it."""
    return hmac.new(session_token.encode(), b"sportello-console-csrf", hashlib.sha256).hexdigest()


def csrf_matches(session_token: str, given: str) -> bool:
    """True when `given` is the session's CSRF token (compared in constant time)."""
    return hmac.compare_digest(csrf_token(session_token).encode(), given.encode()[:128])


def with_verified(staff_id: int, *, session: Session, now: datetime) -> str:
    """A new session for a staff member whose password was just verified, if still active."""
    member = staff.get_staff(staff_id, session=session)
    if not member.active:
        raise Unauthorized(REFUSED)
    return open_session(member, session=session, now=now)


def with_link(token: str, *, session: Session, now: datetime) -> str:
    """Sign in with a one-time link: a new session's token, or Unauthorized."""
    member = redeem_link(token, session=session, now=now)
    return open_session(member, session=session, now=now)
