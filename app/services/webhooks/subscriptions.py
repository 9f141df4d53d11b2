"""Webhook subscriptions: made, changed, removed by admins; their secrets made and rotated here.

A secret is `whsec_` and 32 random bytes in base64, the form every Standard Webhooks library
takes; it is shown once, when it is made. Rotating keeps the old one signing next to the new
one for an overlap, so that receivers can switch without losing a delivery.
"""

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlmodel import Session, col

from app import sealing
from app.enums import OutboxChannel, OutboxState
from app.errors import Conflict, NotFound
from app.models.base import table_of
from app.models.outbox import Outbox, OutboxAttempt
from app.models.webhook import (
    RotateIn,
    WebhookCreate,
    WebhookCreated,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookDeliveryPage,
    WebhookRead,
    WebhookSecret,
    WebhookSubscription,
    WebhookUpdate,
)

SECRET_PREFIX = "whsec_"
_OUTBOX = table_of(Outbox)


def new_secret() -> str:
    """A signing secret: `whsec_` and 32 random bytes in base64 (stored sealed: without a key
    to seal it with, none is made)."""
    if not sealing.keyring().ready:
        raise Conflict(f"A webhook secret cannot be stored: {sealing.NO_KEY}.")
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def read(subscription: WebhookSubscription) -> WebhookRead:
    """What the API shows of a subscription (never its secrets)."""
    return WebhookRead.model_validate(subscription, from_attributes=True)


def create(data: WebhookCreate, *, session: Session, now: datetime) -> WebhookCreated:
    """Record a subscription; its secret is in the answer, and never again."""
    subscription = WebhookSubscription(
        url=data.url,
        events=[str(e) for e in data.events],
        description=data.description,
        enabled=data.enabled,
        secret=new_secret(),
        created_at=now,
        updated_at=now,
    )
    session.add(subscription)
    session.flush()
    return WebhookCreated(**read(subscription).model_dump(), secret=subscription.secret)


def get(subscription_id: int, *, session: Session) -> WebhookSubscription:
    """The subscription, or 404."""
    subscription = session.get(WebhookSubscription, subscription_id)
    if subscription is None:
        raise NotFound(f"No webhook subscription with id {subscription_id}.")
    return subscription


def list_all(*, session: Session) -> list[WebhookSubscription]:
    """Every subscription, oldest first."""
    return list(session.scalars(select(WebhookSubscription).order_by(col(WebhookSubscription.id))))


def update_subscription(
    subscription_id: int, data: WebhookUpdate, *, session: Session, now: datetime
) -> WebhookSubscription:
    """Change what was given; enabling clears why it was disabled."""
    subscription = get(subscription_id, session=session)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "events" in changes:
        changes["events"] = [str(e) for e in changes["events"]]
    for name, value in changes.items():
        setattr(subscription, name, value)
    if data.enabled:
        subscription.disabled_reason = None
    subscription.updated_at = now
    session.add(subscription)
    session.flush()
    return subscription


def delete(subscription_id: int, *, session: Session) -> None:
    """Remove a subscription and its deliveries."""
    subscription = get(subscription_id, session=session)
    session.connection().execute(
        _OUTBOX.delete().where(_OUTBOX.c.subscription_id == subscription_id)
    )
    session.delete(subscription)
    session.flush()


def rotate(
    subscription_id: int, data: RotateIn, *, session: Session, now: datetime
) -> WebhookSecret:
    """A new secret, shown once; the current one keeps signing for the overlap."""
    subscription = get(subscription_id, session=session)
    until = now + timedelta(hours=data.overlap_hours)
    subscription.previous_secret = subscription.secret if data.overlap_hours > 0 else None
    subscription.previous_secret_until = until if data.overlap_hours > 0 else None
    subscription.secret = new_secret()
    subscription.updated_at = now
    session.add(subscription)
    session.flush()
    return WebhookSecret(
        id=subscription_id,
        secret=subscription.secret,
        previous_secret_until=subscription.previous_secret_until,
    )


@dataclass(frozen=True)
class Target:
    """Where a delivery goes now and the secrets that sign it."""

    url: str
    secrets: tuple[str, ...]


def target_of(subscription_id: int, *, session: Session, now: datetime) -> Target | None:
    """The subscription's URL and signing secrets at `now`; None once it is gone or disabled.

    During a rotation's overlap both secrets sign: receivers holding either one verify.
    """
    row = session.connection().execute(_TARGET, {"id": subscription_id}).first()
    if row is None or not row.enabled:
        return None
    signing = [row.secret]
    until = row.previous_secret_until
    if row.previous_secret and until is not None and now < until:
        signing.append(row.previous_secret)
    return Target(row.url, tuple(signing))


