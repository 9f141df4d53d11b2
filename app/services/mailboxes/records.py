"""IMAP mailboxes as data (R6): what the API records, and the reading state the poller
(app.runners.mailbox_poller) keeps in each row: its lease, where it stopped, its health.

Everything here is database work in the caller's unit of work; the IMAP conversation itself is
the poller's. A failing mailbox raises one staff alert per run of failures, not one per poll.
"""

from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, update
from sqlmodel import Session, col, select

from app import sealing
from app.enums import AfterStore, EventType, MailboxSecurity, MailboxState
from app.errors import Conflict, NotFound, Unprocessable, field_error
from app.models.base import table_of, utcnow
from app.models.mailbox import Mailbox, MailboxCreate, MailboxHealth, MailboxRead, MailboxUpdate
from app.services.knobs import MailKnobs
from app.services.notifications import notify
from app.services.webhooks import events

_MAILBOX = table_of(Mailbox)
MAX_BACKOFF = timedelta(hours=1)


def get_mailbox(mailbox_id: int, *, session: Session) -> Mailbox:
    """The mailbox, or NotFound."""
    mailbox = session.get(Mailbox, mailbox_id)
    if mailbox is None:
        raise NotFound(f"No mailbox with id {mailbox_id}.")
    return mailbox


def health_of(mailbox: Mailbox) -> MailboxHealth:
    """How reading the mailbox goes, from its row."""
    if not mailbox.enabled:
        state = MailboxState.DISABLED
    elif mailbox.failing_since is not None:
        state = MailboxState.FAILING
    elif mailbox.last_success_at is None:
        state = MailboxState.WAITING
    else:
        state = MailboxState.OK
    return MailboxHealth(
        state=state,
        last_success_at=mailbox.last_success_at,
        last_error=mailbox.last_error,
        last_error_at=mailbox.last_error_at,
        failing_since=mailbox.failing_since,
        failures=mailbox.failures,
        next_attempt_at=mailbox.next_attempt_at if mailbox.failing_since else None,
        messages_stored=mailbox.messages_stored,
        messages_left=mailbox.messages_left,
    )


def read_mailbox(mailbox: Mailbox) -> MailboxRead:
    """The API view of a mailbox: never its password."""
    fields = {name: value for name, value in dict(mailbox).items() if name != "password"}
    return MailboxRead.model_validate({**fields, "health": health_of(mailbox)})


def list_mailboxes(*, session: Session) -> list[Mailbox]:
    """Every mailbox, by name."""
    return list(session.exec(select(Mailbox).order_by(col(Mailbox.name))))


def _unique_name(name: str, mailbox_id: int | None, *, session: Session) -> None:
    query = select(Mailbox.id).where(Mailbox.name == name)
    if mailbox_id is not None:
        query = query.where(Mailbox.id != mailbox_id)
    if session.exec(query).first() is not None:
        raise Conflict(
            f"A mailbox named {name!r} exists already.",
            errors=[field_error("name", "name already used")],
        )


def _can_seal() -> None:
    """Passwords are stored sealed (GDPR art. 32): without a key, none is stored."""
    if not sealing.keyring().ready:
        raise Conflict(f"A mailbox password cannot be stored: {sealing.NO_KEY}.")


def create_mailbox(data: MailboxCreate, *, session: Session) -> Mailbox:
    """Record a mailbox to read; names are unique."""
    _can_seal()
    _unique_name(data.name, None, session=session)
    mailbox = Mailbox(
        **data.model_dump(exclude={"password"}), password=data.password.get_secret_value()
    )
    session.add(mailbox)
    session.flush()
    return mailbox


def update_mailbox(mailbox_id: int, data: MailboxUpdate, *, session: Session) -> Mailbox:
    """Change a mailbox; a reader picks the change up at its next step, and a failing one is
    tried again at once (a new password, say)."""
    mailbox = get_mailbox(mailbox_id, session=session)
    if data.password is not None:
        _can_seal()
    # null leaves a field as it is, except move_to, which null clears.
    changes = {
        field: value
        for field, value in data.model_dump(exclude_unset=True, exclude={"password"}).items()
        if value is not None or field == "move_to"
    }
    if "name" in changes:
        _unique_name(changes["name"], mailbox_id, session=session)
    for field, value in changes.items():
        setattr(mailbox, field, value)
    if data.password is not None:
        mailbox.password = data.password.get_secret_value()
    try:
        MailboxUpdate.check(mailbox)
    except ValueError as exc:
        raise Unprocessable(str(exc), errors=[field_error("body", str(exc))]) from exc
    if changes.keys() & {"host", "folder", "username"}:
        # Another folder: its UIDs are another sequence (duplicates are still found by
        # Message-ID, so reading it from the start stores nothing twice).
        mailbox.uidvalidity, mailbox.last_uid = None, 0
    mailbox.revision += 1
    mailbox.next_attempt_at = None
    mailbox.updated_at = utcnow()
    session.add(mailbox)
    session.flush()
    return mailbox


# The poller's side: leases, progress, health.


@dataclass
class Reading:
    """What a reader needs of a mailbox, read under its lease; the reader moves `last_uid`
    on as it goes."""

    id: int
    name: str
    host: str
    port: int
    security: MailboxSecurity
    username: str
    password: str
    folder: str
    after_store: AfterStore
    move_to: str | None
    poll_seconds: int
    uidvalidity: int | None
    last_uid: int
    revision: int


def _reading(mailbox: Mailbox) -> Reading:
    """A reader's copy of the row: each of Reading's fields, read from the column of its name."""
    assert mailbox.id is not None
    return Reading(**{field.name: getattr(mailbox, field.name) for field in fields(Reading)})


