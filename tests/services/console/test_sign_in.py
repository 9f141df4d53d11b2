"""Signing in to the console: passwords, one-time links and sessions, the clock passed in."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from app.enums import Role
from app.errors import NotFound, TooManyRequests, Unauthorized, Unprocessable
from app.models.console import ConsoleSession
from app.models.staff import StaffMember
from app.services.console import sign_in

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
IDLE, ABSOLUTE = timedelta(minutes=30), timedelta(hours=12)
PASSWORD = "correct horse battery staple"


def member(
    session: Session, *, email: str = "marco@agency.example", **fields: object
) -> StaffMember:
    person = StaffMember(name="Marco Bianchi", email=email, role=fields.pop("role", Role.AGENT))
    for name, value in fields.items():
        setattr(person, name, value)
    session.add(person)
    session.flush()
    return person


def test_a_password_is_stored_as_argon2id_and_checked(session: Session) -> None:
    person = member(session)
    sign_in.set_password(person.email or "", PASSWORD, session=session)
    assert person.password_hash is not None and person.password_hash.startswith("$argon2id$")
    assert PASSWORD not in person.password_hash
    assert sign_in.check_password("MARCO@agency.example ", PASSWORD, session=session) is person
    for email, password in (
        ("marco@agency.example", "wrong horse battery staple"),
        ("nobody@agency.example", PASSWORD),
        ("marco@agency.example", ""),
    ):
        with pytest.raises(Unauthorized) as refused:
            sign_in.check_password(email, password, session=session)
        assert refused.value.detail == sign_in.REFUSED  # the same answer, whichever was wrong


@pytest.mark.parametrize("password", ["short", "x" * 1025])
def test_a_password_too_short_or_too_long_is_refused(session: Session, password: str) -> None:
    person = member(session)
    with pytest.raises(Unprocessable):
        sign_in.set_password(person.email or "", password, session=session)


def test_an_inactive_member_or_one_without_a_password_cannot_sign_in(session: Session) -> None:
    person = member(session)
    with pytest.raises(Unauthorized):  # no password yet
        sign_in.check_password(person.email or "", PASSWORD, session=session)
    sign_in.set_password(person.email or "", PASSWORD, session=session)
    person.active = False
    with pytest.raises(Unauthorized):
        sign_in.check_password(person.email or "", PASSWORD, session=session)


def test_a_session_ends_after_its_idle_timeout(session: Session) -> None:
    token = sign_in.open_session(member(session), session=session, now=T0)
    seen = sign_in.signed_in(
        token, session=session, now=T0 + timedelta(minutes=29), idle=IDLE, absolute=ABSOLUTE
    )
    assert seen.principal.name == "Marco Bianchi" and seen.principal.role == Role.AGENT
    # Used at 09:29, so idle from then: still there at 09:58, gone 30 minutes after 09:58.
    later = T0 + timedelta(minutes=58)
    sign_in.signed_in(token, session=session, now=later, idle=IDLE, absolute=ABSOLUTE)
    with pytest.raises(NotFound):
        sign_in.signed_in(token, session=session, now=later + IDLE, idle=IDLE, absolute=ABSOLUTE)
    assert session.exec(select(ConsoleSession)).all() == []  # deleted, not only refused


def test_a_session_ends_after_its_absolute_timeout_however_used(session: Session) -> None:
    token = sign_in.open_session(member(session), session=session, now=T0)
    now = T0
    while now + timedelta(minutes=20) < T0 + ABSOLUTE:
        now += timedelta(minutes=20)
        sign_in.signed_in(token, session=session, now=now, idle=IDLE, absolute=ABSOLUTE)
    with pytest.raises(NotFound):
        sign_in.signed_in(token, session=session, now=T0 + ABSOLUTE, idle=IDLE, absolute=ABSOLUTE)


def test_sign_out_and_deactivation_end_a_session(session: Session) -> None:
    person = member(session)
    token = sign_in.open_session(person, session=session, now=T0)
    other = sign_in.open_session(person, session=session, now=T0)
    sign_in.close_session(token, session=session)
    with pytest.raises(NotFound):
        sign_in.signed_in(token, session=session, now=T0, idle=IDLE, absolute=ABSOLUTE)
    sign_in.signed_in(other, session=session, now=T0, idle=IDLE, absolute=ABSOLUTE)
    person.active = False
    with pytest.raises(NotFound):
        sign_in.signed_in(other, session=session, now=T0, idle=IDLE, absolute=ABSOLUTE)


def test_only_digests_of_tokens_are_stored(session: Session) -> None:
    token = sign_in.open_session(member(session), session=session, now=T0)
    stored = session.exec(select(ConsoleSession)).one()
    assert token not in stored.token_hash and len(stored.token_hash) == 64


def test_a_one_time_link_works_once_and_within_its_minutes(session: Session) -> None:
    person = member(session)
    link = sign_in.issue_link(person.email or "", session=session, now=T0, minutes=15)
    token = sign_in.with_link(link, session=session, now=T0 + timedelta(minutes=14))
    assert sign_in.signed_in(
        token, session=session, now=T0 + timedelta(minutes=14), idle=IDLE, absolute=ABSOLUTE
    )
    with pytest.raises(Unauthorized):
        sign_in.with_link(link, session=session, now=T0 + timedelta(minutes=14))
    late = sign_in.issue_link(person.email or "", session=session, now=T0, minutes=15)
    with pytest.raises(Unauthorized):
        sign_in.with_link(late, session=session, now=T0 + timedelta(minutes=15))
    with pytest.raises(Unauthorized):
        sign_in.with_link("not-a-link", session=session, now=T0)


def test_no_link_for_an_inactive_member(session: Session) -> None:
    person = member(session, active=False)
    with pytest.raises(Unprocessable):
        sign_in.issue_link(person.email or "", session=session, now=T0, minutes=15)


def test_attempts_are_limited_per_address_and_per_account(session: Session) -> None:
    def attempt(client: str, email: str) -> None:
        sign_in.count_attempt(client, email, session=session, now=T0, limit=3, window_seconds=300)

    for n in range(3):
        attempt(f"10.0.0.{n}", "marco@agency.example")  # three addresses, one account
    with pytest.raises(TooManyRequests):
        attempt("10.0.0.9", "Marco@Agency.example")
    for n in range(3):
        attempt("10.0.1.1", f"guess{n}@agency.example")  # one address, three accounts
    with pytest.raises(TooManyRequests):
        attempt("10.0.1.1", "another@agency.example")
    attempt("10.0.2.2", "someone@agency.example")  # others are not held up


def test_the_csrf_token_belongs_to_its_session() -> None:
    assert sign_in.csrf_matches("session-a", sign_in.csrf_token("session-a"))
    assert not sign_in.csrf_matches("session-b", sign_in.csrf_token("session-a"))
    assert not sign_in.csrf_matches("session-a", "")
    assert not sign_in.csrf_matches("session-a", "é" * 500)


def test_a_new_password_ends_every_session_of_its_member(session: Session) -> None:
    person = member(session)
    sign_in.set_password(person.email or "", PASSWORD, session=session)
    token = sign_in.open_session(person, session=session, now=T0)
    sign_in.set_password(person.email or "", "another long passphrase", session=session)
    with pytest.raises(NotFound):
        sign_in.signed_in(token, session=session, now=T0, idle=IDLE, absolute=ABSOLUTE)