_SUBSCRIPTIONS = table_of(WebhookSubscription)
_TARGET = select(
    _SUBSCRIPTIONS.c.url,
    _SUBSCRIPTIONS.c.enabled,
    _SUBSCRIPTIONS.c.secret,
    _SUBSCRIPTIONS.c.previous_secret,
    _SUBSCRIPTIONS.c.previous_secret_until,
).where(_SUBSCRIPTIONS.c.id == bindparam("id"))


def disable_gone(subscription_id: int, *, session: Session, now: datetime) -> bool:
    """The receiver answered 410 Gone: disable the subscription and cancel what waits for it.

    True only for the call that disabled it, so that staff are told once.
    """
    disabled = session.connection().execute(
        update(_SUBSCRIPTIONS)
        .where(_SUBSCRIPTIONS.c.id == subscription_id, _SUBSCRIPTIONS.c.enabled.is_(True))
        .values(enabled=False, disabled_reason="the receiver answered 410 Gone", updated_at=now)
    )
    if disabled.rowcount != 1:
        return False
    session.connection().execute(
        update(_OUTBOX)
        .where(
            _OUTBOX.c.subscription_id == subscription_id,
            _OUTBOX.c.state == OutboxState.PENDING,
        )
        .values(state=OutboxState.CANCELLED, last_error="the subscription was disabled (410 Gone)")
    )
    return True


def deliveries(
    subscription_id: int, *, session: Session, limit: int, cursor: int | None
) -> WebhookDeliveryPage:
    """A subscription's deliveries newest first, each with every attempt."""
    get(subscription_id, session=session)
    query = (
        select(Outbox)
        .where(col(Outbox.subscription_id) == subscription_id)
        .order_by(col(Outbox.id).desc())
        .limit(limit + 1)
    )
    if cursor is not None:
        query = query.where(col(Outbox.id) < cursor)
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    attempts = _attempts_of([row.id for row in rows if row.id is not None], session=session)
    return WebhookDeliveryPage(
        items=[_delivery(row, attempts.get(row.id or 0, [])) for row in rows],
        next_cursor=rows[-1].id if more and rows else None,
    )


def redeliver(
    subscription_id: int, delivery_id: int, *, session: Session, now: datetime
) -> WebhookDelivery:
    """Send one delivery again now, with the same `webhook-id`; a pending one: 409."""
    subscription = get(subscription_id, session=session)
    row = session.get(Outbox, delivery_id, with_for_update=True)
    if row is None or row.subscription_id != subscription_id:
        raise NotFound(f"No delivery {delivery_id} for webhook subscription {subscription_id}.")
    if row.state == OutboxState.PENDING:
        raise Conflict(f"WebhookDelivery {delivery_id} is pending already.", state=row.state)
    if not subscription.enabled:
        raise Conflict(f"Webhook subscription {subscription_id} is disabled; enable it first.")
    if row.payload is None and row.facts is None:  # services.retention removed them
        raise Conflict(
            f"What WebhookDelivery {delivery_id} said was removed after the retention period."
        )
    row.state, row.available_at = OutboxState.PENDING, now
    row.lease_until, row.leased_by = None, None
    session.add(row)
    session.flush()
    return _delivery(row, _attempts_of([delivery_id], session=session).get(delivery_id, []))


def _attempts_of(ids: list[int], *, session: Session) -> dict[int, list[WebhookDeliveryAttempt]]:
    """Every attempt at these deliveries, oldest first, by delivery."""
    attempts: dict[int, list[WebhookDeliveryAttempt]] = {}
    if not ids:
        return attempts
    tried = session.scalars(
        select(OutboxAttempt)
        .where(col(OutboxAttempt.outbox_id).in_(ids))
        .order_by(col(OutboxAttempt.id))
    )
    for attempt in tried:
        attempts.setdefault(attempt.outbox_id, []).append(
            WebhookDeliveryAttempt.model_validate(attempt, from_attributes=True)
        )
    return attempts


def _delivery(row: Outbox, attempts: list[WebhookDeliveryAttempt]) -> WebhookDelivery:
    assert row.id is not None and row.channel == OutboxChannel.EVENT
    return WebhookDelivery(
        id=row.id,
        event_id=(row.facts or {}).get("id", ""),
        type=row.kind,  # type: ignore[arg-type]  # an event type (events.publish)
        ticket_id=row.ticket_id,
        state=row.state,
        last_error=row.last_error,
        created_at=row.created_at,
        sent_at=row.sent_at,
        attempts=attempts,
    )