def _free(now: datetime, owner: str) -> ColumnElement[bool]:
    # Free, or leased by this very poller with no reader on it (one that ended while the
    # database was away could not give its lease back).
    return or_(
        _MAILBOX.c.lease_until.is_(None),
        _MAILBOX.c.lease_until < now,
        _MAILBOX.c.lease_owner == owner,
    )


def claim_due(
    *, session: Session, owner: str, now: datetime, lease: timedelta, busy: set[int]
) -> list[Reading]:
    """Take the lease of every enabled mailbox that is due and that no reader holds (a reader
    that died frees its mailboxes when its lease ends; `busy`: this poller's own readers)."""
    due = (
        session.connection()
        .scalars(
            select(_MAILBOX.c.id)
            .where(
                _MAILBOX.c.enabled.is_(True),
                or_(_MAILBOX.c.next_attempt_at.is_(None), _MAILBOX.c.next_attempt_at <= now),
                _free(now, owner),
            )
            .order_by(_MAILBOX.c.id)
        )
        .all()
    )
    claimed = []
    for mailbox_id in due:
        if mailbox_id in busy:
            continue
        taken = session.connection().execute(
            update(_MAILBOX)
            .where(_MAILBOX.c.id == mailbox_id, _free(now, owner))
            .values(lease_owner=owner, lease_until=now + lease)
        )
        if taken.rowcount == 1:
            claimed.append(_reading(get_mailbox(mailbox_id, session=session)))
    return claimed


def renew(
    mailbox_id: int, *, session: Session, owner: str, now: datetime, lease: timedelta
) -> int | None:
    """Extend the lease; the mailbox's revision (a change to compare), or None when the lease
    was lost or the mailbox disabled: the reader must stop."""
    kept = session.connection().execute(
        update(_MAILBOX)
        .where(
            _MAILBOX.c.id == mailbox_id,
            _MAILBOX.c.lease_owner == owner,
            _MAILBOX.c.enabled.is_(True),
        )
        .values(lease_until=now + lease)
    )
    if kept.rowcount != 1:
        return None
    return session.exec(select(Mailbox.revision).where(Mailbox.id == mailbox_id)).one()


def release(mailbox_id: int, *, session: Session, owner: str) -> None:
    """Give the lease back (another reader may take the mailbox at once)."""
    session.connection().execute(
        update(_MAILBOX)
        .where(_MAILBOX.c.id == mailbox_id, _MAILBOX.c.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
    )


def record_progress(
    mailbox_id: int,
    *,
    session: Session,
    owner: str,
    revision: int,
    now: datetime,
    uidvalidity: int,
    last_uid: int,
    stored: int = 0,
    left: int = 0,
) -> None:
    """Reading went well up to `last_uid`: remember it, and that the mailbox is healthy.
    Nothing is remembered if the mailbox changed meanwhile (another folder, say): the reader
    stops at its next step and a new one starts from what the change left."""
    session.connection().execute(
        update(_MAILBOX)
        .where(
            _MAILBOX.c.id == mailbox_id,
            _MAILBOX.c.lease_owner == owner,
            _MAILBOX.c.revision == revision,
        )
        .values(
            uidvalidity=uidvalidity,
            last_uid=last_uid,
            messages_stored=_MAILBOX.c.messages_stored + stored,
            messages_left=_MAILBOX.c.messages_left + left,
            last_success_at=now,
            failing_since=None,
            failures=0,
            next_attempt_at=None,
        )
    )


def record_failure(
    mailbox_id: int,
    error: str,
    *,
    session: Session,
    owner: str,
    now: datetime,
    mail: MailKnobs,
) -> None:
    """Reading failed: say why on its health, try again with backoff (from its poll interval
    up to an hour), free the lease, and alert staff once for the whole run of failures."""
    mailbox = get_mailbox(mailbox_id, session=session)
    failures = mailbox.failures + 1
    first = mailbox.failing_since is None
    mailbox.failures = failures
    mailbox.last_error, mailbox.last_error_at = error[:1000], now
    mailbox.failing_since = mailbox.failing_since or now
    backoff = timedelta(seconds=mailbox.poll_seconds * 2 ** min(failures - 1, 12))
    mailbox.next_attempt_at = now + min(backoff, MAX_BACKOFF)
    if mailbox.lease_owner == owner:
        mailbox.lease_owner, mailbox.lease_until = None, None
    session.add(mailbox)
    session.flush()
    if first:
        notify.alert_staff(
            "mailbox_failing",
            session=session,
            mail=mail,
            at=now,
            dedup_key=f"mailbox:{mailbox_id}:failing:{int(now.timestamp())}",
            mailbox=mailbox.name,
            server=f"{mailbox.host}:{mailbox.port}",
            error=mailbox.last_error,
            mailbox_id=mailbox_id,
        )
        events.publish(
            EventType.MAILBOX_FAILING,
            session=session,
            at=now,
            cause=f"mailbox:{mailbox_id}:failing:{int(now.timestamp())}",
            data=lambda: {"mailbox_id": mailbox_id, "name": mailbox.name, "error": error[:1000]},
        )


def report_left(
    mailbox_id: int,
    *,
    session: Session,
    mail: MailKnobs,
    now: datetime,
    uidvalidity: int,
    uid: int,
    reason: str,
    sender: str | None,
    subject: str | None,
) -> None:
    """A message that cannot be stored (over the size limit, unreadable) stays in the mailbox:
    staff are told, once per message."""
    mailbox = get_mailbox(mailbox_id, session=session)
    notify.alert_staff(
        "mailbox_message_left",
        session=session,
        mail=mail,
        at=now,
        dedup_key=f"mailbox:{mailbox_id}:left:{uidvalidity}:{uid}",
        mailbox=mailbox.name,
        folder=mailbox.folder,
        uid=uid,
        reason=reason,
        sender=sender,
        subject=subject,
    )
